"""Stickiness by client address (ip_hash, consistent_hash), from inside the lb host.

ip_hash keys on the first three octets of an IPv4 client and consistent_hash on the whole
address: 20 clients bound to 127.0.N.1 are 20 different clients to both, while 20 clients of
one /24 (127.0.77.N) are one client to ip_hash and 20 to consistent_hash. Behind a trusted
proxy, X-Forwarded-For decides the client address; from anywhere else a forged header must
not move anyone.
"""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, brief, trusts, wait_until_back_in_service

pytestmark = pytest.mark.usefixtures("address_hash_strategy")

CLIENTS, REQUESTS = 20, 5


def test_20_source_networks_each_stay_on_one_server(lb: sc.Target, new_clients: Any, probe: Any) -> None:
    report = probe(lb, new_clients(CLIENTS, ip_sources=True), REQUESTS)
    assert report["requests"] == CLIENTS * REQUESTS, brief(report)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == CLIENTS, brief(report)
    assert report["clients_with_counts_1_to_n"] == CLIENTS, brief(report)
    assert report["clients_with_local_visits_1_to_n"] == CLIENTS, brief(report)
    assert len(report["servers_reached"]) >= 2, brief(report)
    assert report["sticky_cookie_values"] == [], "an address-hash deployment set a sticky cookie"


def test_one_24_network_is_one_client_to_ip_hash_and_many_to_consistent_hash(
        lb: sc.Target, probe: Any, deployment: dict[str, Any]) -> None:
    clients = [sc.Client(number, f"127.0.77.{number}", deployment["cookie_name"]) for number in range(1, CLIENTS + 1)]
    report = probe(lb, clients, REQUESTS)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == CLIENTS, brief(report)
    if deployment["strategy"] == "ip_hash":
        assert len(report["servers_reached"]) == 1, f"one /24 reached {report['servers_reached']} under ip_hash"
    else:
        assert len(report["servers_reached"]) >= 2, (
            f"20 addresses of one /24 all reached {report['servers_reached']}: consistent_hash keyed on less "
            "than the whole address")


def test_a_client_whose_backend_stops_is_answered_elsewhere_and_returns_to_it(
        lb: sc.Target, instances: Instances, nginx_rest: NginxRest, deployment: dict[str, Any],
        backends: dict[str, dict[str, Any]]) -> None:
    """While its backend is stopped the client is answered by another one, without an error; once
    the health checker has put the backend back (and nginx no longer rests it), the client
    returns to it. Where the instances run on this host."""
    nginx_rest.wait()
    client = sc.Client(1, "127.0.88.1", deployment["cookie_name"])
    home = client.send(lb).server_id
    assert home in backends, home
    with instances.stopped(home):
        away = [client.send(lb) for _ in range(REQUESTS)]
    wait_until_back_in_service(backends[home], deployment, nginx_rest)
    back = [client.send(lb) for _ in range(REQUESTS)]
    assert [answer for answer in away if not answer.ok] == [], away
    assert home not in {answer.server_id for answer in away}, away
    assert {answer.server_id for answer in back} == {home}, f"home {home}, after its return: {back}"


def test_clients_behind_a_trusted_proxy_spread_and_stick(lb: sc.Target, new_clients: Any, probe: Any,
                                                         deployment: dict[str, Any]) -> None:
    if not trusts(deployment["trusted_proxies"], "127.0.0.1"):
        pytest.skip("this host (127.0.0.1) is not a trusted proxy of the deployment")
    report = probe(lb, new_clients(CLIENTS, forwarded_for_prefix="10.77"), REQUESTS)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == CLIENTS, brief(report)
    assert len(report["servers_reached"]) >= 2, (
        f"20 claimed /24s reached {report['servers_reached']}: X-Forwarded-For was not believed")


def test_spoofed_forwarded_for_headers_move_nobody(lb: sc.Target, new_clients: Any, probe: Any,
                                                   deployment: dict[str, Any]) -> None:
    sources = [f"127.0.{number}.1" for number in range(1, CLIENTS + 1)]
    if any(trusts(deployment["trusted_proxies"], source) for source in sources):
        pytest.skip("the deployment trusts 127.0.N.1 as proxies: their headers are believed")
    honest = new_clients(CLIENTS, ip_sources=True)
    probe(lb, honest, 1)
    spoofing = new_clients(CLIENTS, ip_sources=True, spoof_forwarded_for=True)
    report = probe(lb, spoofing, REQUESTS)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == CLIENTS, brief(report)
    moved = {client.source_address: (before.first_server(), client.servers())
             for before, client in zip(honest, spoofing) if set(client.servers()) != {before.first_server()}}
    assert moved == {}, f"a forged X-Forwarded-For moved these sources: {moved}"

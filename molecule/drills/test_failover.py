"""Cookie stickiness through failure, on a host that runs the lb and every app instance.

What HAProxy, Traefik and NGINX Plus users expect of cookie stickiness, with nginx 1.22: a
client whose server stops is re-pinned once and never flips back; no request fails while a
backend is down; forged cookies get a fresh valid pin; a draining backend takes no new clients
but keeps its own, a down one's clients move to the pool; a POST is never delivered twice,
whether its backend refused it or held it.

Each drill restores what it changed (conftest.Instances); drills that need every backend in
nginx's pool first wait out nginx's rest of a backend an earlier drill stopped (NginxRest,
derived from fail_timeout_seconds).
"""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, brief, forged_values, pool_names, wait_until

pytestmark = pytest.mark.usefixtures("cookie_strategy")

# How long a thawed instance may take to serve the request it held (a bound, not a wait).
THAW_SECONDS = 10.0


def pin_new_client(lb: sc.Target, new_clients: Any) -> tuple[sc.Client, sc.Answer]:
    client = new_clients(1)[0]
    answer = client.send(lb)
    assert answer.ok and answer.server_id and answer.sticky_cookie_set, answer
    return client, answer


def client_pinned_to(backend: dict[str, Any], deployment: dict[str, Any]) -> sc.Client:
    """A client whose sticky cookie pins it to `backend`, as nginx set it earlier."""
    return sc.Client(1, sticky_name=deployment["cookie_name"],
                     cookies={deployment["cookie_name"]: backend["cookie"]})


def follow(client: sc.Client) -> sc.Client:
    """The same user (the same cookie jar) with a fresh list of answers, for one phase."""
    return sc.Client(client.number, sticky_name=client.sticky_name, cookies=client.cookies)


def test_a_client_is_re_pinned_once_when_its_server_stops_and_never_flips_back(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        backends: dict[str, dict[str, Any]], deployment: dict[str, Any]) -> None:
    nginx_rest.wait()
    client, pin = pin_new_client(lb, new_clients)
    pinned, pinned_cookie = pin.server_id, pin.sticky_cookie_set
    outage = follow(client)
    with instances.stopped(pinned):
        sc.send_rounds(lb, [outage], 50, 120)
    during = sc.summarise([outage], 50)
    new_server = during["servers_reached"][0] if during["servers_reached"] else None
    assert during["failed"] == 0, brief(during)
    assert during["per_client"][0]["distinct_servers"] == 1, during["per_client"][0]["servers"]
    assert new_server != pinned
    assert new_server in pool_names(deployment), f"re-pinned to {new_server}, outside the pool"
    assert during["sticky_cookie_sets_per_client"] == [1], brief(during)
    assert during["sticky_cookie_values"][0] != pinned_cookie
    assert during["sticky_cookie_values"] == [backends[new_server]["cookie"]], brief(during)
    assert during["per_client"][0]["visit_counts"] == list(range(2, 52)), "the session was lost"

    # Back at once, while nginx still rests the old server, and again once it no longer does.
    recovered = follow(client)
    sc.send_rounds(lb, [recovered], 10, 120)
    nginx_rest.wait()
    sc.send_rounds(lb, [recovered], 5, 120)
    after = sc.summarise([recovered], 15)
    assert after["failed"] == 0, brief(after)
    assert after["servers_reached"] == [new_server], f"pinned to {pinned}, then {new_server}, then {after}"
    assert after["sticky_cookie_sets_per_client"] == [0], brief(after)


def test_no_request_fails_while_a_backend_is_down(lb: sc.Target, new_clients: Any, probe: Any,
                                                  instances: Instances, nginx_rest: NginxRest,
                                                  deployment: dict[str, Any]) -> None:
    nginx_rest.wait()
    victim = pool_names(deployment)[0]
    with instances.stopped(victim):
        report = probe(lb, new_clients(20), 10)
    assert report["requests"] == 200, brief(report)
    assert report["server_errors"] == 0, brief(report)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == 20, brief(report)
    assert victim not in report["servers_reached"], brief(report)


def test_forged_and_junk_sticky_cookies_get_a_fresh_valid_pin(
        lb: sc.Target, probe: Any, deployment: dict[str, Any], backends: dict[str, dict[str, Any]]) -> None:
    values = forged_values([backend["cookie"] for backend in deployment["backends"]])
    clients = [sc.Client(number, sticky_name=deployment["cookie_name"], preset_cookie=value)
               for number, value in enumerate(values, start=1)]
    # One request each: the pin itself is what is checked here.
    report = probe(lb, clients, 1)
    assert report["clients"] == len(values) >= 15
    assert report["failed"] == 0, brief(report)
    assert report["sticky_cookie_sets_per_client"] == [1] * len(values), brief(report)
    for client in clients:
        answer = client.answers[0]
        assert answer.sticky_cookie_set == backends[answer.server_id]["cookie"], (client.preset_cookie, answer)
    assert report["clients_with_preset_cookie_echoed"] == 0, [c.preset_cookie for c in clients if c.echoed_preset]


def test_new_clients_avoid_a_draining_backend_and_its_pinned_clients_stay(
        lb: sc.Target, new_clients: Any, probe: Any, nginx_rest: NginxRest, deployment: dict[str, Any],
        backends: dict[str, dict[str, Any]]) -> None:
    if not deployment["drain"]:
        pytest.skip("no backend drains in this deployment")
    nginx_rest.wait()
    newcomers = probe(lb, new_clients(30), 2)
    assert newcomers["failed"] == 0, brief(newcomers)
    assert newcomers["servers_reached"], brief(newcomers)
    assert not set(deployment["drain"]) & set(newcomers["servers_reached"]), brief(newcomers)
    for name in deployment["drain"]:
        pinned = client_pinned_to(backends[name], deployment)
        report = probe(lb, [pinned], 5)
        assert report["failed"] == 0, brief(report)
        assert report["per_client"][0]["servers"] == [name] * 5, report["per_client"][0]["servers"]
        assert report["sticky_cookie_sets_per_client"] == [0], brief(report)


def test_clients_pinned_to_a_down_backend_are_re_pinned_once_without_an_error(
        lb: sc.Target, probe: Any, deployment: dict[str, Any], backends: dict[str, dict[str, Any]]) -> None:
    """A backend taken out with nginx_lb_down: its pinned clients' next request is answered by
    the pool and re-pins them there, for good; none reaches the down backend."""
    if not deployment["down"]:
        pytest.skip("no backend is down in this deployment")
    for name in deployment["down"]:
        pinned = client_pinned_to(backends[name], deployment)
        report = probe(lb, [pinned], 5)
        servers = report["per_client"][0]["servers"]
        assert report["failed"] == 0, brief(report)
        assert len(servers) == 5 and len(set(servers)) == 1, servers
        assert servers[0] in pool_names(deployment), f"{name}'s client went to {servers[0]}, outside the pool"
        assert report["sticky_cookie_values"] == [backends[servers[0]]["cookie"]], brief(report)
        assert report["sticky_cookie_sets_per_client"] == [1], brief(report)


def test_a_post_refused_by_its_stopped_server_is_answered_once_elsewhere(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        deliveries: Any) -> None:
    """nginx may move a POST only when the pinned backend refused the connection: nothing was
    delivered there. The sum of every instance's visits counts deliveries."""
    nginx_rest.wait()
    client, pin = pin_new_client(lb, new_clients)
    before = deliveries()
    with instances.stopped(pin.server_id):
        post = client.send(lb.at(lb.path, "POST"))
        after = deliveries()
    assert post.ok, post
    assert post.server_id != pin.server_id
    assert post.sticky_cookie_set is not None, "the client was not re-pinned"
    assert after == before + 1, f"deliveries {before} -> {after}"


def test_a_post_held_by_a_frozen_server_gets_504_and_runs_at_most_once(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        deliveries: Any, deployment: dict[str, Any]) -> None:
    """A frozen instance (SIGSTOP) accepts the connection in the kernel and holds the request:
    it has reached a backend. nginx waits read_timeout_seconds, then answers 504 rather than
    send the POST to a second backend. Thawed, the instance serves it once, or not at all: when
    the request came on a kept-alive connection, gunicorn may close that connection unread, its
    keep-alive timeout having expired while it was frozen."""
    nginx_rest.wait()
    client, pin = pin_new_client(lb, new_clients)
    client.timeout = float(deployment["read_timeout_seconds"]) + 10
    before = deliveries()
    with instances.frozen(pin.server_id):
        post = client.send(lb.at(lb.path, "POST"))
    served_after_thaw = wait_until(lambda: deliveries() > before, THAW_SECONDS)
    after = deliveries()
    print(f"the thawed instance {'served' if served_after_thaw else 'dropped'} the held POST")
    assert post.status == 504, post
    assert after - before <= 1, f"deliveries {before} -> {after}: the POST ran twice"

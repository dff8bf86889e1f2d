"""Cookie stickiness as a user sees it: 30 new clients x 5 requests, each with its own jar.

Every client stays on one server with its visits counted 1..5 there; together they reach every
server of the pool; nginx sets the sticky cookie once per client, scoped and hidden as it
should be, and its value names the backend that answered without giving the backend away.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sticky_clients as sc
from conftest import brief, unkeyed_digests

pytestmark = pytest.mark.usefixtures("cookie_strategy")

CLIENTS, REQUESTS = 30, 5


@pytest.fixture(scope="module")
def clients(lb: sc.Target, new_clients: Any) -> list[sc.Client]:
    population = new_clients(CLIENTS)
    sc.send_rounds(lb, population, REQUESTS, 120)
    return population


@pytest.fixture(scope="module")
def report(clients: list[sc.Client]) -> dict[str, Any]:
    return sc.summarise(clients, REQUESTS)


def test_every_new_client_stays_on_one_server_with_visits_counted_1_to_5(report: dict[str, Any]) -> None:
    assert report["requests"] == CLIENTS * REQUESTS, brief(report)
    assert report["failed"] == 0, brief(report)
    assert report["sticky_clients"] == CLIENTS, brief(report)
    assert report["clients_with_counts_1_to_n"] == CLIENTS, brief(report)
    assert report["clients_with_local_visits_1_to_n"] == CLIENTS, brief(report)
    assert report["clients_seeing_one_server"] == CLIENTS, brief(report)


def test_new_clients_spread_over_every_server_of_the_pool(report: dict[str, Any], pool: list[str]) -> None:
    assert report["servers_reached"] == pool, (
        f"reached {report['servers_reached']}, spread {report['new_sessions_per_server']}")


def test_the_sticky_cookie_is_set_once_per_client(report: dict[str, Any]) -> None:
    assert report["sticky_cookie_sets_per_client"] == [1] * CLIENTS, report["sticky_cookie_sets_per_client"]
    assert report["sticky_set_cookie_headers"], "no Set-Cookie of the sticky cookie at all"


def test_the_sticky_cookie_is_scoped_to_the_site_hidden_from_scripts_and_secure_over_https(
        clients: list[sc.Client], deployment: dict[str, Any]) -> None:
    headers = [header for client in clients for header in client.sticky_set_cookie_headers]
    assert headers
    for header in headers:
        assert "; Path=/;" in header, header
        assert re.search(r"; HttpOnly(;|$)", header), header
        assert re.search(r"; SameSite=Lax(;|$)", header), header
        assert bool(re.search(r"; Secure(;|$)", header)) == deployment["tls"], (
            f"Set-Cookie: {header} (HTTPS: {deployment['tls']})")


def test_the_sticky_cookie_names_the_backend_that_answered(clients: list[sc.Client],
                                                           backends: dict[str, dict[str, Any]]) -> None:
    """The value is this deployment's value for exactly the backend that answered: nginx can
    route by it, and it differs from every other backend's."""
    values = [backend["cookie"] for backend in backends.values()]
    assert len(set(values)) == len(values), f"backends share cookie values: {values}"
    pins = [(answer.server_id, answer.sticky_cookie_set) for client in clients for answer in client.answers
            if answer.sticky_cookie_set]
    assert pins
    for server, value in pins:
        assert re.fullmatch(r"[0-9a-f]{16}", value), value
        assert server in backends, f"{server} is not a backend of this deployment"
        assert value == backends[server]["cookie"], f"{server} answered but the cookie names {value}"


def test_the_sticky_cookie_gives_no_backend_away(report: dict[str, Any],
                                                 backends: dict[str, dict[str, Any]]) -> None:
    """Not an unkeyed digest of anything public about a backend (id, name, address, port):
    only the secret maps a value to a backend."""
    assert report["sticky_cookie_values"]
    for backend in backends.values():
        assert backend["cookie"] not in unkeyed_digests(backend), (
            f"{backend['name']}'s cookie is a plain digest of its own facts")

"""The strategies that do not stick (round_robin, least_conn): every request is balanced anew,
over every backend of the pool, in proportion to the backends' weights, and none fails; while a
backend is stopped the others answer, without an error. Under least_conn, a backend holding an
open connection gets no new request while the others hold none.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, pool_names, wait_until_back_in_service

# Requests sent one after the other: 8 rounds of the pool's total weight.
ROUNDS = 8
# How far a backend's share may stray from its weight's share (percentage points).
TOLERANCE = 0.10


@pytest.fixture(autouse=True)
def balancing_strategy(deployment: dict[str, Any]) -> None:
    if deployment["strategy"] not in ("round_robin", "least_conn"):
        pytest.skip(f"the deployment runs {deployment['strategy']}, which sticks")


def test_requests_spread_over_the_pool_by_weight_and_none_fails(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any], nginx_rest: NginxRest) -> None:
    nginx_rest.wait()
    pool = pool_names(deployment)
    weights = {backend["name"]: int(backend["weight"]) for backend in deployment["backends"]
               if backend["name"] in pool}
    client = new_clients(1)[0]  # one client: no cookie ever pins it
    answers = [client.send(lb) for _ in range(ROUNDS * sum(weights.values()))]
    failed = [answer for answer in answers if not answer.ok]
    served = Counter(answer.server_id for answer in answers)
    assert failed == [], failed[:3]
    assert client.sticky_cookies_set() == [], "a non-sticky strategy set the sticky cookie"
    assert set(served) == set(pool), f"reached {dict(served)}, pool {pool}"
    for name, weight in weights.items():
        share, wanted = served[name] / len(answers), weight / sum(weights.values())
        assert abs(share - wanted) <= TOLERANCE, f"{name}: {share:.0%} of requests, weight says {wanted:.0%}: {dict(served)}"


def test_while_a_backend_is_stopped_the_others_answer_without_an_error(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any], nginx_rest: NginxRest,
        instances: Instances, backends: dict[str, dict[str, Any]]) -> None:
    """Where the instances run on this host. The drill ends with the backend back in service."""
    nginx_rest.wait()
    pool = pool_names(deployment)
    stopped = pool[-1]
    client = new_clients(1)[0]
    with instances.stopped(stopped):
        answers = [client.send(lb) for _ in range(ROUNDS * len(pool))]
    wait_until_back_in_service(backends[stopped], deployment, nginx_rest)
    served = Counter(answer.server_id for answer in answers)
    assert [answer for answer in answers if not answer.ok] == [], [a for a in answers if not a.ok][:3]
    assert set(served) == set(pool) - {stopped}, f"{stopped} stopped; reached {dict(served)}, pool {pool}"


def test_least_conn_passes_over_a_backend_that_holds_an_open_websocket(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any], nginx_rest: NginxRest) -> None:
    """nginx counts the WebSocket as an open connection to its backend (shared by the workers
    through the upstream's zone): every request sent meanwhile, one at a time, goes to the other
    backends. Under round_robin that backend would get its share."""
    if deployment["strategy"] != "least_conn":
        pytest.skip(f"the deployment runs {deployment['strategy']}, not least_conn")
    nginx_rest.wait()
    pool = pool_names(deployment)
    client = new_clients(1)[0]
    websocket = client.open_websocket(lb)
    try:
        busy = websocket.receive_json()["server_id"]
        answers = [client.send(lb) for _ in range(ROUNDS * len(pool))]
        assert not websocket.is_cut(wait=0), "the WebSocket closed during the requests"
    finally:
        websocket.close()
    served = Counter(answer.server_id for answer in answers)
    assert [answer for answer in answers if not answer.ok] == []
    assert busy in pool and served[busy] == 0, f"{busy} holds the WebSocket, yet served {dict(served)}"
    assert set(served) == set(pool) - {busy}, f"reached {dict(served)}, pool {pool}"

"""Balancing and failure state shared by every nginx worker (all-in-one host, worker_processes 2+).

Every upstream keeps its round-robin position and its failure counts in one shared memory
zone: new clients in a row reach every backend of the pool in turn, whichever worker takes
them, and a backend one worker saw fail is rested by all of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, access_log_lines, access_log_offset, pool_names, run_systemctl

pytestmark = pytest.mark.usefixtures("cookie_strategy")


@pytest.fixture(autouse=True)
def several_workers(deployment: dict[str, Any]) -> None:
    if str(deployment["worker_processes"]) in ("1", "auto"):
        pytest.skip("needs worker_processes set to 2 or more")


def one_new_client_after_another(lb: sc.Target, new_clients: Any, count: int) -> list[str | None]:
    """`count` new clients, each on a connection of its own: which server answered each."""
    return [client.send(lb).server_id for client in new_clients(count)]


@contextlib.contextmanager
def passive_health_only() -> Iterator[None]:
    """Without the active checker for a moment: what nginx itself learns is all there is."""
    run_systemctl("stop", "stickylab-healthcheck.service")
    try:
        yield
    finally:
        run_systemctl("start", "stickylab-healthcheck.service")


def test_new_clients_in_a_row_reach_every_backend_of_the_pool_in_turn(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any], nginx_rest: NginxRest) -> None:
    nginx_rest.wait()
    pool = pool_names(deployment)
    offset = access_log_offset()
    servers = one_new_client_after_another(lb, new_clients, 4 * len(pool))
    workers = {line["worker"] for line in access_log_lines(offset, len(servers))}
    rounds = [servers[start:start + len(pool)] for start in range(0, len(servers), len(pool))]
    assert all(sorted(each) == pool for each in rounds), f"rounds of {len(pool)} new clients: {rounds}"
    assert len(workers) >= 2, f"one nginx worker ({workers}) took every request: nothing was shared"


def test_a_backend_one_worker_saw_fail_is_rested_by_every_worker(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any], instances: Instances,
        nginx_rest: NginxRest, backends: dict[str, dict[str, Any]]) -> None:
    nginx_rest.wait()
    pool = pool_names(deployment)
    victim = backends[pool[0]]
    with passive_health_only(), instances.stopped(victim["name"]):
        offset = access_log_offset()
        servers = one_new_client_after_another(lb, new_clients, 6 * len(pool))
        lines = access_log_lines(offset, len(servers))
    tried_victim = [line["upstream_addr"] for line in lines if f":{victim['port']}" in line["upstream_addr"]]
    workers = {line["worker"] for line in lines}
    assert None not in servers and victim["name"] not in servers, servers
    assert len(workers) >= 2, f"one nginx worker ({workers}) took every request: nothing was shared"
    assert len(tried_victim) == 1, (
        f"{len(tried_victim)} requests tried the stopped {victim['name']} within fail_timeout "
        f"({tried_victim}): the workers do not share what one of them learnt")

"""No slip right after a backend comes back (the recovery window), on an all-in-one host.

nginx rests a backend that failed for fail_timeout, per upstream. A design where the pinned
backend's own upstream still rests it while the pool already sends new clients there moves
those clients on their second request. Here a client's pinned backend is always tried first:
whenever it answers, it serves the client, old or new, at every moment of the window.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, brief, pool_names

pytestmark = pytest.mark.usefixtures("cookie_strategy")

# New clients start at these fractions of fail_timeout after the backend is back (the issue's
# 0, 2, 5 and 9 s of a 10 s window), 8 clients each, 5 requests per client.
WINDOW_MOMENTS = (0.0, 0.2, 0.5, 0.9)
CLIENTS_PER_MOMENT = 8
REQUESTS_PER_CLIENT = 5


def test_new_clients_stay_on_one_server_at_every_moment_after_a_backend_recovers(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        deployment: dict[str, Any], backends: dict[str, dict[str, Any]]) -> None:
    nginx_rest.wait()
    victim = pool_names(deployment)[0]
    fail_timeout = float(deployment["fail_timeout_seconds"])
    with instances.stopped(victim):
        # New clients meanwhile: the pool tries the stopped backend and rests it.
        probe = new_clients(2 * len(pool_names(deployment)))
        sc.send_rounds(lb, probe, 1, 60)
        assert sc.summarise(probe, 1)["failed"] == 0
    back = time.monotonic()

    # A client holding the recovered backend's cookie is served by it at once.
    holder = new_clients(1, preset_cookie=backends[victim]["cookie"])[0]
    answer = holder.send(lb)
    assert (answer.status, answer.server_id) == (200, victim), answer

    clients: list[sc.Client] = []
    for fraction in WINDOW_MOMENTS:
        while time.monotonic() - back < fraction * fail_timeout:
            time.sleep(0.05)
        batch = new_clients(CLIENTS_PER_MOMENT)
        sc.send_rounds(lb, batch, REQUESTS_PER_CLIENT, 60)
        clients += batch
    report = sc.summarise(clients, REQUESTS_PER_CLIENT)
    slipped = [client["servers"] for client in report["per_client"] if client["distinct_servers"] != 1]
    assert report["failed"] == 0, brief(report)
    assert slipped == [], f"{len(slipped)} of {len(clients)} new clients changed server: {slipped}"
    assert report["sticky_cookie_sets_per_client"] == [1] * len(clients), brief(report)
    assert report["clients_with_local_visits_1_to_n"] == len(clients), brief(report)

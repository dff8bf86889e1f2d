"""A backend that hangs is taken out, not waited on (all-in-one host: the instances are local).

A frozen instance (SIGSTOP: the kernel still accepts connections, nothing answers) looks alive
to nginx until a request times out. stickylab-healthcheck asks every backend's /health each
interval and takes it out of service after `fall` failed checks: its pinned clients go to the
pool (re-pinned once), new clients avoid it; it is put back after `rise` good checks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, checker_healthy, pool_names, wait_until, wait_until_back_in_service

pytestmark = pytest.mark.usefixtures("cookie_strategy")

# The requirement: out of service within 5 s, for every worker.
TAKEN_OUT_WITHIN_SECONDS = 5.0


def test_a_frozen_backend_is_taken_out_within_5_seconds_and_put_back_when_it_answers(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        deployment: dict[str, Any], backends: dict[str, dict[str, Any]]) -> None:
    nginx_rest.wait()
    pool = pool_names(deployment)
    victim = backends[pool[0]]
    read_timeout = float(deployment["read_timeout_seconds"])
    pinned = new_clients(1, preset_cookie=victim["cookie"])[0]
    assert pinned.send(lb).server_id == victim["name"]

    with instances.frozen(victim["name"]):
        frozen_at = time.monotonic()
        assert wait_until(lambda: not checker_healthy(victim["id"]), TAKEN_OUT_WITHIN_SECONDS + 2, every=0.2), (
            f"{victim['name']} still healthy {TAKEN_OUT_WITHIN_SECONDS + 2:.0f} s after it froze")
        taken_out_after = time.monotonic() - frozen_at
        # The checker reloads nginx right after it decides; give the reload a moment.
        time.sleep(0.5)
        moved = pinned.send(lb)
        newcomers = new_clients(2 * len(pool))
        sc.send_rounds(lb, newcomers, 2, 60)
        report = sc.summarise(newcomers, 2)
    print(f"{victim['name']} taken out {taken_out_after:.1f} s after it froze")
    assert taken_out_after <= TAKEN_OUT_WITHIN_SECONDS, f"taken out after {taken_out_after:.1f} s"
    assert moved.ok and moved.server_id != victim["name"] and moved.sticky_cookie_set, moved
    assert moved.latency < read_timeout / 2, f"the pinned client waited {moved.latency:.1f} s"
    assert report["failed"] == 0 and victim["name"] not in report["servers_reached"], report["servers_reached"]
    assert max(answer.latency for client in newcomers for answer in client.answers) < read_timeout / 2

    # Thawed: back in service after `rise` good checks, new clients reach it again.
    wait_until_back_in_service(victim, deployment, nginx_rest)
    later = new_clients(2 * len(pool))
    sc.send_rounds(lb, later, 1, 60)
    assert victim["name"] in sc.summarise(later, 1)["servers_reached"]

"""Two load balancers behind one virtual address (keepalived), judged from the client host.

YAML does the event (nginx stopped on the address's holder, the holder powered off, the old
holder back, an app host frozen) under a steady load and writes what it saw into a pair report
(--pair-report FILE): when it acted, which lb held the address before and after, when keepalived
entered MASTER state on each lb, what each lb's health checker decided. The load's own report
(--report FILE) is checked by test_under_load.py in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# The requirements: the address moves within 3 s; a hung backend is out within 5 s on every lb.
ADDRESS_MOVES_WITHIN_SECONDS = 3.0
TAKEN_OUT_WITHIN_SECONDS = 5.0


def read(request: pytest.FixtureRequest, option: str) -> dict[str, Any]:
    path = request.config.getoption(option)
    if not path:
        pytest.fail(f"{option} FILE is required")
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest) -> dict[str, Any]:
    return read(request, "--pair-report")


@pytest.fixture(scope="module")
def load(request: pytest.FixtureRequest) -> dict[str, Any]:
    return read(request, "--report")


def failure_began_at(pair: dict[str, Any]) -> float:
    """When the holder's failure began: for a stopped nginx, the journal line of systemd's stop
    job ("Stopping nginx.service"); otherwise the time YAML noted just before the event."""
    if pair["event"] != "stop-nginx":
        return float(pair["event_at"])
    stops = [float(line.split()[0]) for line in pair["nginx_journal"] if "Stopping" in line]
    assert stops, f"no 'Stopping' line in nginx's journal on the holder: {pair['nginx_journal']}"
    return stops[-1]


def test_the_virtual_address_moved_within_3_seconds(pair: dict[str, Any], load: dict[str, Any]) -> None:
    before, after = pair["holder_before"], pair["holder_after"]
    assert after and after != before, f"the address did not move: held by {before!r}, then {after!r}"
    began = failure_began_at(pair)
    took_over = [at for at in pair["master_at"].get(after, []) if at >= began - 0.5]
    assert took_over, f"{after} holds the address but logged no MASTER state: {pair}"
    seconds = took_over[0] - began
    print(f"{pair['event']}: the address moved from {before} to {after} in {seconds:.2f} s "
          f"({began - pair['event_at']:.2f} s after YAML noted the event); "
          f"connection retries {load['connection_retries']}, keep-alive retries {load['keepalive_retries']}")
    assert seconds <= ADDRESS_MOVES_WITHIN_SECONDS, f"moved after {seconds:.2f} s: {pair}"
    assert load["re_pinned_clients"] == 0, f"{load['re_pinned_clients']} clients were re-pinned"


def test_the_virtual_address_stayed_where_it_was(pair: dict[str, Any], load: dict[str, Any]) -> None:
    assert pair["holder_after"] == pair["holder_before"], f"a second move: {pair}"
    moved_again = {host: [at for at in times if at >= pair["event_at"] - 0.5]
                   for host, times in pair["master_at"].items()}
    assert not any(moved_again.values()), f"keepalived took the address again: {moved_again}"
    assert load["re_pinned_clients"] == 0, f"{load['re_pinned_clients']} clients were re-pinned"


def test_a_frozen_app_host_is_taken_out_by_every_lb_within_5_seconds(pair: dict[str, Any],
                                                                      load: dict[str, Any]) -> None:
    for lb, state in pair["health"].items():
        for backend in pair["frozen_backends"]:
            seen = state["backends"][backend]
            assert not seen["healthy"], f"{lb} still finds {backend} healthy 12 s after it froze: {seen}"
            seconds = seen["since"] - pair["event_at"]
            print(f"{lb} took {backend} out {seconds:.1f} s after it froze ({seen['last_error']})")
            assert seconds <= TAKEN_OUT_WITHIN_SECONDS, f"{lb}: out after {seconds:.1f} s"
    windows = load.get("latency_windows", {})
    print("latency before, during, after:", json.dumps(windows))
    waits = load["long_waits_per_client"]
    assert max(waits) <= 1, (f"a client waited the read timeout ({pair['read_timeout_seconds']} s) "
                             f"more than once: {waits}")

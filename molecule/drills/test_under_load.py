"""Checks a steady_load.py report written while YAML did something (a rolling update, a
strategy switch, an instance killed, a host stopped): not one request may fail.

    python3 -m pytest /root/drills/test_under_load.py --report /root/load.json --expect-moved yes

--expect-moved all|yes|no|any: whether every client, some, none or any number of them should have
moved to another server (a rolling update moves every client off its host in turn).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPORT_FIELDS = ("requests", "ok", "failed", "statuses", "keepalive_retries", "connection_retries",
                 "moved_clients", "servers_per_client", "latency")


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    path = request.config.getoption("--report")
    if not path:
        pytest.fail("--report FILE is required: the steady load's JSON report to check")
    return json.loads(Path(path).read_text())


def summary(report: dict[str, Any]) -> str:
    keys = ("requests", "seconds", "failed", "statuses", "keepalive_retries", "connection_retries",
            "moved_clients", "failure_times", "errors_sample", "latency", "latency_windows")
    return json.dumps({key: report.get(key) for key in keys}, indent=1)


def test_no_request_failed_under_load(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    print(summary(report))
    assert report["requests"] >= request.config.getoption("--min-requests"), summary(report)
    assert report["failed"] == 0, summary(report)


def test_retries_are_reported_apart_and_every_request_is_counted(report: dict[str, Any]) -> None:
    """A retried request counts once, as ok or failed: none vanishes into a retry."""
    missing = [field for field in REPORT_FIELDS if field not in report]
    assert missing == [], f"the report lacks {missing}"
    assert report["ok"] + report["failed"] == report["requests"], summary(report)
    assert sum(report["statuses"].values()) == report["requests"], summary(report)
    for retries in ("keepalive_retries", "connection_retries"):
        assert isinstance(report[retries], int) and 0 <= report[retries] <= report["requests"], summary(report)


def test_clients_moved_as_the_caller_expects(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    expected = request.config.getoption("--expect-moved")
    if expected == "any":
        pytest.skip("--expect-moved any: moving is neither required nor forbidden")
    moved = report["moved_clients"]
    clients = len(report["servers_per_client"])
    if expected == "all":
        assert moved == clients, f"{moved} of {clients} clients moved: {report['servers_per_client']}"
    elif expected == "yes":
        assert moved > 0, f"no client moved: {report['servers_per_client']}"
    else:
        assert moved == 0, f"{moved} clients moved: {report['servers_per_client']}"

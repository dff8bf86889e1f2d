"""The stickiness probe against a real app instance on loopback (no load balancer needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import load_module

probe = load_module("tools/sticky_probe.py", "sticky_probe")


def run_probe(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert probe.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_clients_keep_their_sessions(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_probe(capsys, app_url, "--clients", "3", "--requests", "4")
    assert report["requests"] == 12
    assert report["failed"] == 0
    assert report["clients_with_counts_1_to_n"] == 3
    assert report["new_sessions_per_server"] == {"server-1": 3}


def test_post_requests_count_as_visits(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_probe(capsys, app_url, "--clients", "1", "--requests", "2", "--method", "POST")
    assert report["ok"] == 2
    assert report["per_client"][0]["local_visits"] == [1, 2]


def test_state_follows_one_client_across_runs(app_url: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "clients.json")
    run_probe(capsys, app_url, "--clients", "2", "--requests", "1", "--state", state)
    report = run_probe(capsys, app_url, "--requests", "2", "--state", state)
    assert [c["visit_counts"] for c in report["per_client"]] == [[2, 3], [2, 3]]


def test_remap_baseline_reports_no_move_on_an_unchanged_pool(
        app_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = str(tmp_path / "baseline.json")
    first = run_probe(capsys, app_url, "--clients", "5", "--requests", "1", "--remap-baseline", baseline)
    assert "remap" not in first
    second = run_probe(capsys, app_url, "--clients", "5", "--requests", "1", "--remap-baseline", baseline)
    assert second["remap"] == {"clients": 5, "moved": 0, "moved_share": 0.0, "moved_to": {}, "moved_from": {}}


def test_remap_counts_clients_that_reach_another_server() -> None:
    clients = [probe.Client(number, None) for number in (1, 2, 3, 4)]
    for client, server in zip(clients, ["server-1", "server-4", "server-3", "server-4"]):
        client.answers.append(probe.Answer(status=200, server_id=server))
    remap = probe.compare_with_baseline(
        clients, {"1": "server-1", "2": "server-2", "3": "server-3", "4": "server-1"})
    assert remap == {"clients": 4, "moved": 2, "moved_share": 0.5,
                     "moved_to": {"server-4": 2}, "moved_from": {"server-1": 1, "server-2": 1}}


def test_a_dead_server_is_counted_as_no_answer(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    report = run_probe(capsys, "http://127.0.0.1:9/", "--clients", "2", "--requests", "1",
                       "--timeout", "2")
    assert report["no_answer"] == 2
    assert report["failed"] == 2


def test_rejects_other_url_schemes() -> None:
    with pytest.raises(SystemExit, match="only http:// and https://"):
        probe.make_target("ftp://127.0.0.1/")


def test_keep_alive_clients_report_retries_and_latency(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_probe(capsys, app_url, "--clients", "2", "--requests", "3", "--keep-alive",
                       "--retry-connection")
    assert report["clients_with_counts_1_to_n"] == 2
    assert (report["keepalive_retries"], report["connection_retries"]) == (0, 0)
    assert report["latency"]["requests"] == 6
    assert [c["re_pins"] for c in report["per_client"]] == [0, 0]

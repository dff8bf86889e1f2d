"""The stickiness report: its verdict, its terminal chart and its exit status."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from conftest import load_module

report_tool = load_module("tools/sticky_report.py", "sticky_report")


def fake_report(servers_per_client: list[list[str]], failed: int = 0) -> dict:
    per_client = [{"servers": servers, "distinct_servers": len(set(servers))}
                  for servers in servers_per_client]
    spread: dict[str, int] = {}
    for servers in servers_per_client:
        spread[servers[0]] = spread.get(servers[0], 0) + 1
    return {
        "clients": len(per_client), "requests_per_client": len(servers_per_client[0]),
        "requests": sum(len(s) for s in servers_per_client), "failed": failed,
        "server_errors": failed, "no_answer": 0, "errors_sample": [],
        "sticky_clients": sum(1 for c in per_client if c["distinct_servers"] == 1),
        "new_sessions_per_server": dict(sorted(spread.items())), "per_client": per_client,
    }


def test_verdict_counts_sticky_and_moved_sessions() -> None:
    report = fake_report([["server-1"] * 3, ["server-2"] * 3, ["server-1", "server-3", "server-3"],
                          ["server-2"] * 3])
    assert report_tool.verdict(report) == {
        "sticky_share": 0.75, "sessions_moved": 1, "requests": 12, "failed": 0,
        "server_errors": 0, "no_answer": 0}


def test_render_draws_one_bar_per_server() -> None:
    console = Console(record=True, width=100, color_system=None)
    report_tool.render(fake_report([["server-1"]] * 3 + [["server-2"]]), "lab", console)
    text = console.export_text()
    assert "4/4 sessions (100%) stayed on one server" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith("server-")}
    assert set(lines) == {"server-1", "server-2"}
    assert "75%" in lines["server-1"] and "25%" in lines["server-2"]
    # The bar of the server with three times the sessions is three times as long (to a block).
    assert abs(lines["server-1"].count("█") - 3 * lines["server-2"].count("█")) <= 3


def test_json_report_against_a_real_instance(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_tool.main([app_url, "--clients", "4", "--requests", "3", "--json",
                             "--fail-under", "1.0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"]["sticky_share"] == 1.0
    assert report["new_sessions_per_server"] == {"server-1": 4}


def test_fail_under_fails_when_requests_fail(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_tool.main(["http://127.0.0.1:9/", "--clients", "1", "--requests", "1",
                             "--fail-under", "0.5"]) == 1
    assert "1 failed requests" in capsys.readouterr().out


def test_min_servers_fails_when_sessions_do_not_spread(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # One instance behind the URL: every session is sticky, but they cannot spread.
    assert report_tool.main([app_url, "--clients", "3", "--requests", "1", "--json",
                             "--fail-under", "1.0", "--min-servers", "2"]) == 1
    assert "fewer than 2" in capsys.readouterr().err

"""The access-log summary (tools/sticky_log.py) counts what nginx's log lines say."""

from __future__ import annotations

import json

from conftest import load_module

sticky_log = load_module("tools/sticky_log.py", "sticky_log")


def line(sticky: str, backend: str, status: int = 200) -> str:
    return json.dumps({"time": "t", "request_id": "r", "sticky": sticky, "backend": backend, "status": status,
                       "upstream_addr": "10.0.0.1:5001"})


def test_decisions_backends_and_statuses_are_counted() -> None:
    lines = [line("new", "app1_5001"), line("hit", "app1_5001"), line("hit", "app1_5001"),
             line("repin", "app2_5001"), line("failed", "", 502), "not json", '{"no": "sticky field"}']
    summary = sticky_log.summarise(sticky_log.parse(lines))
    assert summary["requests"] == 5
    assert summary["sticky"] == {"new": 1, "hit": 2, "repin": 1, "failed": 1, "none": 0}
    assert summary["backends"] == {"-": 1, "app1_5001": 3, "app2_5001": 1}
    assert summary["statuses"] == {"200": 4, "502": 1}
    assert [repin["backend"] for repin in summary["repins"]] == ["app2_5001"]


def test_the_text_summary_names_each_decision_with_its_share() -> None:
    text = sticky_log.render(sticky_log.summarise(sticky_log.parse([line("new", "a"), line("hit", "a")])))
    assert "new 1 (50%)" in text and "hit 1 (50%)" in text and "repin" not in text.splitlines()[1]

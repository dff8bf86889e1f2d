"""How the scenario runner deals scenarios to parallel lanes."""

from __future__ import annotations

from conftest import load_module

runner = load_module("tools/run_scenarios.py", "run_scenarios")


def test_every_scenario_directory_is_found() -> None:
    assert {"default", "failover", "ip_hash", "multihost", "resilience"} <= set(runner.scenarios())


def test_lanes_are_balanced_longest_first() -> None:
    lanes = runner.deal(["default", "failover", "ip_hash", "multihost", "resilience"], 2)
    assert sorted(name for lane in lanes for name in lane) == [
        "default", "failover", "ip_hash", "multihost", "resilience"]
    minutes = [sum(runner.MEASURED_MINUTES[name] for name in lane) for lane in lanes]
    assert max(minutes) - min(minutes) <= max(runner.MEASURED_MINUTES.values())
    assert lanes[0][0] == "multihost"


def test_a_new_scenario_counts_as_five_minutes() -> None:
    assert runner.deal(["brand-new", "ip_hash"], 1) == [["brand-new", "ip_hash"]]

"""How the scenario runner orders its queue."""

from __future__ import annotations

from conftest import load_module

runner = load_module("tools/run_scenarios.py", "run_scenarios")


def test_every_scenario_directory_is_found() -> None:
    assert {"default", "failover", "ip_hash", "multihost", "resilience"} <= set(runner.scenarios())


def test_queue_puts_the_longest_first() -> None:
    assert runner.queue_order(["ip_hash", "default", "multihost", "failover", "resilience"]) == [
        "multihost", "failover", "resilience", "default", "ip_hash"]


def test_a_new_scenario_counts_as_five_minutes() -> None:
    assert runner.queue_order(["ip_hash", "brand-new", "multihost"]) == ["multihost", "brand-new", "ip_hash"]

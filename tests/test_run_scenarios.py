"""The scenario runner: its matrix names real scenarios and releases, and its queue order."""

from __future__ import annotations

import pytest
import yaml

from conftest import PROJECT_DIR, load_module

runner = load_module("tools/run_scenarios.py", "run_scenarios")


def test_every_run_of_the_matrix_is_a_scenario_on_a_release_of_the_lab_host() -> None:
    releases = yaml.safe_load((PROJECT_DIR / "tools" / "lab-host.yml").read_text())["releases"]
    for run in runner.MATRIX:
        scenario, release = runner.parse_run(run, "trixie")
        assert scenario in runner.scenarios(), run
        assert release in releases, run


def test_every_scenario_runs_and_both_releases_run_the_all_in_one_and_a_multi_host_shape() -> None:
    runs = [runner.parse_run(run, "trixie") for run in runner.MATRIX]
    assert {scenario for scenario, _ in runs} == set(runner.scenarios())
    assert {("default", "trixie"), ("pair", "trixie"), ("default", "bookworm"), ("multihost", "bookworm")} <= set(runs)


def test_a_run_without_release_takes_the_default() -> None:
    assert runner.parse_run("pair", "trixie") == ("pair", "trixie")
    assert runner.parse_run("pair@bookworm", "trixie") == ("pair", "bookworm")


def test_queue_puts_the_longest_first_and_a_new_scenario_counts_as_five_minutes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "EXPECTED_MINUTES", {"long": 9.0, "short": 2.0})
    assert runner.queue_order(["short@trixie", "brand-new@trixie", "long@bookworm", "long@trixie"]) == [
        "long@bookworm", "long@trixie", "brand-new@trixie", "short@trixie"]

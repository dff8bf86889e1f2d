"""The benchmark tool: parsing what it measures, the ratios and targets it computes from it, and
the report holding the tables and numbers it was given (made-up data; no lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import PROJECT_DIR, load_module

bench = load_module("tools/bench.py", "bench")
nginx_config = sys.modules["nginx_config"]

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1/
  1 threads and 48 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    20.12ms    5.01ms  80.00ms   90.00%
    Req/Sec     2.40k   200.00     2.80k    70.00%
  Latency Distribution
     50%  850.00us
     75%   22.00ms
     90%   25.00ms
     99%    1.20s
  11950 requests in 5.00s, 3.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 3
Requests/sec:   2390.00
Transfer/sec:    620.00KB
"""

RECAP = """PLAY RECAP *********************************************************************
app1                       : ok=14   changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
app2                       : ok=10   changed=1    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
lb1                        : ok=14   changed=2    unreachable=0    failed=0    skipped=4    rescued=0    ignored=0
"""


def test_parse_wrk_reads_rate_latencies_and_errors() -> None:
    assert bench.parse_wrk(WRK_OUTPUT) == {
        "requests_per_second": 2390.0, "requests": 11950, "p50_ms": 0.85, "p99_ms": 1200.0,
        "non_2xx": 3, "socket_errors": 3}


def test_parse_wrk_without_errors_or_output() -> None:
    clean = "\n".join(line for line in WRK_OUTPUT.splitlines()
                      if "errors" not in line and "Non-2xx" not in line)
    assert bench.parse_wrk(clean)["socket_errors"] == 0
    assert bench.parse_wrk("")["requests_per_second"] == 0.0


def test_recap_totals_sum_changed_and_host_tasks_over_hosts() -> None:
    # changed 0+1+2; host-tasks (14+2) + (10+2) + (14+4).
    assert bench.recap_totals(RECAP) == (3, 46)


def test_noop_summary_takes_the_median_and_sums_changed() -> None:
    runs = [bench.PlaybookRun(9.0, 0, 58), bench.PlaybookRun(7.0, 1, 58), bench.PlaybookRun(7.5, 0, 58)]
    assert bench.noop_summary(runs) == {"runs_seconds": [9.0, 7.0, 7.5], "median_seconds": 7.5,
                                        "changed": 1, "host_tasks_per_run": [58, 58, 58]}
    assert bench.noop_summary([])["median_seconds"] is None


def test_an_even_count_s_median_is_rounded() -> None:
    # statistics.median gives (12.2 + 12.6) / 2 = 12.399999999999999.
    runs = [bench.PlaybookRun(s, 0, 57) for s in [12.2, 12.6, 12.2, 13.4, 13.5, 11.1]]
    assert bench.noop_summary(runs)["median_seconds"] == 12.4


def test_module_parent_is_read_from_the_one_line_output() -> None:
    output = "lb1 | CHANGED | rc=0 | (stdout) /usr/bin/python3(mitogen:root@vm:30245) \n"
    assert bench.parse_module_parent(output) == "/usr/bin/python3(mitogen:root@vm:30245)"
    assert bench.parse_module_parent("lb1 | FAILED | rc=1 | (stdout) ") is None


def test_connection_overlay_names_docker_and_keeps_the_lab_inventory_dir(tmp_path: Path, monkeypatch) -> None:
    """Mitogen only takes over `docker`: the overlay must win over the lab's group_vars for the lab
    hosts, leave inventory_dir (where the lab's secrets are) alone, and not touch localhost."""
    lab = tmp_path / "lab"
    (lab / "group_vars").mkdir(parents=True)
    (lab / "group_vars" / "all.yml").write_text("---\nansible_connection: community.docker.docker\n")
    (lab / "hosts.yml").write_text("---\nall:\n  children:\n    lb:\n      hosts:\n        lb1: {}\n")
    monkeypatch.setattr(bench, "LAB_INVENTORY", str(lab))
    inventories = bench.write_connection_overlay(tmp_path / "overlay")
    options = [option for inventory in inventories for option in ("-i", inventory)]
    result = subprocess.run(
        [str(bench.ANSIBLE_BIN / "ansible"), *options, "lb1,localhost", "--one-line", "-m", "ansible.builtin.debug",
         "-a", "msg={{ inventory_dir | default('') }}:{{ ansible_connection }}"],
        capture_output=True, text=True, cwd=PROJECT_DIR, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"msg": "{lab}:docker"' in result.stdout
    assert ':local"' in result.stdout  # localhost (delegate_to) keeps its own connection
    assert "Unable to parse" not in result.stderr


def test_ratio_of_medians() -> None:
    medians = {"cookie /": {"requests_per_second": 970.0}, "round_robin /": {"requests_per_second": 1000.0}}
    assert bench.ratio(medians, "cookie /", "round_robin /") == 0.97


def medians_of(rates: dict[str, float]) -> dict[str, dict[str, float]]:
    return {name: {"requests_per_second": rate, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
            for name, rate in rates.items()}


def config_row(strategy: str, backends: int, lines: int, **measured: Any) -> dict[str, Any]:
    row = {"backends": backends, "strategy": strategy, "lines": lines, "bytes": lines * 40,
           "render_seconds": 6.5, "nginx_t_seconds": 0.05, "master_rss_kib": 4000}
    return {**row, **measured}


def config_growth_data() -> dict[str, Any]:
    # cookie: 11 lines per added backend on both steps; round_robin: 5 then 5.
    return {"nginx": "1.22.1", "nginx_t_runs": 3, "rows": [
        config_row("cookie", 10, 300), config_row("cookie", 100, 1290),
        config_row("cookie", 1000, 11190, bytes=987_654, render_seconds=12.25, nginx_t_seconds=0.123,
                   master_rss_kib=20_000),
        config_row("round_robin", 10, 150), config_row("round_robin", 100, 600), config_row("round_robin", 1000, 5100),
    ]}


def report_data() -> dict[str, Any]:
    request_rates = {"direct /": 1000.0, "direct /health": 3000.0, "round_robin /": 800.0,
                     "round_robin /health": 2500.0, "cookie /": 790.0, "cookie /health": 2400.0}
    return {
        "command": "tools/bench.py", "machine": "test", "finished": "now", "wall_seconds": 60.0,
        "request_path": {"connections": 48, "seconds": 4, "rounds": 3, "settings": "gthread 2x4, keepalive 64",
                         "medians": medians_of(request_rates)},
        "backend_settings": {"connections": 48, "seconds": 4, "rounds": 3,
                             "settings": [{"label": "gthread 2x4 (shipped)"}, {"label": "sync x2"}],
                             "medians": medians_of({
                                 "gthread 2x4 (shipped): round_robin /": 880.0, "gthread 2x4 (shipped): direct /": 1000.0,
                                 "sync x2: round_robin /": 600.0, "sync x2: direct /": 900.0})},
        "growth": {"rounds": 2, "scales": {"1": {"cold_lab_up_seconds": 50.0, "noop_seconds": 9.0, "noop_changed": 0}},
                   "medians": medians_of({"1 app hosts: round_robin /": 700.0, "1 app hosts: direct /": 750.0})},
        "config_growth": config_growth_data(),
        "deployment": {
            "cold_lab_up_seconds": 91.0,
            "noop_as_shipped": {"runs_seconds": [20.4, 19.8, 20.0], "median_seconds": 20.0, "changed": 0,
                                "host_tasks_per_run": [58, 58, 58], "module_parent_process": "/usr/bin/python3"},
            "noop_mitogen": {"runs_seconds": [7.1, 6.9, 7.0], "median_seconds": 7.0, "changed": 0,
                             "host_tasks_per_run": [58, 58, 58], "mitogen_version": "0.3.54",
                             "module_parent_process": "/usr/bin/python3(mitogen:root@vm:1)", "failure": None,
                             "environment": {}},
            "noop_default_remote_tmp": {"runs_seconds": [21.6, 21.0, 21.2], "median_seconds": 21.2, "changed": 0,
                                        "host_tasks_per_run": [58, 58, 58],
                                        "environment": {"ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp"}},
            "noop_without_pipelining": {"runs_seconds": [31.0], "median_seconds": 31.0, "changed": 0,
                                        "host_tasks_per_run": [58]},
            "switch_to_ip_hash_seconds": 21.5, "switch_back_lb_tag_seconds": 6.25,
        },
    }


def targets_of(data: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {t["target"]: (t["measured"], t["met"]) for t in bench.compute_targets(data)}


def test_targets_compare_measurements_with_their_bounds() -> None:
    assert targets_of(report_data()) == {
        # 790/800 = 0.9875 ≥ 0.97; 800/1000 = 0.8 < 0.85.
        "cookie ≥ 0.97 × round_robin (`/`, same cookies)": ("0.988", True),
        "round_robin ≥ 0.85 × direct (`/`)": ("0.800", False),
        "no-op `site.yml` changed = 0 (as shipped, 3 runs)": ("0", True),
        "no-op host-tasks ≤ 60 (4-host lab, as shipped)": ("58", True),
        "cold lab ≤ 90 s": ("91.0 s", False),
        # At 1000 cookie backends: 20 000 KiB = 20.5 MB; 12.25 + 0.123 s; 11 lines per backend twice.
        "cookie, 1000 backends: nginx.conf ≤ 1 MB": ("987654 bytes", True),
        "cookie, 1000 backends: nginx -t ≤ 0.3 s (median of 3)": ("0.123 s", True),
        "cookie, 1000 backends: nginx master RSS ≤ 64 MB": ("20.5 MB", True),
        "cookie, 1000 backends: render + nginx -t ≤ 20 s": ("12.37 s", True),
        "cookie: nginx.conf lines linear in backends (lines per added backend 100→1000 ÷ 10→100 within 1 ± 0.10)":
            ("1.000 (11.00 → 11.00)", True),
    }


def test_config_targets_fail_beyond_their_bounds() -> None:
    data = report_data()
    cookie_1000 = data["config_growth"]["rows"][2]
    cookie_1000.update(bytes=1_000_001, nginx_t_seconds=0.31, master_rss_kib=62_501, render_seconds=19.8, lines=20190)
    data["deployment"]["noop_as_shipped"]["host_tasks_per_run"] = [58, 61, 58]
    data["deployment"]["noop_as_shipped"]["changed"] = 2
    unmet = {t["target"] for t in bench.compute_targets(data) if not t["met"]}
    assert {"cookie, 1000 backends: nginx.conf ≤ 1 MB", "cookie, 1000 backends: nginx -t ≤ 0.3 s (median of 3)",
            "cookie, 1000 backends: nginx master RSS ≤ 64 MB", "cookie, 1000 backends: render + nginx -t ≤ 20 s",
            "no-op `site.yml` changed = 0 (as shipped, 3 runs)", "no-op host-tasks ≤ 60 (4-host lab, as shipped)"} <= unmet
    assert any(target.startswith("cookie: nginx.conf lines linear") for target in unmet)  # 21 per backend vs 11


def test_lines_per_added_backend_and_linearity() -> None:
    cookie = bench.config_rows(config_growth_data(), "cookie")
    assert bench.lines_per_added_backend(cookie) == {100: 11.0, 1000: 11.0}
    assert bench.linearity(cookie) == 1.0
    # 10 % more lines per backend on the second step is still within the bound; 12 % is not.
    cookie[1000]["lines"] = 1290 + round(900 * 11 * 1.1)
    assert bench.linearity(cookie) == pytest.approx(1.1, abs=0.001)
    cookie[1000]["lines"] = 1290 + round(900 * 11 * 1.12)
    data = {"config_growth": {"nginx_t_runs": 3, "rows": list(cookie.values())}}
    [linear] = [t for t in bench.compute_targets(data) if "linear" in t["target"]]
    assert not linear["met"]


def test_only_targets_measured_in_the_run_are_computed() -> None:
    targets = bench.compute_targets({"config_growth": config_growth_data()})
    assert targets and all(t["target"].startswith("cookie") for t in targets)
    assert bench.compute_targets({}) == []


def test_lb_over_direct_pairs_rows_by_label() -> None:
    medians = report_data()["backend_settings"]["medians"]
    column = bench.lb_over_direct(medians)
    assert column("gthread 2x4 (shipped): round_robin /") == 0.88
    assert column("gthread 2x4 (shipped): direct /") is None


def written_report(tmp_path: Path, data: dict[str, Any]) -> str:
    data["targets"] = bench.compute_targets(data)
    bench.write_report(data, tmp_path / "b.json", tmp_path / "b.md")
    assert json.loads((tmp_path / "b.json").read_text())["targets"] == data["targets"]
    return (tmp_path / "b.md").read_text()


def test_report_holds_every_table_with_the_numbers_given(tmp_path: Path) -> None:
    text = written_report(tmp_path, report_data())
    for heading in ("## Request path", "## Targets", "## Backend settings", "## Growth", "## Config growth",
                    "## Deployment"):
        assert heading in text
    # Request path: rate and both ratio columns.
    assert "| cookie / | 790 | 1.00 | 2.00 | 0 |  |  | 0.988 | 0.790 |" in text
    # Growth: the measured size, and the default lab's row from the other sections.
    assert "| 1 | 50.0 | 9.0 | 700 | 750 | 0.933 |" in text
    assert "| 3 | 91.0 | 20.0 | 800 | 1000 | 0.800 |" in text
    # Config growth: lines per added backend since the size before; render + nginx -t.
    assert "| cookie | 10 | 300 | 12000 |  | 6.50 | 0.050 | 6.55 | 4.1 |" in text
    assert "| cookie | 1000 | 11190 | 987654 | 11.00 | 12.25 | 0.123 | 12.37 | 20.5 |" in text
    assert "| round_robin | 1000 | 5100 | 204000 | 5.00 |" in text
    # Deployment: runs, median, ratio to the as-shipped median, changed, host-tasks, parent process.
    assert "| 20.4, 19.8, 20.0 | 20.0 | 1.000 | 0 | 58 | `/usr/bin/python3` |" in text
    assert "| 7.1, 6.9, 7.0 | 7.0 | 0.350 | 0 | 58 | `/usr/bin/python3(mitogen:root@vm:1)` |" in text
    assert "| Ansible's default remote_tmp | as shipped, but `ANSIBLE_REMOTE_TEMP=~/.ansible/tmp` | 21.6, 21.0, 21.2 | 21.2 | 1.060 | 0 | 58 |" in text
    assert "| 31.0 | 31.0 | 1.550 | 0 | 58 |" in text
    assert "| 21.5 |" in text and "| 6.25 |" in text
    # Targets: a missed one is marked.
    assert "| round_robin ≥ 0.85 × direct (`/`) | 0.800 | **no** |" in text


def test_a_no_op_median_stored_unrounded_is_printed_rounded(tmp_path: Path) -> None:
    data = report_data()
    data["deployment"]["noop_mitogen"]["median_seconds"] = 6.999999999999999
    assert "| 7.1, 6.9, 7.0 | 7.0 | 0.350 |" in written_report(tmp_path, data)


def test_report_marks_a_failed_mitogen_run(tmp_path: Path) -> None:
    data = report_data()
    data["deployment"]["noop_mitogen"].update(runs_seconds=[], median_seconds=None, failure="site.yml failed")
    text = written_report(tmp_path, data)
    [row] = [line for line in text.splitlines() if line.startswith("| Mitogen 0.3.54 |")]
    assert "failed" in row and "0.350" not in row


def test_report_leaves_out_sections_the_run_did_not_measure(tmp_path: Path) -> None:
    data = {"command": "tools/bench.py --only-config-growth", "machine": "test", "finished": "now",
            "wall_seconds": 30.0, "config_growth": config_growth_data()}
    text = written_report(tmp_path, data)
    assert "## Config growth" in text and "## Targets" in text
    for heading in ("## Request path", "## Backend settings", "## Growth", "## Deployment"):
        assert heading not in text


def test_report_shows_nginx_costs_where_they_were_measured(tmp_path: Path) -> None:
    data = report_data()
    settings = data["backend_settings"]["medians"]
    settings["gthread 2x4 (shipped): round_robin /"].update(nginx_us_per_request=52.0, upstream_connects_per_1000=2.0)
    text = written_report(tmp_path, data)
    assert "| gthread 2x4 (shipped): round_robin / | 880 | 1.00 | 2.00 | 0 | 52.0 | 2.0 | 0.880 |" in text
    assert "| sync x2: direct / | 900 | 1.00 | 2.00 | 0 |  |  |  |" in text


def test_only_config_growth_needs_no_lab(tmp_path: Path, monkeypatch) -> None:
    def no_lab(*_: Any, **__: Any) -> None:
        raise AssertionError("--only-config-growth touched the lab")

    monkeypatch.setattr(bench, "config_growth", config_growth_data)
    for lab_function in ("docker_exec", "install_load_tools", "timed_playbook", "lab_up_cold"):
        monkeypatch.setattr(bench, lab_function, no_lab)
    assert bench.main(["--only-config-growth", "--output-dir", str(tmp_path)]) == 0
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| cookie | 1000 | 11190 | 987654 | 11.00 |" in text
    assert "`tools/bench.py --only-config-growth --output-dir" in text
    # --render-only writes the same tables again from the JSON alone.
    (tmp_path / "benchmarks.md").unlink()
    assert bench.main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "benchmarks.md").read_text() == text


def test_measure_reports_the_median_of_the_nginx_t_runs(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "nginx.conf"
    config.write_text("events {}\n" * 4)
    monkeypatch.setattr(nginx_config, "render", lambda directory, count, strategy: (config, 2.5))
    timings = iter([0.5, 0.1, 0.2])
    monkeypatch.setattr(nginx_config, "nginx_test", lambda path: (True, next(timings), ""))
    row = nginx_config.measure(10, "cookie", tmp_path, with_memory=False, nginx_t_runs=3)
    assert row["nginx_t_seconds"] == 0.2 and row["nginx_t_runs_seconds"] == [0.5, 0.1, 0.2]
    assert row["lines"] == 4 and row["render_seconds"] == 2.5


def test_nginx_cost_per_request_leaves_out_the_client_connections() -> None:
    before = {"active_opens": 1000, "nginx_ticks": 500, "ticks_per_second": 100}
    after = {"active_opens": 1000 + 48 + 30, "nginx_ticks": 500 + 60, "ticks_per_second": 100}
    # 0.6 s of nginx CPU over 10000 requests; 30 upstream connections beyond wrk's own 48.
    assert bench.nginx_cost(before, after, requests=10000, client_connections=48) == {
        "nginx_us_per_request": 60.0, "upstream_connects_per_1000": 3.0}
    assert bench.nginx_cost(before, after, requests=0, client_connections=48) == {}


def test_backend_candidates_start_with_the_roles_defaults() -> None:
    candidates = bench.backend_candidates()
    shipped = candidates[0]
    assert shipped["label"].endswith("(shipped)")
    for role, names in bench.SETTINGS_BY_ROLE.items():
        for name in names:
            assert f"\n{name}: {shipped['vars'][name]}\n" in bench.role_defaults(role).read_text()
    others = [c["vars"] for c in candidates[1:]]
    assert shipped["vars"] not in others and len(others) == len({str(c) for c in others})


def test_sync_candidates_run_one_thread() -> None:
    # gunicorn switches a sync worker with threads > 1 to gthread: a sync candidate must say 1.
    for candidate in bench.backend_candidates():
        if candidate["vars"]["flask_app_worker_class"] == "sync":
            assert candidate["vars"]["flask_app_threads"] == 1
            assert candidate["label"].startswith("sync x")


def test_one_instance_comparison_reuses_the_deployed_shape() -> None:
    candidates = bench.backend_candidates()
    shapes = bench.shapes_for_one_instance(candidates, last_deployed=candidates[-1])
    assert shapes[0] is candidates[-1] and shapes[-1] is candidates[0]
    assert bench.shapes_for_one_instance(candidates, last_deployed=candidates[1]) == [candidates[0]]


# --- side by side with an earlier commit -----------------------------------------------------------

def test_busy_cpu_is_every_state_but_idle_and_iowait() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is in user already.
    line = f"cpu  {3 * hz} {hz} {2 * hz} 900000 5000 {hz} {hz} {hz} {7 * hz} {7 * hz}\ncpu0 1 2 3\n"
    assert bench.busy_cpu_seconds(line) == 9.0


def side_runs(seconds: list[float], cpu: list[float], host_tasks: int) -> dict[str, Any]:
    return bench.side_summary([bench.PlaybookRun(s, 0, host_tasks, c) for s, c in zip(seconds, cpu)])


def side_by_side_data(checkout_seconds: list[float]) -> dict[str, Any]:
    return {"baseline": "5da8472 Committed make bench run", "baseline_environment": {"ANSIBLE_STRATEGY": "linear"},
            "checkout": "abc1234 This change", "release": "bookworm",
            "baseline_runs": side_runs([30.0, 34.0, 32.0, 33.0, 31.0, 35.0], [50.0, 54.0, 52.0, 53.0, 51.0, 55.0], 125),
            "checkout_runs": side_runs(checkout_seconds, [26.0, 28.0, 27.0, 26.5, 27.5, 29.0], 54)}


def test_side_by_side_is_reported_with_both_ratios_and_its_target(tmp_path: Path) -> None:
    # Medians: 32.5 s and 52.5 core-s against 16.0 s and 27.25 core-s.
    data = {"command": "tools/bench.py --baseline 5da8472", "machine": "test", "finished": "now", "wall_seconds": 1.0,
            "side_by_side": side_by_side_data([16.0, 15.0, 17.0, 16.0, 18.0, 14.0])}
    text = written_report(tmp_path, data)
    assert "## No-op side by side with `5da8472`" in text
    assert "environment `ANSIBLE_STRATEGY=linear`" in text and "Debian bookworm" in text
    assert "| `5da8472` | 30.0, 34.0, 32.0, 33.0, 31.0, 35.0 | 32.5 | 50.0, 54.0, 52.0, 53.0, 51.0, 55.0 | 52.5 | 0 | 125 |" in text
    assert "| this checkout ÷ `5da8472` | | 0.492 | | 0.519 | | |" in text
    assert targets_of(data) == {"no-op `site.yml` ≤ 0.5 × `5da8472`'s (side by side, medians of 6 and 6)": ("0.492", True)}
    # A median stored unrounded (docs/benchmarks.json holds 12.399999999999999) is printed rounded.
    data["side_by_side"]["checkout_runs"]["median_seconds"] = 15.999999999999998
    assert "| this checkout | 16.0, 15.0, 17.0, 16.0, 18.0, 14.0 | 16.0 |" in written_report(tmp_path, data)
    slower = {"side_by_side": side_by_side_data([17.0, 16.5, 17.0, 16.5, 18.0, 16.0])}
    assert targets_of(slower)["no-op `site.yml` ≤ 0.5 × `5da8472`'s (side by side, medians of 6 and 6)"] == ("0.515", False)


def test_side_by_side_runs_each_lab_in_turn_from_its_own_checkout(monkeypatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(bench, "run", lambda command, **_: (
        events.append(" ".join(command[3:5])) or subprocess.CompletedProcess(command, 0, "5da8472 Old\n", "")))
    monkeypatch.setattr(bench.subprocess, "run", lambda command, **_: events.append(
        " ".join(command[3:5]) if command[0] == "git" else f"{Path(command[1]).name} {command[2]}"))
    monkeypatch.setattr(bench, "make_in", lambda checkout, target: events.append(f"make {target} in worktree"))
    monkeypatch.setattr(bench, "lab_release", lambda: "bookworm")
    monkeypatch.setattr(bench, "lab_up_cold", lambda scale, release=None: events.append(f"our lab on {release}"))
    seconds = iter(range(1, 100))

    def timed_playbook(environment=None, checkout=bench.PROJECT_DIR) -> Any:
        side = "baseline" if checkout != bench.PROJECT_DIR else "checkout"
        assert (environment or {}) == ({"ANSIBLE_STRATEGY": "linear"} if side == "baseline" else {})
        events.append(f"no-op {side}")
        return bench.PlaybookRun(float(next(seconds)), 0, 50, 1.0, hosts=bench.LAB_SCALE + 1)

    monkeypatch.setattr(bench, "timed_playbook", timed_playbook)
    result = bench.side_by_side("5da8472", {"ANSIBLE_STRATEGY": "linear"})
    labs = [e for e in events if not e.startswith("no-op")]
    assert labs == ["worktree add", "log -1", "labctl.py down", "make lab in worktree", "make lab-down in worktree",
                    "our lab on bookworm", "labctl.py down", "make lab in worktree", "make lab-down in worktree",
                    "worktree remove", "worktree prune", "log -1"]
    # Each lab: one warm-up run (not counted), then 3, 6 and 3 counted runs.
    assert [e for e in events if e.startswith("no-op")] == (["no-op baseline"] * 4 + ["no-op checkout"] * 7
                                                            + ["no-op baseline"] * 4)
    assert result["baseline_runs"]["runs_seconds"] == [2.0, 3.0, 4.0, 13.0, 14.0, 15.0]
    assert result["checkout_runs"]["runs_seconds"] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert result["release"] == "bookworm" and result["baseline"] == "5da8472 Old"


@pytest.mark.parametrize("bad_run", [
    bench.PlaybookRun(20.0, 1, 50, 1.0, hosts=bench.LAB_SCALE + 1),  # something changed: not a no-op
    bench.PlaybookRun(20.0, 0, 30, 1.0, hosts=2),  # a lab of another size
    bench.PlaybookFailed("site.yml failed (rc 2, 0 host-tasks)"),
])
def test_side_by_side_stops_on_a_run_that_is_no_no_op_and_cleans_up(monkeypatch, bad_run) -> None:
    events: list[str] = []
    monkeypatch.setattr(bench, "run", lambda command, **_: subprocess.CompletedProcess(command, 0, "5da8472 Old\n", ""))
    monkeypatch.setattr(bench.subprocess, "run", lambda command, **_: events.append(
        f"{command[0]} {command[-1] if command[0] == 'make' else ' '.join(command[3:5])}"))
    monkeypatch.setattr(bench, "make_in", lambda checkout, target: events.append(f"make_in {target}"))
    monkeypatch.setattr(bench, "lab_release", lambda: "bookworm")
    runs = iter([bench.PlaybookRun(30.0, 0, 125, 1.0, hosts=bench.LAB_SCALE + 1), bad_run])

    def timed_playbook(**_: Any) -> Any:
        result = next(runs)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(bench, "timed_playbook", timed_playbook)
    with pytest.raises(bench.SideBySideFailed, match="baseline"):
        bench.side_by_side("5da8472", {})
    # The earlier commit's lab is taken down, its worktree removed and pruned.
    assert events[1:] == ["make_in lab", "make lab-down", "git worktree remove", "git worktree prune"]


def test_a_failed_side_by_side_is_reported_and_the_default_lab_comes_back(tmp_path: Path, monkeypatch) -> None:
    events: list[str] = []

    def failing(*_: Any) -> Any:
        raise bench.SideBySideFailed("make -C /tmp/x lab failed")

    monkeypatch.setattr(bench, "side_by_side", failing)
    monkeypatch.setattr(bench, "lab_up_cold", lambda scale, **_: events.append(f"lab up {scale}"))
    for name in ("install_load_tools", "switch"):
        monkeypatch.setattr(bench, name, lambda *_, **__: None)
    monkeypatch.setattr(bench, "docker_exec", lambda *_: "nginx version: nginx/1.26.3")
    monkeypatch.setattr(bench, "pinned_client_cookies", lambda: [])
    monkeypatch.setattr(bench, "request_path", lambda *_: None)
    arguments = bench.argparse.Namespace(rounds=1, seconds=1, connections=1, skip_settings=True, growth_scales=[],
                                         baseline="5da8472", baseline_env=[], skip_deployment=True)
    sections = bench.lab_sections(arguments, mitogen_dir=None)
    assert sections["side_by_side"] == {"baseline": "5da8472", "failure": "make -C /tmp/x lab failed"}
    assert events == [f"lab up {bench.LAB_SCALE}"]
    data = {"command": "tools/bench.py --baseline 5da8472", "machine": "test", "finished": "now", "wall_seconds": 1.0,
            "side_by_side": sections["side_by_side"]}
    text = written_report(tmp_path, data)
    assert "## No-op side by side with `5da8472`" in text and "Failed: see `side_by_side.failure`" in text
    assert targets_of(data) == {}


def test_timed_playbook_runs_the_checkout_s_own_ansible_and_lab_inventory(monkeypatch, tmp_path: Path) -> None:
    calls: list[tuple[list[str], Path]] = []
    outputs = iter([RECAP, "PLAY RECAP ****\n", RECAP])

    def fake_run(command: list[str], cwd: Path, **_: Any) -> Any:
        calls.append((command, cwd))
        return subprocess.CompletedProcess(command, 0, next(outputs), "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    result = bench.timed_playbook(checkout=tmp_path)
    assert calls[0] == ([str(tmp_path / ".venv/bin/ansible-playbook"), "-i", str(tmp_path / "inventories" / "lab"),
                         "site.yml"], tmp_path)
    assert (result.changed, result.host_tasks, result.hosts) == (3, 46, 3)
    # A run that went through no host is no measurement.
    with pytest.raises(bench.PlaybookFailed, match="0 host-tasks"):
        bench.timed_playbook()
    bench.timed_playbook("--tags", "lb")
    assert calls[2][0][:4] == [str(bench.ANSIBLE_BIN / "ansible-playbook"), "-i", bench.LAB_INVENTORY, "site.yml"]
    assert calls[2][1] == bench.PROJECT_DIR


def test_the_earlier_commit_s_make_gets_the_lab_shape_and_not_this_venv(monkeypatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setenv("PATH", os.pathsep.join([str(bench.ANSIBLE_BIN), "/usr/bin"]))
    monkeypatch.setenv("SCALE", "5")
    monkeypatch.setenv("MAKEFLAGS", "SCALE=5")

    def fake_run(command: list[str], env: dict[str, str], **_: Any) -> Any:
        seen.update(command=command, env=env)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    bench.make_in(Path("/tmp/baseline"), "lab")
    assert seen["command"] == ["make", "-C", "/tmp/baseline", "lab", "STRATEGY=cookie", f"SCALE={bench.LAB_SCALE}", "LBS=1"]
    assert seen["env"]["PATH"] == "/usr/bin" and "SCALE" not in seen["env"] and "MAKEFLAGS" not in seen["env"]

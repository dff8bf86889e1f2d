"""Parsing wrk's report in the benchmark tool."""

from __future__ import annotations

from conftest import load_module

bench = load_module("tools/bench.py", "bench")

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


def test_parse_wrk_reads_rate_latencies_and_errors() -> None:
    assert bench.parse_wrk(WRK_OUTPUT) == {
        "requests_per_second": 2390.0, "requests": 11950, "p50_ms": 0.85, "p99_ms": 1200.0,
        "non_2xx": 3, "socket_errors": 3}


def test_parse_wrk_without_errors_or_output() -> None:
    clean = "\n".join(line for line in WRK_OUTPUT.splitlines()
                      if "errors" not in line and "Non-2xx" not in line)
    assert bench.parse_wrk(clean)["socket_errors"] == 0
    assert bench.parse_wrk("")["requests_per_second"] == 0.0


def test_ratio_of_medians() -> None:
    medians = {"cookie /": {"requests_per_second": 970.0}, "round_robin /": {"requests_per_second": 1000.0}}
    assert bench.ratio(medians, "cookie /", "round_robin /") == 0.97


def medians_of(rates: dict[str, float]) -> dict[str, dict[str, float]]:
    return {name: {"requests_per_second": rate, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
            for name, rate in rates.items()}


def report_data() -> dict:
    request_rates = {"direct /": 1000.0, "direct /health": 3000.0, "round_robin /": 800.0,
                     "round_robin /health": 2500.0, "cookie /": 790.0, "cookie /health": 2400.0}
    return {
        "machine": "test", "finished": "now", "wall_seconds": 60.0,
        "request_path": {"connections": 48, "seconds": 4, "rounds": 3, "medians": medians_of(request_rates)},
        "backend_settings": {"connections": 48, "seconds": 4, "rounds": 3,
                             "settings": [{"label": "gthread 2x4 (shipped)"}, {"label": "sync x2"}],
                             "medians": medians_of({
                                 "gthread 2x4 (shipped): round_robin /": 880.0, "gthread 2x4 (shipped): direct /": 1000.0,
                                 "sync x2: round_robin /": 600.0, "sync x2: direct /": 900.0})},
        "growth": {"rounds": 2, "scales": {"1": {"cold_lab_up_seconds": 50.0, "noop_seconds": 9.0, "noop_changed": 0}},
                   "medians": medians_of({"1 app hosts: round_robin /": 700.0, "1 app hosts: direct /": 750.0})},
        "deployment": {"cold_lab_up_seconds": 91.0, "noop_seconds": 10.0, "noop_changed": 0,
                       "noop_without_mitogen_seconds": 40.0, "noop_without_mitogen_or_pipelining_seconds": 50.0,
                       "switch_to_ip_hash_seconds": 20.0,
                       "switch_back_lb_tag_seconds": 6.0},
    }


def test_targets_compare_measurements_with_the_issue_bounds() -> None:
    met = {t["target"].split(" ")[0]: t["met"] for t in bench.compute_targets(report_data())}
    # cookie 790/800 = 0.9875 ≥ 0.97; lb 800/1000 = 0.8 < 0.85; no-op 10 s ≤ 10; cold 91 s > 90.
    assert met == {"cookie": True, "lb": False, "no-op": True, "cold": False}


def test_lb_over_direct_pairs_rows_by_label() -> None:
    medians = report_data()["backend_settings"]["medians"]
    column = bench.lb_over_direct(medians)
    assert column("gthread 2x4 (shipped): round_robin /") == 0.88
    assert column("gthread 2x4 (shipped): direct /") is None


def test_report_has_every_section_and_the_growth_rows(tmp_path) -> None:
    data = report_data()
    data["targets"] = bench.compute_targets(data)
    data["reading"] = bench.reading(data)
    bench.write_report(data, tmp_path / "b.json", tmp_path / "b.md")
    text = (tmp_path / "b.md").read_text()
    for heading in ("## Request path", "## Targets", "## Backend settings", "## Growth", "## Deployment"):
        assert heading in text
    assert "| 1 | 50.0 | 9.0 | 700 | 750 | 0.933 |" in text
    assert "| 3 | 91.0 | 10.0 | 800 | 1000 | 0.800 |" in text  # the default lab, from the other sections
    assert "ranged from 600 req/s (sync x2) to 880 (gthread 2x4 (shipped)), 32 % apart" in text
    assert "The shipped settings (gthread 2x4) follow" in text
    assert "new connections and" not in text  # no nginx counters in this report


def test_report_shows_nginx_costs_where_they_were_measured(tmp_path) -> None:
    data = report_data()
    settings = data["backend_settings"]["medians"]
    settings["gthread 2x4 (shipped): round_robin /"].update(nginx_us_per_request=52.0, upstream_connects_per_1000=2.0)
    settings["sync x2: round_robin /"].update(nginx_us_per_request=95.0, upstream_connects_per_1000=1000.0)
    data["targets"] = bench.compute_targets(data)
    data["reading"] = bench.reading(data)
    bench.write_report(data, tmp_path / "b.json", tmp_path / "b.md")
    text = (tmp_path / "b.md").read_text()
    assert "| gthread 2x4 (shipped): round_robin / | 880 | 1.00 | 2.00 | 0 | 52.0 | 2.0 | 0.880 |" in text
    assert "| sync x2: direct / | 900 | 1.00 | 2.00 | 0 |  |  |  |" in text
    assert "gthread 2x4 (shipped) 2 new connections and 52 µs; sync x2 1000 new connections and 95 µs" in text
    assert "Counted inside lb1" in text


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


def test_worker_shape_reading_names_the_shape_for_each_case() -> None:
    medians = medians_of({
        "gthread 2x4 (shipped): direct /": 1000.0, "gthread 1x8: direct /": 1080.0,
        "gthread 2x4 (shipped): one instance alone /": 1050.0, "gthread 1x8: one instance alone /": 870.0})
    [line] = bench.worker_shape_reading(medians, ["gthread 2x4 (shipped)", "gthread 1x8"])
    assert "gthread 2x4 (shipped) served 1000 req/s directly and gthread 1x8 1080" in line
    assert "to itself served 1050 and 870" in line
    assert "So gthread 2x4 suits an instance that has a host's cores to itself, and gthread 1x8 hosts" in line
    assert bench.worker_shape_reading(medians_of({}), ["gthread 2x4 (shipped)", "gthread 1x8"]) == []


def test_one_instance_comparison_reuses_the_deployed_shape() -> None:
    candidates = bench.backend_candidates()
    shapes = bench.shapes_for_one_instance(candidates, last_deployed=candidates[-1])
    assert shapes[0] is candidates[-1] and shapes[-1] is candidates[0]
    assert bench.shapes_for_one_instance(candidates, last_deployed=candidates[1]) == [candidates[0]]

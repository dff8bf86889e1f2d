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
        "requests_per_second": 2390.0, "p50_ms": 0.85, "p99_ms": 1200.0,
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
        "backend_settings": {"connections": 48, "seconds": 4, "rounds": 3, "medians": medians_of({
            "sync x2: round_robin /": 600.0, "sync x2: direct /": 900.0,
            "gthread 2x4: round_robin /": 880.0, "gthread 2x4: direct /": 1000.0})},
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
    assert column("gthread 2x4: round_robin /") == 0.88
    assert column("gthread 2x4: direct /") is None


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
    assert "ranged from 600 req/s (sync x2) to 880 (gthread 2x4), 32 % apart" in text

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

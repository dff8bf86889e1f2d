#!/usr/bin/env python3
"""Send simulated clients through a load balancer and summarise how sticky their sessions were.

Each client keeps its own cookies (the sticky cookie and Flask's session) and sends a fixed
number of sequential GET requests. With --ip-sources, client N binds its socket to 127.0.N.1,
so nginx's ip_hash (which keys on the first three octets) sees N different clients; run it on
the load balancer host itself. Standard library only: it runs on any host with python3, next to
sticky_clients.py (the client library it is a command line for).

--forwarded-for PREFIX makes client N claim X-Forwarded-For PREFIX.N.1 (a proxy's view of N
clients); --spoofed-forwarded-for sends a different X-Forwarded-For on every request, which a
load balancer must ignore unless the request comes from a trusted proxy.

--state FILE keeps the clients' cookies between runs, so one client can be followed across a
backend failure. --remap-baseline FILE records each client's server on the first run and, on
later runs, reports how many clients moved (and where): the share that moves when a backend joins.
--method POST sends POST requests (the app counts them like visits), to check that nginx never
sends a non-idempotent request twice. https:// URLs are verified against --cafile (or the
system's CAs). --sticky-cookie VALUE (repeatable) starts one client per value with that sticky
cookie, e.g. forged ones; the report says whether a value ever came back in an answer.
--keep-alive sends each client's requests on one kept-alive connection; --retry-connection
sends a request whose connection failed before any answer once more (counted apart).

The load is bounded: clients × requests requests, each with a timeout, and an overall deadline.
Prints one JSON document (sticky_clients.summarise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# A sibling file, not an installed package.
from sticky_clients import (  # noqa: E402
    Answer, Client, Target, compare_with_baseline, make_clients, placement, send_rounds, summarise)

__all__ = ["FILES", "Answer", "Client", "compare_with_baseline", "make_population", "make_target", "main"]

# What to copy side by side into a host to run the probe there (tools/sticky_report.py, tools/bench.py).
FILES = ("sticky_clients.py", "sticky_probe.py")


def make_population(clients: int, ip_sources: bool, sticky_name: str,
                    preset_values: list[str], state: dict | None) -> list[Client]:
    """New clients, forged-cookie clients, or the clients saved in a --state file."""
    if state is not None:
        return [Client(entry["number"], entry["source_address"], sticky_name, cookies=dict(entry["cookies"]))
                for entry in state["clients"]]
    if preset_values:
        return [Client(number, None, sticky_name, preset_cookie=value)
                for number, value in enumerate(preset_values, start=1)]
    try:
        return make_clients(clients, sticky_name, ip_sources)
    except ValueError as error:
        raise SystemExit(f"--ip-sources: {error}") from None


def make_target(url: str, method: str = "GET", cafile: str | None = None) -> Target:
    try:
        return Target.from_url(url, method, cafile)
    except ValueError as error:
        raise SystemExit(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="load balancer URL, e.g. http://127.0.0.1/")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--cookie-name", default="SERVERID", help="name of the sticky cookie")
    parser.add_argument("--ip-sources", action="store_true",
                        help="bind client N to 127.0.N.1 (distinct /24s for ip_hash)")
    parser.add_argument("--method", choices=["GET", "POST"], default="GET")
    parser.add_argument("--cafile", help="CA bundle that signs an https:// load balancer's certificate")
    parser.add_argument("--remap-baseline", metavar="FILE",
                        help="record each client's server, or report who moved since the record")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for the whole run")
    parser.add_argument("--forwarded-for", metavar="PREFIX",
                        help="client N sends X-Forwarded-For PREFIX.N.1 (e.g. 10.77)")
    parser.add_argument("--spoofed-forwarded-for", action="store_true",
                        help="send a different X-Forwarded-For on every request")
    parser.add_argument("--state", help="keep the clients' cookies in this file between runs")
    parser.add_argument("--sticky-cookie", action="append", default=[], metavar="VALUE",
                        help="one client per value, starting with this sticky cookie value")
    parser.add_argument("--keep-alive", action="store_true", help="one kept-alive connection per client")
    parser.add_argument("--retry-connection", action="store_true",
                        help="send a request whose connection failed before any answer once more")
    arguments = parser.parse_args(argv)
    if arguments.clients < 1 or arguments.requests < 1:
        parser.error("--clients and --requests must be 1 or more")
    state_path = Path(arguments.state) if arguments.state else None
    state = json.loads(state_path.read_text()) if state_path and state_path.exists() else None
    population = make_population(arguments.clients, arguments.ip_sources, arguments.cookie_name,
                                 arguments.sticky_cookie, state)
    for client in population:
        client.forwarded_for_prefix = arguments.forwarded_for
        client.spoof_forwarded_for = arguments.spoofed_forwarded_for
        client.keep_alive = arguments.keep_alive
        client.retry_connection = arguments.retry_connection
        client.timeout = arguments.timeout
    target = make_target(arguments.url, arguments.method, arguments.cafile)
    send_rounds(target, population, arguments.requests, arguments.deadline)
    report = summarise(population, arguments.requests)
    if arguments.remap_baseline:
        baseline_path = Path(arguments.remap_baseline)
        if baseline_path.exists():
            report["remap"] = compare_with_baseline(population, json.loads(baseline_path.read_text()))
        else:
            baseline_path.write_text(json.dumps(placement(population)))
    if state_path:
        state_path.write_text(json.dumps({"clients": [
            {"number": c.number, "source_address": c.source_address, "cookies": c.cookies}
            for c in population]}))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

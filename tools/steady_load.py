#!/usr/bin/env python3
"""Keep a steady, bounded load on a load balancer while something else happens, and count failures.

C clients (threads), each with its own cookie jar and one keep-alive connection, send GET
requests back to back (with an optional pause) until --duration seconds have passed,
--max-requests requests were sent in all, or the --stop-file appears (so a test can keep the
load up for exactly as long as an operation takes; --duration still bounds it). Afterwards one
JSON document says what they saw (sticky_clients.run_steady_load, the library next to this file):

- ``failed``: requests that got a non-2xx answer or no answer at all (after the retries
  below). This is the number a user notices.
- ``keepalive_retries``: a reused keep-alive connection that the server had closed (nginx
  closes idle connections on a graceful reload) fails before any byte of the answer arrives;
  browsers silently retry such a request on a new connection, and so does this tool, once.
  Counted separately, never hidden.
- ``connection_retries`` (only with --retry-connection): a request whose connection was
  refused, reset or timed out before any answer, sent once more on a new connection,
  --retry-pause seconds later (a virtual address moving from one load balancer to the other).
- ``moved_clients``: clients whose answers came from more than one server (failover, re-pin).
- ``latency``: p50, p99 and max in seconds; with --event-file also ``latency_windows``
  before, during and after the time that file existed.

Standard library only, so it runs on the load balancer host itself (loopback traffic only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sticky_clients import LoadPlan, Target, run_steady_load  # noqa: E402  (a sibling file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (at most 600)")
    parser.add_argument("--max-requests", type=int, default=200000)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between a client's requests")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--cafile")
    parser.add_argument("--cookie-name", default="SERVERID", help="name of the sticky cookie")
    parser.add_argument("--stop-file", type=Path, help="stop as soon as this file exists")
    parser.add_argument("--ready-file", type=Path, help="create this file once the clients run")
    parser.add_argument("--event-file", type=Path,
                        help="compare latency before, during and after the time this file exists")
    parser.add_argument("--retry-connection", action="store_true",
                        help="send a request whose connection failed before any answer once more")
    parser.add_argument("--retry-pause", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long before that one retry")
    parser.add_argument("--long-wait", type=float, metavar="SECONDS",
                        help="count, per client, the requests that took this long or longer")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.duration <= 600 or arguments.clients < 1:
        parser.error("--duration must be in (0, 600] and --clients at least 1")
    try:
        target = Target.from_url(arguments.url, cafile=arguments.cafile)
    except ValueError as error:
        parser.error(str(error))
    plan = LoadPlan(clients=arguments.clients, duration=arguments.duration,
                    max_requests=arguments.max_requests, pause=arguments.pause,
                    timeout=arguments.timeout, stop_file=arguments.stop_file,
                    ready_file=arguments.ready_file, event_file=arguments.event_file,
                    retry_connection=arguments.retry_connection, retry_pause=arguments.retry_pause,
                    sticky_name=arguments.cookie_name,
                    long_wait=arguments.long_wait)
    json.dump(run_steady_load(target, plan), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

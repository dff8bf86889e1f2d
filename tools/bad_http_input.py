#!/usr/bin/env python3
"""Send malformed and hostile HTTP requests to a load balancer and report how each was answered.

Every case is one raw request on its own connection (so nothing a client library would fix up
or refuse gets in the way); the cases live in sticky_clients.bad_input_cases, the library next
to this file. A well-behaved deployment answers each with a normal page or a 4xx, never a 5xx
and never silence, and every page it serves comes from one of its own servers. Standard library
only; prints one JSON document:

    {"cases": {"oversized-header": {"status": 400, "server_id": null}, ...},
     "server_errors": [...], "unanswered": [...], "servers": [...]}

Usage: bad_http_input.py URL [--cafile CERT]   (URL like http://127.0.0.1/ or https://...)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sticky_clients import Target, bad_input_report  # noqa: E402  (a sibling file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--cafile", help="CA bundle for an https:// URL")
    parser.add_argument("--timeout", type=float, default=10.0)
    arguments = parser.parse_args(argv)
    try:
        target = Target.from_url(arguments.url, cafile=arguments.cafile)
    except ValueError as error:
        parser.error(str(error))
    json.dump(bad_input_report(target, arguments.timeout), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

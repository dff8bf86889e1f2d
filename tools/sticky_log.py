#!/usr/bin/env python3
"""What the load balancer decided: a summary of nginx's JSON access log (role nginx_lb).

Every line of the log carries the sticky decision for its request: `new` (no cookie, or one this
deployment did not issue), `hit` (the pinned backend answered), `repin` (the pinned backend
failed and another answered; the client was re-pinned to it), `failed` (no backend answered),
`none` (a strategy without cookies). This counts requests per decision, per backend and per
status, and lists the re-pins.

    python3 tools/sticky_log.py /var/log/nginx/access.log
    python3 tools/sticky_log.py --container stickylab-lab-lb1      # `make logs`
    python3 tools/sticky_log.py --json ...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ACCESS_LOG = "/var/log/nginx/access.log"
DECISIONS = ("new", "hit", "repin", "failed", "none")


def parse(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON lines of the log; anything else (a text-format line, a torn line) is skipped."""
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "sticky" in entry:
            entries.append(entry)
    return entries


def summarise(entries: list[dict[str, Any]]) -> dict[str, Any]:
    decisions = Counter(entry["sticky"] for entry in entries)
    return {
        "requests": len(entries),
        "sticky": {decision: decisions.get(decision, 0) for decision in DECISIONS},
        "backends": dict(sorted(Counter(entry.get("backend") or "-" for entry in entries).items())),
        "statuses": dict(sorted(Counter(str(entry.get("status")) for entry in entries).items())),
        "repins": [{"time": entry.get("time"), "request_id": entry.get("request_id"),
                    "upstream_addr": entry.get("upstream_addr"), "backend": entry.get("backend")}
                   for entry in entries if entry["sticky"] == "repin"][-10:],
    }


def render(summary: dict[str, Any]) -> str:
    total = summary["requests"] or 1
    lines = [f"{summary['requests']} requests"]
    lines.append("sticky decision  " + "  ".join(
        f"{decision} {count} ({count / total:.0%})" for decision, count in summary["sticky"].items() if count))
    lines.append("backend          " + "  ".join(f"{name} {count}" for name, count in summary["backends"].items()))
    lines.append("status           " + "  ".join(f"{status} {count}" for status, count in summary["statuses"].items()))
    for repin in summary["repins"]:
        lines.append(f"re-pin           {repin['time']} {repin['request_id']} {repin['upstream_addr']} -> {repin['backend']}")
    return "\n".join(lines)


def read_log(path: str | None, container: str | None) -> list[str]:
    if container:
        result = subprocess.run(["docker", "exec", container, "cat", path or ACCESS_LOG],
                                capture_output=True, text=True, check=True)
        return result.stdout.splitlines()
    return Path(path or ACCESS_LOG).read_text().splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", help=f"the access log (default {ACCESS_LOG})")
    parser.add_argument("--container", help="read the log inside this container (docker exec)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    arguments = parser.parse_args(argv)
    summary = summarise(parse(read_log(arguments.log, arguments.container)))
    print(json.dumps(summary, indent=2) if arguments.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

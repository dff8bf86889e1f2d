#!/usr/bin/env python3
"""How sticky is a load balancer? Simulated clients, a verdict and a chart in the terminal.

Sends N clients x M requests (tools/sticky_probe.py does the sending with the client library
tools/sticky_clients.py: a cookie jar per client, and with --ip-sources a distinct source
address per client) and prints the share of sessions that stayed on one server, how new
sessions spread over the servers as a bar chart, the sessions that moved (failovers), and
errors. --json prints the probe's full report instead.

    python3 tools/sticky_report.py http://127.0.0.1:8080/
    python3 tools/sticky_report.py --container stickylab-lab-lb1 --ip-sources   # `make report`

--container runs the probe inside that container, against its own nginx (http://127.0.0.1/) unless
a URL is given (the lab's virtual address, say), where 127.0.N.1 source addresses reach nginx
unchanged: from outside, Docker's port forwarding would show nginx one address for every
client, and ip_hash one client.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

from rich.bar import Bar
from rich.console import Console
from rich.table import Table

TOOLS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS_DIR))
import sticky_probe  # noqa: E402  (a sibling file, not an installed package)

PROBE_IN_CONTAINER = "/root/sticky_probe.py"
DEFAULT_URL = "http://127.0.0.1:8080/"


def probe_here(url: str, probe_args: list[str]) -> dict[str, Any]:
    """Run the probe in this process and return its JSON report."""
    buffer = StringIO()
    with redirect_stdout(buffer):
        sticky_probe.main([url, *probe_args])
    return json.loads(buffer.getvalue())


def probe_in_container(container: str, url: str, probe_args: list[str]) -> dict[str, Any]:
    for name in sticky_probe.FILES:
        subprocess.run(["docker", "cp", str(TOOLS_DIR / name), f"{container}:/root/{name}"],
                       check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run(["docker", "exec", container, "python3", PROBE_IN_CONTAINER, url, *probe_args],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    clients = report["clients"]
    moved = sum(1 for client in report["per_client"] if client["distinct_servers"] > 1)
    return {
        "sticky_share": report["sticky_clients"] / clients if clients else 0.0,
        "sessions_moved": moved,
        "requests": report["requests"],
        "failed": report["failed"],
        "server_errors": report["server_errors"],
        "no_answer": report["no_answer"],
    }


def render(report: dict[str, Any], title: str, console: Console) -> None:
    summary = verdict(report)
    share = summary["sticky_share"]
    colour = "green" if share == 1.0 and summary["failed"] == 0 else "yellow" if share >= 0.9 else "red"
    console.print(f"[bold]{title}[/bold]")
    console.print(
        f"[{colour}]{report['sticky_clients']}/{report['clients']} sessions "
        f"({share:.0%}) stayed on one server[/{colour}] over {report['requests_per_client']} "
        f"requests each; {summary['sessions_moved']} moved (failover); "
        f"{summary['failed']} failed requests ({summary['server_errors']} 5xx, "
        f"{summary['no_answer']} unanswered) of {summary['requests']}.")

    spread = report["new_sessions_per_server"]
    table = Table(title="New sessions per server", title_justify="left", show_edge=False)
    table.add_column("server")
    table.add_column("sessions", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", width=40)
    total = sum(spread.values()) or 1
    largest = max(spread.values(), default=1)
    for server, count in spread.items():
        table.add_row(server, str(count), f"{count / total:.0%}",
                      Bar(size=largest, begin=0, end=count, color="cyan"))
    console.print(table)
    if report["errors_sample"]:
        console.print(f"[red]errors:[/red] {'; '.join(report['errors_sample'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL,
                        help="load balancer URL (with --container: as the container reaches it; default its own nginx)")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--ip-sources", action="store_true",
                        help="client N sends from 127.0.N.1 (only where nginx is on loopback)")
    parser.add_argument("--container", help="run the probe inside this container (docker exec)")
    parser.add_argument("--cookie-name", default="SERVERID")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--fail-under", type=float, default=None, metavar="SHARE",
                        help="exit 1 if the sticky share is below SHARE or a request failed")
    parser.add_argument("--min-servers", type=int, default=1, metavar="N",
                        help="exit 1 if new sessions reached fewer than N servers")
    arguments = parser.parse_args(argv)

    probe_args = ["--clients", str(arguments.clients), "--requests", str(arguments.requests),
                  "--cookie-name", arguments.cookie_name]
    if arguments.ip_sources:
        probe_args.append("--ip-sources")
    if arguments.container:
        url = arguments.url if arguments.url != DEFAULT_URL else "http://127.0.0.1/"
        report = probe_in_container(arguments.container, url, probe_args)
        where = f"{arguments.container} ({url} inside it)"
    else:
        report = probe_here(arguments.url, probe_args)
        where = arguments.url
    report["verdict"] = verdict(report)

    if arguments.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        render(report, f"Stickiness of {where}: {arguments.clients} clients x "
                       f"{arguments.requests} requests", Console())
    summary = report["verdict"]
    if arguments.fail_under is not None and (summary["sticky_share"] < arguments.fail_under
                                             or summary["failed"]):
        return 1
    if len(report["new_sessions_per_server"]) < arguments.min_servers:
        print(f"new sessions reached {len(report['new_sessions_per_server'])} server(s), "
              f"fewer than {arguments.min_servers}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Keep a steady, bounded load on a load balancer while something else happens, and count failures.

C clients (threads), each with its own cookie jar and one keep-alive connection, send GET
requests back to back (with an optional pause) until --duration seconds have passed,
--max-requests requests were sent in all, or the --stop-file appears (so a test can keep the
load up for exactly as long as an operation takes; --duration still bounds it). Afterwards one JSON document says what they saw:

- ``failed``: requests that got a non-2xx answer or no answer at all (after the one retry
  below). This is the number a user notices.
- ``keepalive_retries``: a reused keep-alive connection that the server had closed (nginx
  closes idle connections on a graceful reload) fails before any byte of the answer arrives;
  browsers silently retry such a request on a new connection, and so does this tool, once.
  Counted separately, never hidden.
- ``moved_clients``: clients whose answers came from more than one server (failover, re-pin).

Standard library only, so it runs on the load balancer host itself (loopback traffic only).
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any


@dataclass
class ClientResult:
    requests: int = 0
    ok: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    keepalive_retries: int = 0
    servers: list[str] = field(default_factory=list)
    failure_times: list[float] = field(default_factory=list)


class LoadClient(threading.Thread):
    def __init__(self, url: urllib.parse.SplitResult, context: ssl.SSLContext | None,
                 stop_at: float, budget: "Budget", pause: float, timeout: float, started: float,
                 stop_file: Path | None = None):
        super().__init__(daemon=True)
        self.url, self.context, self.stop_at, self.budget = url, context, stop_at, budget
        self.stop_file = stop_file
        self.pause, self.timeout, self.started = pause, timeout, started
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None
        self.result = ClientResult()

    def connect(self) -> http.client.HTTPConnection:
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(self.url.hostname, self.url.port or 443,
                                               timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=self.timeout)

    def exchange(self) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = self.connect()
        headers = {"Accept": "application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request("GET", self.url.path or "/", headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        if response.will_close:
            self.connection.close()
            self.connection = None
        return response.status, body

    def one_request(self) -> None:
        result = self.result
        result.requests += 1
        reused = self.connection is not None
        try:
            try:
                status, body = self.exchange()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed the idle keep-alive connection we were about to reuse.
                result.keepalive_retries += 1
                self.connection = None
                status, body = self.exchange()
        except (OSError, http.client.HTTPException) as error:
            self.connection = None
            result.failed += 1
            result.failure_times.append(round(time.monotonic() - self.started, 2))
            result.statuses["none"] = result.statuses.get("none", 0) + 1
            if len(result.errors) < 5:
                result.errors.append(f"{type(error).__name__}: {error}")
            return
        result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
        if 200 <= status < 300:
            result.ok += 1
            try:
                server = json.loads(body).get("server_id")
            except ValueError:
                server = None
            if server and (not result.servers or result.servers[-1] != server):
                result.servers.append(server)
        else:
            result.failed += 1
            result.failure_times.append(round(time.monotonic() - self.started, 2))

    def stopped(self) -> bool:
        return time.monotonic() >= self.stop_at or bool(self.stop_file and self.stop_file.exists())

    def run(self) -> None:
        while not self.stopped() and self.budget.take():
            self.one_request()
            if self.pause:
                time.sleep(self.pause)
        if self.connection is not None:
            self.connection.close()


class Budget:
    """The total number of requests all clients together may still send."""

    def __init__(self, total: int):
        self.left = total
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (at most 600)")
    parser.add_argument("--max-requests", type=int, default=200000)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between a client's requests")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--cafile")
    parser.add_argument("--stop-file", type=Path, help="stop as soon as this file exists")
    parser.add_argument("--ready-file", type=Path, help="create this file once the clients run")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.duration <= 600 or arguments.clients < 1:
        parser.error("--duration must be in (0, 600] and --clients at least 1")
    url = urllib.parse.urlsplit(arguments.url)
    context = ssl.create_default_context(cafile=arguments.cafile) if url.scheme == "https" else None
    started = time.monotonic()
    budget = Budget(arguments.max_requests)
    clients = [LoadClient(url, context, started + arguments.duration, budget, arguments.pause,
                          arguments.timeout, started, arguments.stop_file)
               for _ in range(arguments.clients)]
    for client in clients:
        client.start()
    if arguments.ready_file:
        arguments.ready_file.write_text("running\n")
    for client in clients:
        client.join(arguments.duration + arguments.timeout * 3)
    elapsed = time.monotonic() - started
    results = [client.result for client in clients]
    statuses: dict[str, int] = {}
    for result in results:
        for status, count in result.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    report: dict[str, Any] = {
        "clients": len(clients),
        "seconds": round(elapsed, 1),
        "requests": sum(r.requests for r in results),
        "ok": sum(r.ok for r in results),
        "failed": sum(r.failed for r in results),
        "statuses": dict(sorted(statuses.items())),
        "keepalive_retries": sum(r.keepalive_retries for r in results),
        "moved_clients": sum(1 for r in results if len(set(r.servers)) > 1),
        "servers_per_client": [r.servers for r in results],
        "failure_times": sorted(t for r in results for t in r.failure_times)[:20],
        "errors_sample": sorted({e for r in results for e in r.errors})[:5],
    }
    report["requests_per_second"] = round(report["requests"] / elapsed, 1) if elapsed else None
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

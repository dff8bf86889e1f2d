#!/usr/bin/env python3
"""Send simulated clients through a load balancer and summarise how sticky their sessions were.

Each client keeps its own cookies (the sticky cookie and Flask's session) and sends a fixed
number of sequential GET requests. With --ip-sources, client N binds its socket to 127.0.N.1,
so nginx's ip_hash (which keys on the first three octets) sees N different clients; run it on
the load balancer host itself. Standard library only: it runs on any host with python3.

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

The load is bounded: clients × requests requests, each with a timeout, and an overall deadline.
Prints one JSON document; the Molecule verifies assert on it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int | None
    server_id: str | None = None
    visit_count: int | None = None
    local_visits: int | None = None
    servers_seen: list[str] = field(default_factory=list)
    sticky_cookie_set: str | None = None
    error: str | None = None


@dataclass
class Client:
    number: int
    source_address: str | None
    cookies: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    # A sticky cookie value sent as is, until the load balancer sets another one.
    preset_cookie: str | None = None
    echoed_preset: bool = False
    # Raw Set-Cookie headers of the sticky cookie, to check its attributes (Secure, HttpOnly...).
    sticky_set_cookie_headers: list[str] = field(default_factory=list)
    forwarded_for_prefix: str | None = None
    spoof_forwarded_for: bool = False

    def forwarded_for(self) -> str | None:
        if self.spoof_forwarded_for:
            request = len(self.answers) + 1
            return f"10.{request % 250 + 1}.{(self.number * 7 + request) % 250 + 1}.9"
        if self.forwarded_for_prefix:
            return f"{self.forwarded_for_prefix}.{self.number}.1"
        return None

    def cookie_header(self) -> bytes:
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if self.preset_cookie is not None:
            header = f"{header}; {self.preset_cookie}" if header else self.preset_cookie
        # Forged values may hold any bytes a client can send; UTF-8 keeps non-ASCII ones intact.
        return header.encode("utf-8", "surrogateescape")


def _remember_cookies(client: Client, set_cookie_headers: list[str], sticky_name: str) -> str | None:
    sticky_value = None
    for header in set_cookie_headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        for name, morsel in jar.items():
            client.cookies[name] = morsel.value
            if name == sticky_name:
                sticky_value = morsel.value
    return sticky_value


def _echoes(preset: str, response: http.client.HTTPResponse, body: bytes) -> bool:
    value = preset.split("=", 1)[1] if "=" in preset else preset
    if len(value) < 3:  # too short to tell an echo from chance
        return False
    raw_headers = "\n".join(f"{name}: {text}" for name, text in response.getheaders())
    return value in raw_headers or value.encode("utf-8", "surrogateescape") in body


@dataclass(frozen=True)
class Target:
    url: urllib.parse.SplitResult
    method: str = "GET"
    tls_context: ssl.SSLContext | None = None

    def connect(self, source_address: str | None, timeout: float) -> http.client.HTTPConnection:
        source = (source_address, 0) if source_address else None
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(self.url.hostname, self.url.port or 443,
                                               timeout=timeout, source_address=source,
                                               context=self.tls_context)
        return http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=timeout,
                                          source_address=source)


def send(client: Client, target: Target, sticky_name: str, timeout: float) -> Answer:
    connection = target.connect(client.source_address, timeout)
    headers: dict[str, str | bytes] = {"Accept": "application/json", "Connection": "close"}
    cookie_header = client.cookie_header()
    if cookie_header:
        headers["Cookie"] = cookie_header
    forwarded_for = client.forwarded_for()
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        connection.request(target.method, target.url.path or "/", headers=headers)
        response = connection.getresponse()
        body = response.read()
        if client.preset_cookie is not None and _echoes(client.preset_cookie, response, body):
            client.echoed_preset = True
        set_cookie_headers = response.headers.get_all("Set-Cookie") or []
        client.sticky_set_cookie_headers.extend(
            h for h in set_cookie_headers if h.startswith(f"{sticky_name}="))
        sticky = _remember_cookies(client, set_cookie_headers, sticky_name)
        if sticky is not None:
            client.preset_cookie = None
        answer = Answer(status=response.status, sticky_cookie_set=sticky)
        if response.status == 200:
            document = json.loads(body)
            answer.server_id = document.get("server_id")
            answer.visit_count = document.get("visit_count")
            answer.local_visits = document.get("local_visits")
            answer.servers_seen = list(document.get("servers_seen", []))
        return answer
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Answer(status=None, error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def summarise(clients: list[Client], requests: int) -> dict[str, Any]:
    expected_counts = list(range(1, requests + 1))
    answers = [answer for client in clients for answer in client.answers]
    first_servers: dict[str, int] = {}
    for client in clients:
        first = next((a.server_id for a in client.answers if a.server_id), None)
        if first:
            first_servers[first] = first_servers.get(first, 0) + 1
    per_client = []
    for client in clients:
        servers = [a.server_id for a in client.answers if a.server_id]
        sticky_sets = [a.sticky_cookie_set for a in client.answers if a.sticky_cookie_set]
        per_client.append({
            "client": client.number,
            "source_address": client.source_address,
            "servers": servers,
            "distinct_servers": len(set(servers)),
            "visit_counts": [a.visit_count for a in client.answers],
            "local_visits": [a.local_visits for a in client.answers],
            "servers_seen": client.answers[-1].servers_seen if client.answers else [],
            "sticky_cookies_set": sticky_sets,
            "statuses": [a.status for a in client.answers],
            "echoed_preset_cookie": client.echoed_preset,
        })
    return {
        "clients": len(clients),
        "requests_per_client": requests,
        "requests": len(answers),
        "ok": sum(1 for a in answers if a.status == 200),
        "failed": sum(1 for a in answers if a.status != 200),
        "server_errors": sum(1 for a in answers if a.status is not None and a.status >= 500),
        "no_answer": sum(1 for a in answers if a.status is None),
        "errors_sample": sorted({a.error for a in answers if a.error})[:5],
        "sticky_clients": sum(1 for c in per_client if c["distinct_servers"] == 1),
        "clients_with_counts_1_to_n": sum(1 for c in per_client if c["visit_counts"] == expected_counts),
        "clients_with_local_visits_1_to_n": sum(
            1 for c in per_client if c["local_visits"] == expected_counts),
        "clients_seeing_one_server": sum(1 for c in per_client if len(c["servers_seen"]) == 1),
        "new_sessions_per_server": dict(sorted(first_servers.items())),
        "servers_reached": sorted({a.server_id for a in answers if a.server_id}),
        "sticky_cookie_values": sorted({v for c in per_client for v in c["sticky_cookies_set"]}),
        "sticky_cookie_sets_per_client": [len(c["sticky_cookies_set"]) for c in per_client],
        "sticky_set_cookie_headers": sorted({h for c in clients for h in c.sticky_set_cookie_headers})[:5],
        "clients_with_preset_cookie_echoed": sum(1 for c in per_client if c["echoed_preset_cookie"]),
        "per_client": per_client,
    }


def make_population(clients: int, ip_sources: bool, sticky_name: str,
                    preset_values: list[str], state: dict | None) -> list[Client]:
    if state is not None:
        return [Client(entry["number"], entry["source_address"], dict(entry["cookies"]))
                for entry in state["clients"]]
    if preset_values:
        return [Client(number, None, preset_cookie=f"{sticky_name}={value}")
                for number, value in enumerate(preset_values, start=1)]
    if ip_sources and not 1 <= clients <= 254:
        raise SystemExit("--ip-sources supports 1-254 clients (127.0.1.1 .. 127.0.254.1)")
    return [Client(number, f"127.0.{number}.1" if ip_sources else None)
            for number in range(1, clients + 1)]


def make_target(url: str, method: str = "GET", cafile: str | None = None) -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(f"only http:// and https:// URLs are supported, got {url!r}")
    context = ssl.create_default_context(cafile=cafile) if parts.scheme == "https" else None
    return Target(parts, method, context)


def compare_with_baseline(population: list[Client], baseline: dict[str, str]) -> dict[str, Any]:
    """How many clients now reach another server than the one recorded in the baseline."""
    moved_to: dict[str, int] = {}
    moved_from: dict[str, int] = {}
    compared = 0
    for client in population:
        before = baseline.get(str(client.number))
        now = next((a.server_id for a in client.answers if a.server_id), None)
        if before is None or now is None:
            continue
        compared += 1
        if now != before:
            moved_to[now] = moved_to.get(now, 0) + 1
            moved_from[before] = moved_from.get(before, 0) + 1
    moved = sum(moved_to.values())
    return {
        "clients": compared,
        "moved": moved,
        "moved_share": round(moved / compared, 4) if compared else None,
        "moved_to": dict(sorted(moved_to.items())),
        "moved_from": dict(sorted(moved_from.items())),
    }


def run(target: Target, population: list[Client], requests: int, sticky_name: str,
        timeout: float, deadline: float) -> dict[str, Any]:
    stop_at = time.monotonic() + deadline
    for _ in range(requests):
        for client in population:
            if time.monotonic() > stop_at:
                client.answers.append(Answer(status=None, error="deadline reached"))
                continue
            client.answers.append(send(client, target, sticky_name, timeout))
    return summarise(population, requests)


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
    target = make_target(arguments.url, arguments.method, arguments.cafile)
    report = run(target, population, arguments.requests, arguments.cookie_name,
                 arguments.timeout, arguments.deadline)
    if arguments.remap_baseline:
        baseline_path = Path(arguments.remap_baseline)
        if baseline_path.exists():
            report["remap"] = compare_with_baseline(population, json.loads(baseline_path.read_text()))
        else:
            baseline_path.write_text(json.dumps({
                str(c.number): next((a.server_id for a in c.answers if a.server_id), None)
                for c in population}))
    if state_path:
        state_path.write_text(json.dumps({"clients": [
            {"number": c.number, "source_address": c.source_address, "cookies": c.cookies}
            for c in population]}))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

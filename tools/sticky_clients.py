"""Simulated clients of a sticky-session load balancer: the one client library of stickylab.

The probe (sticky_probe.py), the steady load (steady_load.py), the bad-input sender
(bad_http_input.py), the report tool (sticky_report.py) and the pytest drills
(molecule/drills/) all send their traffic through this file. Standard library only: it is
copied to Debian 12 and 13 hosts and run with their python3.

Read it top to bottom:

- ``Target``: where requests go (http or https URL, method, TLS verified against a CA file).
- ``Client``: one simulated user. Its own cookie jar (the sticky cookie and Flask's
  ``session``), optionally its own source address (client N binds 127.0.N.1, so nginx's
  ip_hash sees distinct /24s), an X-Forwarded-For it claims, a forged sticky cookie to start
  with, one connection per request or one kept-alive connection. Every request leaves an
  ``Answer``.
- Retries are counted, never hidden: a request on a reused keep-alive connection that the
  server had closed, which fails before any byte of the answer, is sent once more on a new
  connection (``keepalive_retries``, what browsers do). With ``retry_connection`` a request
  whose connection failed before any byte (refused, reset, timed out: a virtual address moving
  between two load balancers) is also sent once more, ``retry_pause`` seconds later
  (``connection_retries``). A request that still fails counts as failed.
- ``counts`` and ``summarise``: the counts every drill asserts on (failed, 5xx, unanswered,
  retries, moved and re-pinned clients, sticky clients, Set-Cookie per client, visit counts
  1..n, latency percentiles, also per time window) as JSON-ready dicts.
- ``run_steady_load``: C threads, each a kept-alive Client, sending back to back until a
  duration, a request budget or a stop file ends them.
- ``WebSocket``: just enough RFC 6455 to open /ws with a client's cookies, read and send text
  frames, answer pings, close, and tell whether the server cut the connection.
- ``send_raw`` and ``bad_input_cases``: raw bytes in, status, headers and body out.
- ``compare_with_baseline``: who moved to another server between a recorded placement and now.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import http.client
import json
import math
import os
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

# --- where requests go --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A load balancer (or one backend) as clients see it."""

    scheme: str
    host: str
    port: int
    path: str = "/"
    method: str = "GET"
    # The Host header a browser would send for this URL ("127.0.0.1", "lb:8080").
    netloc: str = ""
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_url(cls, url: str, method: str = "GET", cafile: str | None = None) -> Target:
        """https:// URLs are verified against `cafile`, or the system's CAs without one."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"only http:// and https:// URLs are supported, got {url!r}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        context = ssl.create_default_context(cafile=cafile) if parts.scheme == "https" else None
        default_port = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, parts.port or default_port, path, method,
                   parts.netloc, context)

    def at(self, path: str, method: str | None = None) -> Target:
        """The same load balancer, another page (e.g. "/health" or "/ws")."""
        return replace(self, path=path, method=method or self.method)

    def connect(self, source_address: str | None, timeout: float) -> http.client.HTTPConnection:
        source = (source_address, 0) if source_address else None
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               source_address=source, context=self.tls_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout, source_address=source)

    def open_socket(self, source_address: str | None, timeout: float) -> socket.socket:
        """A connected socket, TLS already negotiated for https (raw requests, WebSockets)."""
        source = (source_address, 0) if source_address else None
        plain = socket.create_connection((self.host, self.port), timeout=timeout, source_address=source)
        if self.tls_context is None:
            return plain
        try:
            return self.tls_context.wrap_socket(plain, server_hostname=self.host)
        except BaseException:
            plain.close()
            raise


# --- one request, one answer --------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """What one request got. `status` None: no answer at all (then `error` says why)."""

    status: int | None
    server_id: str | None = None
    visit_count: int | None = None
    local_visits: int | None = None
    servers_seen: list[str] = field(default_factory=list)
    # The sticky cookie's value when this answer set it, and the raw Set-Cookie header.
    sticky_cookie_set: str | None = None
    sticky_set_cookie_header: str | None = None
    error: str | None = None
    latency: float = 0.0  # seconds, from sending to the last byte of the body
    started: float = 0.0  # epoch seconds, so a drill can split answers around an event

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoAnswer(Exception):
    """The request failed before any byte of an answer arrived (so it may be sent again)."""

    def __init__(self, error: BaseException, stale_keepalive: bool):
        super().__init__(str(error))
        self.error = error
        self.stale_keepalive = stale_keepalive


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}


def _failed_before_answer(error: OSError) -> bool:
    """Refused, reset, closed or timed out: nothing of an answer came. Not a TLS verdict."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    return isinstance(error, (ConnectionError, TimeoutError, ssl.SSLEOFError)) or error.errno in _UNREACHABLE


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass
class Client:
    """One simulated user with its own cookie jar. See the module docstring."""

    number: int
    source_address: str | None = None
    sticky_name: str = "SERVERID"
    # Sent as X-Forwarded-For PREFIX.<number>.1 (a proxy's view of many clients) ...
    forwarded_for_prefix: str | None = None
    # ... or a different made-up address on every request, which nginx must ignore.
    spoof_forwarded_for: bool = False
    # A sticky cookie value sent as is (forged, stale) until the load balancer sets another.
    preset_cookie: str | None = None
    keep_alive: bool = False
    retry_connection: bool = False
    retry_pause: float = 0.0  # seconds before that one retry
    timeout: float = 5.0
    cookies: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    echoed_preset: bool = False
    sticky_set_cookie_headers: list[str] = field(default_factory=list)
    keepalive_retries: int = 0
    connection_retries: int = 0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False, compare=False)

    # -- what the client sends --

    def forwarded_for(self) -> str | None:
        if self.spoof_forwarded_for:
            request = len(self.answers) + 1
            return f"10.{request % 250 + 1}.{(self.number * 7 + request) % 250 + 1}.9"
        if self.forwarded_for_prefix:
            return f"{self.forwarded_for_prefix}.{self.number}.1"
        return None

    def cookie_header(self) -> bytes:
        pairs = [f"{name}={value}" for name, value in self.cookies.items()]
        if self.preset_cookie is not None:
            pairs.append(f"{self.sticky_name}={self.preset_cookie}")
        # Forged values may hold any bytes a client can send; UTF-8 keeps non-ASCII ones intact.
        return "; ".join(pairs).encode("utf-8", "surrogateescape")

    def request_headers(self) -> dict[str, str | bytes]:
        headers: dict[str, str | bytes] = {"Accept": "application/json"}
        if not self.keep_alive:
            headers["Connection"] = "close"
        cookie = self.cookie_header()
        if cookie:
            headers["Cookie"] = cookie
        forwarded_for = self.forwarded_for()
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        return headers

    # -- what the client keeps --

    def remember(self, set_cookie_headers: list[str]) -> tuple[str | None, str | None]:
        """Put every Set-Cookie into the jar; return the sticky cookie's value and raw header."""
        sticky_value = sticky_header = None
        for header in set_cookie_headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
                if name == self.sticky_name:
                    sticky_value, sticky_header = morsel.value, header
        if sticky_header is not None:
            self.sticky_set_cookie_headers.append(sticky_header)
            self.preset_cookie = None
        return sticky_value, sticky_header

    def _note_echo(self, headers: list[tuple[str, str]], body: bytes) -> None:
        """Did the load balancer or the app send a forged cookie value back? (It must not.)"""
        value = self.preset_cookie
        if value is None or len(value) < 3:  # too short to tell an echo from chance
            return
        raw_headers = "\n".join(f"{name}: {text}" for name, text in headers)
        if value in raw_headers or value.encode("utf-8", "surrogateescape") in body:
            self.echoed_preset = True

    # -- sending --

    def send(self, target: Target, method: str | None = None) -> Answer:
        """One request; the Answer is also appended to `answers`."""
        started, clock = time.time(), time.perf_counter()
        try:
            status, headers, body = self._exchange_with_retries(target, method or target.method)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            answer = Answer(status=None, error=_describe(error))
        else:
            answer = self._answer_from(status, headers, body)
        answer.latency = time.perf_counter() - clock
        answer.started = started
        self.answers.append(answer)
        return answer

    def _exchange_with_retries(self, target: Target, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        retried_connection = False
        while True:
            try:
                return self._exchange(target, method)
            except _NoAnswer as failure:
                if failure.stale_keepalive:
                    self.keepalive_retries += 1
                    continue  # a fresh connection now: the next failure is not stale
                if self.retry_connection and not retried_connection:
                    retried_connection = True
                    self.connection_retries += 1
                    time.sleep(self.retry_pause)
                    continue
                raise failure.error from None

    def _exchange(self, target: Target, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        reused = self._connection is not None
        connection = self._connection or target.connect(self.source_address, self.timeout)
        self._connection = None
        try:
            connection.request(method, target.path, headers=self.request_headers())
            response = connection.getresponse()
        except OSError as error:
            connection.close()
            if _failed_before_answer(error):
                raise _NoAnswer(error, stale_keepalive=reused and isinstance(error, ConnectionError)) from error
            raise
        except http.client.HTTPException:
            connection.close()
            raise
        try:
            body = response.read()
        except BaseException:
            connection.close()
            raise
        if self.keep_alive and not response.will_close:
            self._connection = connection
        else:
            connection.close()
        return response.status, response.getheaders(), body

    def _answer_from(self, status: int, headers: list[tuple[str, str]], body: bytes) -> Answer:
        self._note_echo(headers, body)
        sticky_value, sticky_header = self.remember(
            [text for name, text in headers if name.lower() == "set-cookie"])
        answer = Answer(status=status, sticky_cookie_set=sticky_value, sticky_set_cookie_header=sticky_header)
        if 200 <= status < 300:
            try:
                document = json.loads(body)
            except ValueError:
                answer.error = "the answer is not JSON"
                return answer
            if isinstance(document, dict):
                answer.server_id = document.get("server_id")
                answer.visit_count = document.get("visit_count")
                answer.local_visits = document.get("local_visits")
                answer.servers_seen = list(document.get("servers_seen", []))
        return answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def open_websocket(self, target: Target, path: str = "/ws") -> WebSocket:
        """Open `path` as a WebSocket with this client's cookies (see WebSocket)."""
        return WebSocket.open(self, target.at(path, "GET"))

    # -- what happened to this client --

    def servers(self) -> list[str]:
        return [answer.server_id for answer in self.answers if answer.server_id]

    def first_server(self) -> str | None:
        return next((answer.server_id for answer in self.answers if answer.server_id), None)

    def sticky_cookies_set(self) -> list[str]:
        return [answer.sticky_cookie_set for answer in self.answers if answer.sticky_cookie_set]

    def moves(self) -> int:
        """How often the next answer came from another server than the one before."""
        servers = self.servers()
        return sum(1 for before, after in zip(servers, servers[1:]) if before != after)

    def re_pins(self) -> int:
        """Moves that came with a new sticky cookie: the load balancer re-pinned the client."""
        count, previous = 0, None
        for answer in self.answers:
            if not answer.server_id:
                continue
            if previous is not None and answer.server_id != previous and answer.sticky_cookie_set:
                count += 1
            previous = answer.server_id
        return count


def make_clients(count: int, sticky_name: str = "SERVERID", ip_sources: bool = False,
                 **options: Any) -> list[Client]:
    """`count` new clients numbered from 1; with ip_sources client N binds 127.0.N.1."""
    if ip_sources and not 1 <= count <= 254:
        raise ValueError("ip_sources supports 1-254 clients (127.0.1.1 .. 127.0.254.1)")
    return [Client(number, f"127.0.{number}.1" if ip_sources else None, sticky_name, **options)
            for number in range(1, count + 1)]


def send_rounds(target: Target, clients: list[Client], requests: int, deadline: float) -> None:
    """Each client sends `requests` requests, one round of all clients at a time; past
    `deadline` seconds the rest are recorded as unanswered instead of being sent."""
    stop_at = time.monotonic() + deadline
    for _ in range(requests):
        for client in clients:
            if time.monotonic() > stop_at:
                client.answers.append(Answer(status=None, error="deadline reached", started=time.time()))
            else:
                client.send(target)
    for client in clients:
        client.close()


# --- counting -----------------------------------------------------------------------------


def percentiles(latencies: Iterable[float]) -> dict[str, Any]:
    """p50, p99 and max in seconds (nearest rank: a value that was really measured)."""
    ordered = sorted(latencies)
    if not ordered:
        return {"requests": 0, "p50": None, "p99": None, "max": None}

    def rank(share: float) -> float:
        return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 4)

    return {"requests": len(ordered), "p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1], 4)}


def window(answers: Iterable[Answer], start: float, end: float) -> dict[str, Any]:
    """Requests started in [start, end) (epoch seconds): how many, how many failed, latency."""
    inside = [answer for answer in answers if start <= answer.started < end]
    summary = percentiles(answer.latency for answer in inside)
    summary["failed"] = sum(1 for answer in inside if not answer.ok)
    return summary


def before_during_after(answers: list[Answer], event_start: float, event_end: float) -> dict[str, Any]:
    """Latency and failures before, during and after an event, for a drill to compare."""
    return {"before": window(answers, -math.inf, event_start),
            "during": window(answers, event_start, event_end),
            "after": window(answers, event_end, math.inf)}


def counts(clients: list[Client]) -> dict[str, Any]:
    """What every report counts, defined once: a request failed when it got no 2xx answer
    (after its retries); retries are counted apart; latency only of answered requests."""
    answers = [answer for client in clients for answer in client.answers]
    return {
        "requests": len(answers),
        "ok": sum(1 for answer in answers if answer.ok),
        "failed": sum(1 for answer in answers if not answer.ok),
        "server_errors": sum(1 for answer in answers if answer.status is not None and answer.status >= 500),
        "no_answer": sum(1 for answer in answers if answer.status is None),
        "errors_sample": sorted({answer.error for answer in answers if answer.error})[:5],
        "keepalive_retries": sum(client.keepalive_retries for client in clients),
        "connection_retries": sum(client.connection_retries for client in clients),
        "moved_clients": sum(1 for client in clients if len(set(client.servers())) > 1),
        "re_pinned_clients": sum(1 for client in clients if client.re_pins()),
        "latency": percentiles(answer.latency for answer in answers if answer.status is not None),
    }


def summarise(clients: list[Client], requests: int) -> dict[str, Any]:
    """The probe's JSON report: every count a drill asserts on."""
    expected_counts = list(range(1, requests + 1))
    answers = [answer for client in clients for answer in client.answers]
    first_servers: dict[str, int] = {}
    for client in clients:
        first = client.first_server()
        if first:
            first_servers[first] = first_servers.get(first, 0) + 1
    per_client = [{
        "client": client.number,
        "source_address": client.source_address,
        "servers": client.servers(),
        "distinct_servers": len(set(client.servers())),
        "visit_counts": [answer.visit_count for answer in client.answers],
        "local_visits": [answer.local_visits for answer in client.answers],
        "servers_seen": client.answers[-1].servers_seen if client.answers else [],
        "sticky_cookies_set": client.sticky_cookies_set(),
        "statuses": [answer.status for answer in client.answers],
        "echoed_preset_cookie": client.echoed_preset,
        "moves": client.moves(),
        "re_pins": client.re_pins(),
        "keepalive_retries": client.keepalive_retries,
        "connection_retries": client.connection_retries,
    } for client in clients]
    return {
        "clients": len(clients),
        "requests_per_client": requests,
        **counts(clients),
        "sticky_clients": sum(1 for entry in per_client if entry["distinct_servers"] == 1),
        "clients_with_counts_1_to_n": sum(1 for entry in per_client if entry["visit_counts"] == expected_counts),
        "clients_with_local_visits_1_to_n": sum(
            1 for entry in per_client if entry["local_visits"] == expected_counts),
        "clients_seeing_one_server": sum(1 for entry in per_client if len(entry["servers_seen"]) == 1),
        "new_sessions_per_server": dict(sorted(first_servers.items())),
        "servers_reached": sorted({answer.server_id for answer in answers if answer.server_id}),
        "sticky_cookie_values": sorted({value for entry in per_client for value in entry["sticky_cookies_set"]}),
        "sticky_cookie_sets_per_client": [len(entry["sticky_cookies_set"]) for entry in per_client],
        "sticky_set_cookie_headers": sorted({h for client in clients for h in client.sticky_set_cookie_headers})[:5],
        "clients_with_preset_cookie_echoed": sum(1 for entry in per_client if entry["echoed_preset_cookie"]),
        "per_client": per_client,
    }


# --- who moved: a recorded placement against now ------------------------------------------


def placement(clients: list[Client]) -> dict[str, str | None]:
    """Client number -> the first server that answered it (JSON keys are strings)."""
    return {str(client.number): client.first_server() for client in clients}


def compare_with_baseline(clients: list[Client], baseline: dict[str, str | None]) -> dict[str, Any]:
    """How many clients now reach another server than the one recorded in the baseline."""
    moved_to: dict[str, int] = {}
    moved_from: dict[str, int] = {}
    compared = 0
    for client in clients:
        before = baseline.get(str(client.number))
        now = client.first_server()
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


# --- a steady load ------------------------------------------------------------------------


@dataclass
class LoadPlan:
    """How much load, for how long. Every bound applies: whichever comes first ends it."""

    clients: int = 8
    duration: float = 30.0
    max_requests: int = 200000
    pause: float = 0.0  # seconds between one client's requests
    timeout: float = 10.0
    stop_file: Path | None = None  # stop as soon as it exists
    ready_file: Path | None = None  # written once the clients run
    # While this file exists an event is under way (e.g. YAML restarts something): the report
    # then compares latency and failures before, during and after it.
    event_file: Path | None = None
    retry_connection: bool = False
    retry_pause: float = 0.0
    sticky_name: str = "SERVERID"
    # Requests that took this long or longer are counted per client (a frozen backend's wait).
    long_wait: float | None = None


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


def _keep_sending(client: Client, target: Target, plan: LoadPlan, stop_at: float, budget: Budget) -> None:
    def stopped() -> bool:
        return time.monotonic() >= stop_at or bool(plan.stop_file and plan.stop_file.exists())

    try:
        while not stopped() and budget.take():
            client.send(target)
            if plan.pause:
                time.sleep(plan.pause)
    finally:
        client.close()


def _consecutive_servers(client: Client) -> list[str]:
    """The servers a client reached, in order, without repeats: ["server-1", "server-2"]."""
    servers: list[str] = []
    for server in client.servers():
        if not servers or servers[-1] != server:
            servers.append(server)
    return servers


def run_steady_load(target: Target, plan: LoadPlan) -> dict[str, Any]:
    """Run the load to its end and return its JSON report (see steady_load.py)."""
    clients = make_clients(plan.clients, plan.sticky_name, keep_alive=True,
                           retry_connection=plan.retry_connection, retry_pause=plan.retry_pause,
                           timeout=plan.timeout)
    started_at, started = time.time(), time.monotonic()
    stop_at = started + plan.duration
    budget = Budget(plan.max_requests)
    threads = [threading.Thread(target=_keep_sending, args=(client, target, plan, stop_at, budget), daemon=True)
               for client in clients]
    for thread in threads:
        thread.start()
    if plan.ready_file:
        plan.ready_file.write_text("running\n")
    event: dict[str, float | None] = {"started_at": None, "ended_at": None}
    give_up_at = stop_at + plan.timeout * 3
    while any(thread.is_alive() for thread in threads) and time.monotonic() < give_up_at:
        _watch_event(plan.event_file, event)
        time.sleep(0.05)
    report = _load_report(clients, started_at, time.monotonic() - started, event if plan.event_file else None)
    if plan.long_wait is not None:
        report["long_waits_per_client"] = [sum(1 for answer in client.answers if answer.latency >= plan.long_wait)
                                           for client in clients]
    return report


def _watch_event(event_file: Path | None, event: dict[str, float | None]) -> None:
    if event_file is None:
        return
    exists = event_file.exists()
    if exists and event["started_at"] is None:
        event["started_at"] = time.time()
    elif not exists and event["started_at"] is not None and event["ended_at"] is None:
        event["ended_at"] = time.time()


def _load_report(clients: list[Client], started_at: float, seconds: float,
                 event: dict[str, float | None] | None) -> dict[str, Any]:
    answers = [answer for client in clients for answer in client.answers]
    statuses: dict[str, int] = {}
    for answer in answers:
        key = str(answer.status) if answer.status is not None else "none"
        statuses[key] = statuses.get(key, 0) + 1
    failures = sorted(round(answer.started + answer.latency - started_at, 2) for answer in answers if not answer.ok)
    report: dict[str, Any] = {
        "clients": len(clients),
        "seconds": round(seconds, 1),
        "started_at": round(started_at, 3),
        **counts(clients),
        "statuses": dict(sorted(statuses.items())),
        "servers_per_client": [_consecutive_servers(client) for client in clients],
        "failure_times": failures[:20],
        "requests_per_second": round(len(answers) / seconds, 1) if seconds else None,
    }
    if event is not None:
        report["event"] = {key: round(value, 3) if value else None for key, value in event.items()}
        if event["started_at"] is not None:
            report["latency_windows"] = before_during_after(
                answers, event["started_at"], event["ended_at"] or math.inf)
    return report


# --- WebSocket (RFC 6455, the client side) ------------------------------------------------

_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class WebSocketClosed(Exception):
    """The server closed or cut the connection."""


class WebSocket:
    """A WebSocket opened by a Client. `cut` turns true once the server closed or dropped it."""

    def __init__(self, sock: socket.socket, handshake: Answer, timeout: float):
        self.sock = sock
        self.handshake = handshake
        self.timeout = timeout
        self.cut = False
        self._buffer = b""
        self._pending: deque[str] = deque()

    @classmethod
    def open(cls, client: Client, target: Target) -> WebSocket:
        """Handshake with the client's cookies; the answer's Set-Cookie lands in its jar."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target.path} HTTP/1.1", f"Host: {target.netloc or target.host}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        request = "\r\n".join(lines).encode("latin-1") + b"\r\n"
        cookie = client.cookie_header()
        if cookie:
            request += b"Cookie: " + cookie + b"\r\n"
        forwarded_for = client.forwarded_for()
        if forwarded_for:
            request += f"X-Forwarded-For: {forwarded_for}\r\n".encode("latin-1")
        started, clock = time.time(), time.perf_counter()
        sock = target.open_socket(client.source_address, client.timeout)
        websocket = cls(sock, Answer(status=None, started=started), client.timeout)
        try:
            sock.sendall(request + b"\r\n")
            status, headers = websocket._read_handshake()
            websocket.handshake.status = status
            websocket.handshake.latency = time.perf_counter() - clock
            client._note_echo(headers, b"")
            value, header = client.remember([text for name, text in headers if name.lower() == "set-cookie"])
            websocket.handshake.sticky_cookie_set, websocket.handshake.sticky_set_cookie_header = value, header
            accept = next((text for name, text in headers if name.lower() == "sec-websocket-accept"), None)
            expected = base64.b64encode(hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()).decode()
            if status != 101 or accept != expected:
                raise WebSocketClosed(f"handshake refused: status {status}, Sec-WebSocket-Accept {accept!r}")
        except BaseException:
            sock.close()
            raise
        return websocket

    def _read_handshake(self) -> tuple[int, list[tuple[str, str]]]:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > 65536:
                raise WebSocketClosed("handshake answer too long")
            self._buffer += self._recv_some()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = [(name.strip(), text.strip()) for name, _, text in (line.partition(":") for line in header_lines)]
        return status, headers

    def _recv_some(self) -> bytes:
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError) as error:
            self.cut = True
            raise WebSocketClosed(_describe(error)) from error
        if not chunk:
            self.cut = True
            raise WebSocketClosed("the server closed the connection")
        return chunk

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._recv_some()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        """Client frames are always masked (RFC 6455 section 5.3)."""
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        try:
            self.sock.sendall(header + mask + masked)
        except (ConnectionError, ssl.SSLError) as error:
            self.cut = True
            raise WebSocketClosed(_describe(error)) from error

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        mask = self._read_exactly(4) if second & 0x80 else b""
        payload = self._read_exactly(length)
        if mask:
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def _read_message(self) -> str:
        """The next text (or binary) message; pings are answered, a close frame ends it."""
        parts: list[bytes] = []
        while True:
            final, opcode, payload = self._read_frame()
            if opcode == _PING:
                self._send_frame(_PONG, payload)
            elif opcode == _CLOSE:
                self.cut = True
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise WebSocketClosed(f"the server sent close (code {code})")
            elif opcode in (_TEXT, _BINARY, _CONTINUATION):
                parts.append(payload)
                if final:
                    return b"".join(parts).decode("utf-8", "replace")

    def send_text(self, text: str) -> None:
        self._send_frame(_TEXT, text.encode("utf-8"))

    def receive_text(self, timeout: float | None = None) -> str:
        """The next text message (TimeoutError if none came within `timeout` seconds)."""
        if self._pending:
            return self._pending.popleft()
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        return self._read_message()

    def receive_json(self, timeout: float | None = None) -> Any:
        return json.loads(self.receive_text(timeout))

    def echo(self, text: str, timeout: float | None = None) -> Any:
        """Send `text` and return the server's next message as JSON (the app's echo)."""
        self.send_text(text)
        return self.receive_json(timeout)

    def is_cut(self, wait: float = 0.0) -> bool:
        """Has the server closed or dropped the connection? Looks for `wait` seconds; messages
        that arrive meanwhile are kept for receive_text, pings are answered."""
        deadline = time.monotonic() + wait
        while not self.cut:
            left = max(0.0, deadline - time.monotonic())
            pending_tls = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not (self._buffer or pending_tls or select.select([self.sock], [], [], left)[0]):
                return False
            self.sock.settimeout(self.timeout)
            try:
                self._pending.append(self._read_message())
            except WebSocketClosed:
                return True
        return True

    def close(self) -> None:
        """Say goodbye (status 1000) and close the socket; a cut connection just closes."""
        try:
            if not self.cut:
                self._send_frame(_CLOSE, struct.pack("!H", 1000))
        except WebSocketClosed:
            pass
        finally:
            self.sock.close()


# --- raw requests (bad input) -------------------------------------------------------------


@dataclass
class RawAnswer:
    """An answer read byte for byte: status None when nothing parseable came back."""

    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None

    def header(self, name: str) -> str | None:
        return next((text for key, text in self.headers if key.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8", "replace"))


def send_raw(target: Target, raw: bytes, timeout: float = 10.0, limit: int = 1 << 20) -> RawAnswer:
    """Send `raw` on a new connection and read until the server closes it (at most `limit`
    bytes; the socket timeout bounds the wait). Nothing is fixed up on the way."""
    try:
        with target.open_socket(None, timeout) as connection:
            connection.sendall(raw)
            answer = b""
            while len(answer) < limit:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
    except OSError as error:
        return RawAnswer(status=None, error=_describe(error))
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    headers = [(name.strip(), text.strip()) for name, sep, text in (line.partition(":") for line in header_lines)
               if sep]
    return RawAnswer(status, headers, body, None if status else "no HTTP status line in the answer")


def fetch(target: Target, headers: dict[str, str] | None = None, timeout: float = 10.0) -> RawAnswer:
    """One ordinary request without cookies (health pages, redirects, error pages)."""
    connection = target.connect(None, timeout)
    try:
        connection.request(target.method, target.path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return RawAnswer(response.status, response.getheaders(), response.read())
    except (OSError, http.client.HTTPException) as error:
        return RawAnswer(status=None, error=_describe(error))
    finally:
        connection.close()


def bad_input_cases(host: str) -> dict[str, bytes]:
    """Malformed and hostile requests: name -> raw bytes. `host` is a normal Host header.
    A well-behaved deployment answers each with a normal page or a 4xx, never 5xx or silence."""
    def request(head: str, body: bytes = b"") -> bytes:
        return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body

    normal = f"Host: {host}\nAccept: application/json\nConnection: close\n"
    return {
        "baseline": request(f"GET / HTTP/1.1\n{normal}"),
        "oversized-header": request(f"GET / HTTP/1.1\n{normal}X-Junk: {'a' * 20000}\n"),
        "oversized-cookie": request(f"GET / HTTP/1.1\n{normal}Cookie: SERVERID=x; junk={'b' * 12000}\n"),
        "many-cookies": request(f"GET / HTTP/1.1\n{normal}Cookie: " + "; ".join(
            f"c{n}=v{n}" for n in range(300)) + "\n"),
        "malformed-cookie": request(f"GET / HTTP/1.1\n{normal}Cookie: ;;;===; SERVERID; =x; session=%%%\n"),
        "forged-flask-session": request(f"GET / HTTP/1.1\n{normal}Cookie: session=eyJhZG1pbiI6dHJ1ZX0.forged.sig\n"),
        "bogus-host": request("GET / HTTP/1.1\nHost: evil.example\nAccept: application/json\nConnection: close\n"),
        "host-with-path": request("GET / HTTP/1.1\nHost: ../../etc/passwd\nConnection: close\n"),
        "no-host-http11": request("GET / HTTP/1.1\nConnection: close\n"),
        "two-hosts": request(f"GET / HTTP/1.1\n{normal}Host: other.example\n"),
        "path-traversal": request(f"GET /../../etc/passwd HTTP/1.1\n{normal}"),
        "encoded-traversal": request(f"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\n{normal}"),
        "encoded-slash-traversal": request(f"GET /static/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\n{normal}"),
        "non-utf8-path": request(f"GET /%ff%fe%00 HTTP/1.1\n{normal}"),
        "unknown-method": request(f"BREW / HTTP/1.1\n{normal}"),
        "garbage-request-line": request("GARBAGE\n"),
        "header-without-colon": request(f"GET / HTTP/1.1\n{normal}NoColonHere\n"),
        "null-byte-in-header": request(f"GET / HTTP/1.1\n{normal}X-Evil: a\x00b\n"),
        "body-too-large": request(f"POST / HTTP/1.1\n{normal}Content-Type: text/plain\n"
                                  "Content-Length: 50000000\n"),
        "bad-content-length": request(f"POST / HTTP/1.1\n{normal}Content-Length: -5\n"),
        "smuggling-cl-te": request(f"POST / HTTP/1.1\n{normal}Content-Length: 4\n"
                                   "Transfer-Encoding: chunked\n", b"0\r\n\r\n"),
        "spoofed-forwarded-headers": request(f"GET / HTTP/1.1\n{normal}X-Forwarded-For: 10.0.0.1\n"
                                             "X-Real-IP: 10.0.0.2\nX-Forwarded-Host: evil.example\n"),
    }


def bad_input_report(target: Target, timeout: float = 10.0) -> dict[str, Any]:
    """Every bad-input case sent once: how each was answered, and what went wrong overall."""
    results: dict[str, dict[str, Any]] = {}
    for name, raw in bad_input_cases(target.netloc or target.host).items():
        answer = send_raw(target, raw, timeout)
        server_id = None
        if answer.status == 200:
            try:
                server_id = answer.json().get("server_id")
            except (ValueError, AttributeError):
                server_id = None
        results[name] = {"status": answer.status, "server_id": server_id,
                         "server_header": answer.header("Server"),
                         "body_mentions_version": b"nginx/" in answer.body}
        if answer.status is None:
            results[name]["error"] = answer.error
    return {
        "cases": results,
        "server_errors": sorted(name for name, result in results.items() if (result["status"] or 0) >= 500),
        "unanswered": sorted(name for name, result in results.items() if result["status"] is None),
        "servers": sorted({result["server_id"] for result in results.values() if result["server_id"]}),
    }

"""The client library (tools/sticky_clients.py) against a real app instance and tiny loopback
servers written here: keep-alive and its retries, connection retries, cookies, source
addresses, latency windows, the steady load, raw requests and the WebSocket client."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import load_module

sc = load_module("tools/sticky_clients.py", "sticky_clients")

Handler = Callable[[socket.socket, int], None]


class LoopbackServer:
    """Accepts connections on 127.0.0.1 and runs `handle(connection, number)` for each one
    in its own thread (number counts from 1). Bounded: every socket has a timeout."""

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None = None):
        self.handle, self.tls = handle, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.peers: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, peer = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.peers.append(peer[0])
            threading.Thread(target=self._run, args=(connection, self.connections), daemon=True).start()

    def _run(self, connection: socket.socket, number: int) -> None:
        connection.settimeout(5)
        try:
            if self.tls:
                connection = self.tls.wrap_socket(connection, server_side=True)
            self.handle(connection, number)
        except OSError:
            pass
        finally:
            connection.close()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture()
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handle: Handler, tls: ssl.SSLContext | None = None) -> LoopbackServer:
        servers.append(LoopbackServer(handle, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def read_request(connection: socket.socket) -> dict[str, str] | None:
    """The request line and headers (lower-case names), or None when the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {"request-line": head[0]}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def respond(connection: socket.socket, document: dict, *extra_headers: str, status: str = "200 OK") -> None:
    body = json.dumps(document).encode()
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}",
            *extra_headers]
    connection.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)


def keep_alive_server(connection: socket.socket, number: int) -> None:
    """Answers every request on the connection; server_id names the connection."""
    while (request := read_request(connection)) is not None:
        respond(connection, {"server_id": f"connection-{number}"})


def one_answer_then_silent_close(connection: socket.socket, number: int) -> None:
    """Promises keep-alive (HTTP/1.1, no Connection: close), then closes after one answer:
    what nginx does to idle connections on a graceful reload."""
    if read_request(connection) is not None:
        respond(connection, {"server_id": "server-1"})


def drop_first_connection(connection: socket.socket, number: int) -> None:
    """The first connection is closed before any answer; later ones are served."""
    if read_request(connection) is not None and number > 1:
        respond(connection, {"server_id": "server-1"})


def drop_every_connection(connection: socket.socket, number: int) -> None:
    read_request(connection)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- a real app instance ------------------------------------------------------------------


def test_each_client_keeps_its_own_session(app_url: str) -> None:
    clients = sc.make_clients(2)
    sc.send_rounds(sc.Target.from_url(app_url), clients, 3, deadline=60)
    report = sc.summarise(clients, 3)
    assert report["failed"] == 0
    assert [entry["visit_counts"] for entry in report["per_client"]] == [[1, 2, 3], [1, 2, 3]]
    assert [entry["local_visits"] for entry in report["per_client"]] == [[1, 2, 3], [1, 2, 3]]
    assert all("session" in client.cookies for client in clients)
    assert clients[0].cookies["session"] != clients[1].cookies["session"]


def test_answers_record_latency_and_start_time(app_url: str) -> None:
    client = sc.Client(1)
    answer = client.send(sc.Target.from_url(app_url))
    assert answer.ok and answer.server_id == "server-1"
    assert answer.latency > 0
    assert answer.started > 1_600_000_000  # epoch seconds, comparable with other hosts' events


def test_post_is_sent_as_post(app_url: str) -> None:
    client = sc.Client(1)
    target = sc.Target.from_url(app_url, method="POST")
    assert [client.send(target).local_visits for _ in range(2)] == [1, 2]


def test_fetch_and_send_raw_read_whole_answers(app_url: str) -> None:
    target = sc.Target.from_url(app_url)
    health = sc.fetch(target.at("/health"))
    assert health.status == 200
    assert {key: health.json()[key] for key in ("status", "server_id")} == {"status": "ok", "server_id": "server-1"}
    host = target.netloc
    raw = sc.send_raw(target, f"GET / HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
                              "Connection: close\r\n\r\n".encode())
    assert raw.status == 200 and raw.json()["server_id"] == "server-1"
    missing = sc.send_raw(target, f"GET /nowhere HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert missing.status == 404 and missing.error is None
    # An HTTP/0.9-style answer (no status line) is no answer.
    garbage = sc.send_raw(target, b"GARBAGE\r\n\r\n")
    assert garbage.status is None and garbage.error


def test_a_port_without_a_server_is_a_failed_unanswered_request() -> None:
    client = sc.Client(1, timeout=2)
    answer = client.send(sc.Target.from_url(f"http://127.0.0.1:{free_port()}/"))
    assert answer.status is None and "ConnectionRefusedError" in (answer.error or "")
    report = sc.summarise([client], 1)
    assert (report["failed"], report["no_answer"], report["connection_retries"]) == (1, 1, 0)


# --- connections and retries --------------------------------------------------------------


def test_keep_alive_sends_every_request_on_one_connection(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(keep_alive_server)
    client = sc.Client(1, keep_alive=True)
    for _ in range(3):
        client.send(sc.Target.from_url(server.url()))
    client.close()
    assert client.servers() == ["connection-1"] * 3
    assert server.connections == 1


def test_without_keep_alive_every_request_opens_a_connection(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(keep_alive_server)
    client = sc.Client(1)
    for _ in range(3):
        client.send(sc.Target.from_url(server.url()))
    assert client.servers() == ["connection-1", "connection-2", "connection-3"]


def test_a_closed_keep_alive_connection_is_retried_once_and_counted_apart(
        serve: Callable[..., LoopbackServer]) -> None:
    server = serve(one_answer_then_silent_close)
    client = sc.Client(1, keep_alive=True)
    target = sc.Target.from_url(server.url())
    answers = [client.send(target) for _ in range(3)]
    assert [answer.status for answer in answers] == [200, 200, 200]
    # Requests 2 and 3 each found their reused connection closed and went out again.
    assert client.keepalive_retries == 2
    assert client.connection_retries == 0
    assert server.connections == 3
    report = sc.summarise([client], 3)
    assert (report["failed"], report["keepalive_retries"]) == (0, 2)


def test_a_fresh_connection_dropped_before_the_answer_is_not_a_keep_alive_retry(
        serve: Callable[..., LoopbackServer]) -> None:
    server = serve(drop_first_connection)
    client = sc.Client(1, keep_alive=True)
    answer = client.send(sc.Target.from_url(server.url()))
    assert answer.status is None
    assert (client.keepalive_retries, client.connection_retries) == (0, 0)


def test_connection_retry_sends_a_dropped_request_once_more(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(drop_first_connection)
    client = sc.Client(1, retry_connection=True)
    answer = client.send(sc.Target.from_url(server.url()))
    assert answer.ok
    assert (client.connection_retries, client.keepalive_retries) == (1, 0)
    assert server.connections == 2


def test_a_request_that_fails_again_after_its_retry_counts_as_failed(
        serve: Callable[..., LoopbackServer]) -> None:
    server = serve(drop_every_connection)
    client = sc.Client(1, retry_connection=True)
    answer = client.send(sc.Target.from_url(server.url()))
    assert answer.status is None
    assert client.connection_retries == 1
    assert server.connections == 2  # one retry, not more
    report = sc.summarise([client], 1)
    assert (report["failed"], report["connection_retries"]) == (1, 1)


def test_a_refused_connection_is_retried_when_configured() -> None:
    client = sc.Client(1, retry_connection=True, timeout=2)
    answer = client.send(sc.Target.from_url(f"http://127.0.0.1:{free_port()}/"))
    assert answer.status is None
    assert client.connection_retries == 1


# --- what a client sends and keeps --------------------------------------------------------


def test_client_binds_its_source_address(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(keep_alive_server)
    clients = sc.make_clients(3, ip_sources=True)
    sc.send_rounds(sc.Target.from_url(server.url()), clients, 1, deadline=30)
    assert server.peers == ["127.0.1.1", "127.0.2.1", "127.0.3.1"]


def test_ip_sources_stop_at_254_clients() -> None:
    with pytest.raises(ValueError, match="1-254"):
        sc.make_clients(255, ip_sources=True)


def test_forwarded_for_is_fixed_per_client_or_spoofed_per_request() -> None:
    fixed = sc.Client(7, forwarded_for_prefix="10.77")
    assert fixed.forwarded_for() == "10.77.7.1"
    spoofed = sc.Client(7, spoof_forwarded_for=True)
    seen = set()
    for _ in range(5):
        seen.add(spoofed.forwarded_for())
        spoofed.answers.append(sc.Answer(status=200))
    assert len(seen) == 5
    assert sc.Client(7).forwarded_for() is None


def sticky_once_server(connection: socket.socket, number: int) -> None:
    """Sets the sticky cookie when the client has none (or a foreign one)."""
    request = read_request(connection)
    if request is None:
        return
    cookie = request.get("cookie", "")
    extra = [] if "SERVERID=0123456789abcdef" in cookie else [
        "Set-Cookie: SERVERID=0123456789abcdef; Path=/; HttpOnly; SameSite=Lax",
        "Set-Cookie: session=s1; Path=/; HttpOnly"]
    respond(connection, {"server_id": "server-1"}, *extra)


def test_the_sticky_cookie_lands_in_the_jar_and_is_counted_once(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(sticky_once_server)
    client = sc.Client(1)
    target = sc.Target.from_url(server.url())
    first, second = client.send(target), client.send(target)
    assert first.sticky_cookie_set == "0123456789abcdef"
    assert first.sticky_set_cookie_header == "SERVERID=0123456789abcdef; Path=/; HttpOnly; SameSite=Lax"
    assert second.sticky_cookie_set is None
    assert client.cookies == {"SERVERID": "0123456789abcdef", "session": "s1"}
    report = sc.summarise([client], 2)
    assert report["sticky_cookie_sets_per_client"] == [1]
    assert report["sticky_cookie_values"] == ["0123456789abcdef"]


def echo_cookie_server(connection: socket.socket, number: int) -> None:
    request = read_request(connection)
    if request is not None:
        respond(connection, {"server_id": "server-1", "cookie": request.get("cookie", "")})


def test_a_forged_cookie_is_sent_and_an_echo_of_it_is_reported(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(echo_cookie_server)
    client = sc.Client(1, preset_cookie="forged-value")
    client.send(sc.Target.from_url(server.url()))
    assert client.echoed_preset
    assert sc.summarise([client], 1)["clients_with_preset_cookie_echoed"] == 1


def test_a_forged_cookie_is_replaced_once_the_balancer_pins(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(sticky_once_server)
    client = sc.Client(1, preset_cookie="forged-value")
    target = sc.Target.from_url(server.url())
    client.send(target)
    assert client.preset_cookie is None and not client.echoed_preset
    assert client.send(target).sticky_cookie_set is None


def test_the_app_does_not_echo_a_forged_sticky_cookie(app_url: str) -> None:
    client = sc.Client(1, preset_cookie="forged-value")
    answer = client.send(sc.Target.from_url(app_url))
    assert answer.ok and not client.echoed_preset


def answered(*servers_and_cookies: tuple[str, str | None]) -> sc.Client:
    client = sc.Client(1)
    client.answers = [sc.Answer(status=200, server_id=server, sticky_cookie_set=cookie)
                      for server, cookie in servers_and_cookies]
    return client


def test_moves_and_re_pins_are_counted_apart() -> None:
    # server-1 (pinned), server-2 with a new cookie (re-pin), server-1 without one (a move only).
    client = answered(("server-1", "aaaa"), ("server-2", "bbbb"), ("server-2", None), ("server-1", None))
    assert client.moves() == 2
    assert client.re_pins() == 1
    report = sc.summarise([client, answered(("server-3", "cccc"), ("server-3", None))], 2)
    assert (report["moved_clients"], report["re_pinned_clients"], report["sticky_clients"]) == (1, 1, 1)


def test_remap_counts_clients_that_reach_another_server() -> None:
    clients = [answered((server, None)) for server in ["server-1", "server-4", "server-3", "server-4"]]
    for number, client in enumerate(clients, start=1):
        client.number = number
    remap = sc.compare_with_baseline(clients, {"1": "server-1", "2": "server-2", "3": "server-3", "4": "server-1"})
    assert remap == {"clients": 4, "moved": 2, "moved_share": 0.5,
                     "moved_to": {"server-4": 2}, "moved_from": {"server-1": 1, "server-2": 1}}
    assert sc.placement(clients[:2]) == {"1": "server-1", "2": "server-4"}


# --- latency ------------------------------------------------------------------------------


def test_percentiles_are_measured_values() -> None:
    latencies = [value / 100 for value in range(100, 0, -1)]  # 0.01 .. 1.00, unsorted
    assert sc.percentiles(latencies) == {"requests": 100, "p50": 0.5, "p99": 0.99, "max": 1.0}
    assert sc.percentiles([0.3]) == {"requests": 1, "p50": 0.3, "p99": 0.3, "max": 0.3}
    assert sc.percentiles([])["p99"] is None


def test_windows_split_answers_around_an_event() -> None:
    answers = [sc.Answer(status=200, started=100.0 + second, latency=latency)
               for second, latency in [(0, 0.01), (1, 0.02), (2, 0.5), (3, 0.7), (4, 0.03)]]
    answers.append(sc.Answer(status=None, started=102.5, latency=1.0))
    windows = sc.before_during_after(answers, event_start=102.0, event_end=104.0)
    assert windows["before"] == {"requests": 2, "p50": 0.01, "p99": 0.02, "max": 0.02, "failed": 0}
    assert windows["during"]["requests"] == 3 and windows["during"]["failed"] == 1
    assert windows["during"]["max"] == 1.0
    assert windows["after"] == {"requests": 1, "p50": 0.03, "p99": 0.03, "max": 0.03, "failed": 0}


# --- the steady load ----------------------------------------------------------------------


def test_steady_load_ends_at_its_request_budget(app_url: str, tmp_path: Path) -> None:
    plan = sc.LoadPlan(clients=3, duration=60, max_requests=30, ready_file=tmp_path / "ready")
    report = sc.run_steady_load(sc.Target.from_url(app_url), plan)
    assert report["requests"] == 30
    assert report["ok"] + report["failed"] == report["requests"]
    assert report["failed"] == 0
    assert report["statuses"] == {"200": 30}
    assert report["servers_per_client"] == [["server-1"]] * 3
    assert report["moved_clients"] == 0
    assert report["latency"]["requests"] == 30
    assert (tmp_path / "ready").read_text() == "running\n"
    assert "event" not in report


def test_steady_load_does_not_start_when_the_stop_file_exists(app_url: str, tmp_path: Path) -> None:
    (tmp_path / "stop").touch()
    plan = sc.LoadPlan(clients=2, duration=60, stop_file=tmp_path / "stop")
    assert sc.run_steady_load(sc.Target.from_url(app_url), plan)["requests"] == 0


def test_steady_load_compares_latency_around_the_event_file(app_url: str, tmp_path: Path) -> None:
    event = tmp_path / "event"
    event.touch()  # the event is under way from the start and never ends
    plan = sc.LoadPlan(clients=2, duration=60, max_requests=20, event_file=event)
    report = sc.run_steady_load(sc.Target.from_url(app_url), plan)
    assert report["event"]["started_at"] is not None and report["event"]["ended_at"] is None
    windows = report["latency_windows"]
    assert windows["before"]["requests"] + windows["during"]["requests"] == 20
    assert windows["after"]["requests"] == 0


def test_watching_the_event_file_records_when_it_came_and_went(tmp_path: Path) -> None:
    event_file = tmp_path / "event"
    event: dict[str, float | None] = {"started_at": None, "ended_at": None}
    sc._watch_event(event_file, event)
    assert event == {"started_at": None, "ended_at": None}
    event_file.touch()
    sc._watch_event(event_file, event)
    started = event["started_at"]
    assert started is not None
    sc._watch_event(event_file, event)
    assert event["started_at"] == started and event["ended_at"] is None
    event_file.unlink()
    sc._watch_event(event_file, event)
    assert event["ended_at"] is not None and event["ended_at"] >= started


def test_steady_load_counts_failures_of_an_absent_server() -> None:
    plan = sc.LoadPlan(clients=2, duration=60, max_requests=6, timeout=2)
    report = sc.run_steady_load(sc.Target.from_url(f"http://127.0.0.1:{free_port()}/"), plan)
    assert (report["requests"], report["failed"], report["no_answer"]) == (6, 6, 6)
    assert report["statuses"] == {"none": 6}
    assert len(report["failure_times"]) == 6


# --- the bad-input cases ------------------------------------------------------------------


def test_bad_input_report_answers_every_case(serve: Callable[..., LoopbackServer]) -> None:
    def answer_anything(connection: socket.socket, number: int) -> None:
        if read_request(connection) is not None:
            respond(connection, {"server_id": "server-9"}, "Server: nginx", "Connection: close")

    server = serve(answer_anything)
    report = sc.bad_input_report(sc.Target.from_url(server.url()), timeout=5)
    assert set(report["cases"]) == set(sc.bad_input_cases("x"))
    # The fake server answers 200 to anything it can read; "GARBAGE" has no header end.
    assert report["servers"] == ["server-9"]
    assert report["server_errors"] == []
    assert report["cases"]["baseline"] == {"status": 200, "server_id": "server-9", "server_header": "nginx",
                                           "body_mentions_version": False}


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl's command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_is_verified_against_the_cafile(serve: Callable[..., LoopbackServer],
                                              certificate: tuple[Path, Path]) -> None:
    server = serve(keep_alive_server, tls=server_tls(certificate))
    client = sc.Client(1, keep_alive=True)
    answers = [client.send(sc.Target.from_url(server.url("https"), cafile=str(certificate[0])))
               for _ in range(2)]
    client.close()
    assert [answer.server_id for answer in answers] == ["connection-1", "connection-1"]


def test_an_unverifiable_certificate_fails_and_is_not_retried(serve: Callable[..., LoopbackServer],
                                                              certificate: tuple[Path, Path]) -> None:
    server = serve(keep_alive_server, tls=server_tls(certificate))
    client = sc.Client(1, retry_connection=True)
    answer = client.send(sc.Target.from_url(server.url("https")))  # system CAs: not ours
    assert answer.status is None and "SSLCertVerificationError" in (answer.error or "")
    assert client.connection_retries == 0


# --- WebSocket ----------------------------------------------------------------------------


def read_frame(connection: socket.socket) -> tuple[int, bytes]:
    """One client frame (always masked): opcode and unmasked payload."""
    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    first, second = exactly(2)
    assert second & 0x80, "client frames must be masked"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", exactly(8))
    mask = exactly(4)
    payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(exactly(length)))
    return first & 0x0F, payload


def server_frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x80 | opcode, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, length) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, length) + payload


class EchoWebSocketServer:
    """The app's /ws as a tiny stdlib server: hello on connect, an echo per text message,
    a ping before the first echo (the client must answer it), `cut` drops the connection."""

    def __init__(self) -> None:
        self.cookies_seen: list[str] = []
        self.pongs: list[bytes] = []

    def __call__(self, connection: socket.socket, number: int) -> None:
        request = read_request(connection)
        if request is None:
            return
        self.cookies_seen.append(request.get("cookie", ""))
        accept = base64.b64encode(hashlib.sha1(
            (request["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        pin = [] if "SERVERID=" in request.get("cookie", "") else [
            "Set-Cookie: SERVERID=0123456789abcdef; Path=/; HttpOnly"]
        head = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {accept}", *pin]
        hello = json.dumps({"server_id": "ws-1", "hello": True}).encode()
        # The hello goes out in the same packet as the handshake: the client must keep it.
        connection.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + server_frame(0x1, hello))
        pinged = False
        while True:
            opcode, payload = read_frame(connection)
            if opcode == 0xA:
                self.pongs.append(payload)
            elif opcode == 0x8:
                connection.sendall(server_frame(0x8, payload))
                return
            elif opcode == 0x1:
                if payload == b"cut":
                    connection.shutdown(socket.SHUT_RDWR)
                    return
                if not pinged:
                    connection.sendall(server_frame(0x9, b"are-you-there"))
                    pinged = True
                echo = json.dumps({"server_id": "ws-1", "echo": payload.decode()}).encode()
                connection.sendall(server_frame(0x1, echo))


def test_websocket_hello_echo_and_the_pin_from_the_handshake(serve: Callable[..., LoopbackServer]) -> None:
    handler = EchoWebSocketServer()
    server = serve(handler)
    client = sc.Client(1)
    websocket = client.open_websocket(sc.Target.from_url(server.url()))
    assert websocket.handshake.status == 101
    assert websocket.handshake.sticky_cookie_set == "0123456789abcdef"
    assert client.cookies["SERVERID"] == "0123456789abcdef"
    assert websocket.receive_json() == {"server_id": "ws-1", "hello": True}
    assert websocket.echo("hello there") == {"server_id": "ws-1", "echo": "hello there"}
    long_text = "x" * 70000  # a 64-bit length field
    assert websocket.echo(long_text)["echo"] == long_text
    assert not websocket.is_cut(wait=0.2)
    websocket.close()
    assert handler.pongs == [b"are-you-there"]


def test_websocket_carries_the_clients_cookies(serve: Callable[..., LoopbackServer]) -> None:
    handler = EchoWebSocketServer()
    server = serve(handler)
    client = sc.Client(1, cookies={"SERVERID": "fedcba9876543210", "session": "abc"})
    websocket = client.open_websocket(sc.Target.from_url(server.url()))
    websocket.receive_json()
    websocket.close()
    assert handler.cookies_seen == ["SERVERID=fedcba9876543210; session=abc"]
    assert websocket.handshake.sticky_cookie_set is None
    assert client.cookies["SERVERID"] == "fedcba9876543210"


def test_websocket_reports_a_cut_connection(serve: Callable[..., LoopbackServer]) -> None:
    server = serve(EchoWebSocketServer())
    websocket = sc.Client(1).open_websocket(sc.Target.from_url(server.url()))
    websocket.receive_json()
    websocket.send_text("cut")
    assert websocket.is_cut(wait=5)
    assert websocket.cut
    with pytest.raises(sc.WebSocketClosed):
        websocket.echo("anyone?")
    websocket.close()


def test_websocket_over_tls(serve: Callable[..., LoopbackServer], certificate: tuple[Path, Path]) -> None:
    server = serve(EchoWebSocketServer(), tls=server_tls(certificate))
    target = sc.Target.from_url(server.url("https"), cafile=str(certificate[0]))
    websocket = sc.Client(1).open_websocket(target)
    assert websocket.receive_json()["hello"] is True
    assert websocket.echo("secure")["echo"] == "secure"
    websocket.close()


def test_a_refused_upgrade_is_an_error(serve: Callable[..., LoopbackServer]) -> None:
    def not_a_websocket(connection: socket.socket, number: int) -> None:
        if read_request(connection) is not None:
            respond(connection, {"server_id": "server-1"}, status="404 Not Found")

    server = serve(not_a_websocket)
    with pytest.raises(sc.WebSocketClosed, match="status 404"):
        sc.Client(1).open_websocket(sc.Target.from_url(server.url()))


def test_a_non_ascii_forged_cookie_goes_out_as_utf8(serve: Callable[..., LoopbackServer]) -> None:
    received: list[str] = []

    def record_cookie(connection: socket.socket, number: int) -> None:
        request = read_request(connection)
        if request is not None:
            received.append(request.get("cookie", ""))
            respond(connection, {"server_id": "server-1"})

    server = serve(record_cookie)
    assert sc.Client(1, preset_cookie="grüße-€").send(sc.Target.from_url(server.url())).ok
    assert received == ["SERVERID=grüße-€".encode().decode("latin-1")]


# --- the command lines on top of the library ----------------------------------------------

steady_load = load_module("tools/steady_load.py", "steady_load")
bad_http_input = load_module("tools/bad_http_input.py", "bad_http_input")


def test_steady_load_command_keeps_its_report_fields(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert steady_load.main([app_url, "--clients", "2", "--duration", "30", "--max-requests", "10"]) == 0
    report = json.loads(capsys.readouterr().out)
    old_fields = {"clients", "seconds", "requests", "ok", "failed", "statuses", "keepalive_retries",
                  "moved_clients", "servers_per_client", "failure_times", "errors_sample", "requests_per_second"}
    assert old_fields <= set(report)
    assert (report["requests"], report["failed"], report["connection_retries"]) == (10, 0, 0)


def test_bad_http_input_command_reports_every_case(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bad_http_input.main([app_url, "--timeout", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["cases"]) == set(sc.bad_input_cases("x"))
    assert report["cases"]["baseline"]["status"] == 200
    assert report["servers"] == ["server-1"]

"""The app under a real gunicorn (gthread worker) on 127.0.0.1: WebSockets and trusted proxies.

The Flask test client cannot speak WebSocket, so these tests start gunicorn the way the
flask_app role does (``stickyapp:create_app()``, gthread), on a loopback socket this test
opens itself, and talk to it with a small stdlib WebSocket client. Every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stickyapp.websocket import MAX_MESSAGE_BYTES

APP_DIR = Path(__file__).resolve().parent.parent
IO_TIMEOUT_SECONDS = 5.0
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# RFC 6455: the server proves it read the handshake by hashing the key with this GUID.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE = 0x1, 0x2, 0x8


@dataclass
class Gunicorn:
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_gunicorn(state: Path, trusted_proxies: str = "") -> Iterator[Gunicorn]:
    """One gunicorn (1 gthread worker, 4 threads) serving stickyapp on a free loopback port, with
    the app's own settings module as the role's unit loads it (its forwarded_allow_ips is empty:
    the app, not gunicorn, decides whose X-Forwarded-Proto counts). Both logs go to one file.

    The listening socket is opened here and handed over (``fd://``), so no other process can
    take the port between choosing it and binding it.
    """
    log = state / "gunicorn.log"
    state.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    environment = os.environ | {
        "PYTHONPATH": str(APP_DIR),
        "SECRET_KEY": "w" * 32,
        "SERVER_ID": "server-ws",
        "STATE_DIRECTORY": str(state),
        "STICKYAPP_TRUSTED_PROXIES": trusted_proxies,
    }
    command = [
        sys.executable, "-m", "gunicorn", "--config", "python:stickyapp.gunicorn_settings",
        "--worker-class", "gthread", "--workers", "1", "--threads", "4",
        "--bind", f"fd://{listener.fileno()}",
        "--error-logfile", str(log), "--access-logfile", str(log), "--log-level", "info",
        "stickyapp:create_app()",
    ]
    # A session of its own, so that a stop that has to kill takes the worker with the arbiter.
    process = subprocess.Popen(
        command, env=environment, cwd=state, pass_fds=[listener.fileno()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    listener.close()
    server = Gunicorn(port, log, process)
    try:
        _wait_until_healthy(process, server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _wait_until_healthy(process: subprocess.Popen[bytes], server: Gunicorn) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.log_text()}")
        try:
            if get(server.port, "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer /health in {START_TIMEOUT_SECONDS} s")


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """One plain HTTP GET; returns the status and the Set-Cookie headers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


class WebSocketClient:
    """Just enough of RFC 6455 for a test: handshake, masked frames out, unmasked frames in."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_SECONDS)
        self._buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self._socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in header_lines if ":" in line)
        }
        # SHA-1 because RFC 6455 says so: this is a handshake check, not security.
        digest = hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()
        self.expected_accept = base64.b64encode(digest).decode()

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection during the handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(marker, 1)
        return head

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self._socket.sendall(header + mask + masked)

    def receive(self) -> tuple[int, bytes]:
        first, second = self._read_exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        return first & 0x0F, self._read_exactly(length)

    def send_text(self, text: str) -> None:
        self.send(OPCODE_TEXT, text.encode())

    def receive_json(self) -> Any:
        opcode, payload = self.receive()
        assert opcode == OPCODE_TEXT, f"expected a text frame, got opcode {opcode}"
        return json.loads(payload)

    def close(self) -> int:
        """Close politely and return the status code of the server's close frame."""
        self.send(OPCODE_CLOSE, struct.pack("!H", 1000))
        return self.receive_close()

    def receive_close(self) -> int:
        opcode, payload = self.receive()
        while opcode != OPCODE_CLOSE:
            opcode, payload = self.receive()
        self._socket.close()
        return int(struct.unpack("!H", payload[:2])[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    with running_gunicorn(tmp_path_factory.mktemp("untrusted")) as running:
        yield running


def wait_for_log_lines(server: Gunicorn, text: str, count: int = 1) -> list[str]:
    """The log lines containing text, once there are count of them (written as connections end)."""
    deadline = time.monotonic() + IO_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        lines = [line for line in server.log_text().splitlines() if text in line]
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    pytest.fail(f"fewer than {count} log lines with {text!r}:\n{server.log_text()}")


def test_websocket_greets_then_echoes_each_text_message(server: Gunicorn) -> None:
    client = WebSocketClient(server.port)
    assert client.status == 101
    assert client.headers["sec-websocket-accept"] == client.expected_accept
    assert client.receive_json() == {"server_id": "server-ws", "hello": True}
    for message in ["hello", "ünïcödé ✓", '{"not": "parsed"}', "x" * 300]:
        client.send_text(message)
        assert client.receive_json() == {"server_id": "server-ws", "echo": message}
    assert client.close() == 1000


def test_websocket_connections_are_served_side_by_side(server: Gunicorn) -> None:
    # Each open WebSocket holds one gthread thread; a second one must not wait for the first.
    first, second = WebSocketClient(server.port), WebSocketClient(server.port)
    assert first.receive_json()["hello"] is True
    assert second.receive_json()["hello"] is True
    second.send_text("two")
    first.send_text("one")
    assert first.receive_json()["echo"] == "one"
    assert second.receive_json()["echo"] == "two"
    assert get(server.port, "/health")[0] == 200
    assert first.close() == 1000
    assert second.close() == 1000


def test_websocket_refuses_binary_messages(server: Gunicorn) -> None:
    client = WebSocketClient(server.port)
    client.receive_json()
    client.send(OPCODE_BINARY, b"\x00\x01")
    assert client.receive_close() == 1003  # unsupported data


def test_websocket_refuses_oversized_messages(server: Gunicorn) -> None:
    client = WebSocketClient(server.port)
    client.receive_json()
    client.send_text("x" * (MAX_MESSAGE_BYTES + 1))
    assert client.receive_close() == 1009  # message too big


def test_websocket_close_is_logged_with_the_request_id(server: Gunicorn) -> None:
    client = WebSocketClient(server.port, headers={"X-Request-ID": "test-4c1d"})
    client.receive_json()
    client.send_text("one")
    client.receive_json()
    client.close()
    (line,) = wait_for_log_lines(server, "request_id=test-4c1d")
    assert "websocket closed" in line
    assert "messages_echoed=1" in line


def test_access_log_line_carries_the_request_id(server: Gunicorn) -> None:
    """stickyapp.gunicorn_settings: one line per request, with the id nginx sent as X-Request-ID."""
    request_id = "e2b1c0d4f5a6978812345678abcdef01"
    assert get(server.port, "/health", {"X-Request-ID": request_id})[0] == 200
    deadline = time.monotonic() + IO_TIMEOUT_SECONDS
    while not (lines := [line for line in server.log_text().splitlines() if f"request_id={request_id}" in line]):
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.05)
    assert lines[0].startswith('127.0.0.1 "GET /health HTTP/1.1" 200 '), lines


def test_forged_https_header_gets_no_secure_cookie_from_gunicorn(server: Gunicorn) -> None:
    # The server fixture trusts no proxy: a loopback client claiming HTTPS is not believed.
    status, cookies = get(server.port, "/", {"X-Forwarded-Proto": "https"})
    assert status == 200
    assert cookies and all("secure" not in cookie.lower() for cookie in cookies)


def test_trusted_proxy_https_header_gets_a_secure_cookie_from_gunicorn(tmp_path: Path) -> None:
    with running_gunicorn(tmp_path, trusted_proxies="127.0.0.1") as trusting:
        _status, https_cookies = get(trusting.port, "/", {"X-Forwarded-Proto": "https"})
        _status, plain_cookies = get(trusting.port, "/")
        # The WebSocket still upgrades when the proxy reports HTTPS (the route is wss then).
        client = WebSocketClient(trusting.port, headers={"X-Forwarded-Proto": "https"})
        assert client.status == 101
        assert client.receive_json()["hello"] is True
        client.close()
    assert https_cookies and all("; secure" in cookie.lower() for cookie in https_cookies)
    assert plain_cookies and all("secure" not in cookie.lower() for cookie in plain_cookies)


def test_closed_websockets_do_not_hold_up_a_graceful_stop(tmp_path: Path) -> None:
    # A rolling update stops instances with SIGTERM; gunicorn waits for every thread of the
    # worker. Connections closed by the client, by the app (binary message) and by the
    # WebSocket library (message too big) must leave no thread behind.
    with running_gunicorn(tmp_path) as stopping:
        closed_by_client = WebSocketClient(stopping.port)
        closed_by_client.receive_json()
        closed_by_client.close()
        for frame in [(OPCODE_BINARY, b"\x00"), (OPCODE_TEXT, b"x" * (MAX_MESSAGE_BYTES + 1))]:
            refused = WebSocketClient(stopping.port)
            refused.receive_json()
            refused.send(*frame)
            refused.receive_close()
        wait_for_log_lines(stopping, "websocket closed", count=3)
        stopping.process.terminate()
        # Generous bound: a stop takes well under a second; a thread left behind would hold
        # it until gunicorn's graceful timeout (30 s).
        assert stopping.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0

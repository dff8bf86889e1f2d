#!/usr/bin/python3 -IS
"""Exit 0 when nginx answers its health URL with 200 within 0.8 s, 1 otherwise.

keepalived runs this every second on every lb host (vrrp_script stickylab_nginx_answers in
keepalived.conf, installed by roles/keepalived). A hung nginx fails it as surely as a dead
one: the connection, the request and the whole answer share one deadline, so a process that
accepts connections but never answers does not pass. Usage:

    check_nginx_answers.py http://127.0.0.1:8081/stickylab-lb-health

Plain sockets rather than urllib.request: this starts about twice as fast (about 20 ms), and
it runs every second. The reason for a failure goes to stderr, for whoever runs it by hand.
"""

from __future__ import annotations

import socket
import sys
import time
from urllib.parse import urlsplit

# Under the 1 s interval: a check ends before the next one is due. At 1 s keepalived skips
# every other run while nginx hangs ("already running"), and the address moved a second later.
TIMEOUT_SECONDS = 0.8
MAX_ANSWER_BYTES = 65536


def parse_url(url: str) -> tuple[str, int, str]:
    """Host, port and path of a plain-HTTP URL (nginx answers the health URL without TLS)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URL: {url!r}")
    return parts.hostname, parts.port or 80, parts.path or "/"


def _remaining(deadline: float) -> float:
    """Seconds left before the deadline; past it, the answer came too late."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no complete answer in time")
    return left


def fetch_status(url: str, timeout: float = TIMEOUT_SECONDS) -> int:
    """The HTTP status of a complete answer to GET url, received within timeout seconds.

    Raises OSError (including socket.timeout) when nothing or only part of an answer arrives.
    """
    host, port, path = parse_url(url)
    deadline = time.monotonic() + timeout
    host_header = f"[{host}]" if ":" in host else host
    request = f"GET {path} HTTP/1.0\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode()
    answer = b""
    with socket.create_connection((host, port), timeout=_remaining(deadline)) as connection:
        connection.settimeout(_remaining(deadline))
        connection.sendall(request)
        while len(answer) < MAX_ANSWER_BYTES:
            connection.settimeout(_remaining(deadline))
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise OSError(f"not an HTTP answer: {answer[:60]!r}")
    return int(status_line[1])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} http://127.0.0.1:8081/stickylab-lb-health", file=sys.stderr)
        return 2
    try:
        status = fetch_status(argv[1])
    except (OSError, ValueError) as error:
        print(f"nginx did not answer {argv[1]}: {error or type(error).__name__}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"nginx answered {argv[1]} with {status}, not 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

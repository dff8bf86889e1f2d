#!/usr/bin/env python3
"""Send malformed and hostile HTTP requests to a load balancer and report how each was answered.

Every case is one raw request on its own connection (so nothing a client library would fix up
or refuse gets in the way). A well-behaved deployment answers each with a normal page or a
4xx, never a 5xx and never silence, and every page it serves comes from one of its own
servers. Standard library only; prints one JSON document:

    {"cases": {"oversized-header": {"status": 400, "server_id": null}, ...},
     "server_errors": [...], "unanswered": [...]}

Usage: bad_http_input.py URL [--cafile CERT]   (URL like http://127.0.0.1/ or https://...)
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import urllib.parse
from typing import Any


def cases(host: str) -> dict[str, bytes]:
    """name -> raw request bytes. `host` is the Host header a normal client would send."""
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


def send(url: urllib.parse.SplitResult, raw: bytes, context: ssl.SSLContext | None,
         timeout: float) -> dict[str, Any]:
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout) as plain:
            connection = context.wrap_socket(plain, server_hostname=url.hostname) if context else plain
            with connection:
                connection.sendall(raw)
                answer = b""
                # Every case asks for Connection: close (or is closed by the server): read to
                # the end, at most 1 MB; the socket timeout bounds the wait.
                while len(answer) < 1 << 20:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
    except (OSError, ssl.SSLError) as error:
        return {"status": None, "error": f"{type(error).__name__}: {error}"}
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    server_id = None
    if status == 200:
        try:
            server_id = json.loads(body.decode("utf-8", "replace")).get("server_id")
        except ValueError:
            server_id = None
    server_header = next((line.split(b":", 1)[1].strip().decode("latin-1")
                          for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"server:")), None)
    return {"status": status, "server_id": server_id, "server_header": server_header,
            "body_mentions_version": b"nginx/" in body}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--cafile", help="CA bundle for an https:// URL")
    parser.add_argument("--timeout", type=float, default=10.0)
    arguments = parser.parse_args(argv)
    url = urllib.parse.urlsplit(arguments.url)
    context = ssl.create_default_context(cafile=arguments.cafile) if url.scheme == "https" else None
    host = url.netloc
    results = {name: send(url, raw, context, arguments.timeout) for name, raw in cases(host).items()}
    json.dump({
        "cases": results,
        "server_errors": sorted(n for n, r in results.items() if (r["status"] or 0) >= 500),
        "unanswered": sorted(n for n, r in results.items() if r["status"] is None),
        "servers": sorted({r["server_id"] for r in results.values() if r.get("server_id")}),
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

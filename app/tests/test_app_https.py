"""HTTPS through the load balancer: cookies carry Secure exactly when the request was HTTPS.

The app learns the scheme from X-Forwarded-Proto, and believes it (and X-Forwarded-For) only
from a peer listed in STICKYAPP_TRUSTED_PROXIES. Peers are set through the test client's
REMOTE_ADDR; nothing leaves the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.http import parse_cookie

from stickyapp import create_app
from stickyapp.proxy import TrustedProxyMiddleware, is_trusted_proxy
from stickyapp.settings import parse_trusted_proxies

PROXY = "192.0.2.10"
STRANGER = "203.0.113.5"
FORWARDED_HTTPS = {"X-Forwarded-Proto": "https"}


def make_client(tmp_path: Path, trusted_proxies: str) -> FlaskClient:
    app = create_app({
        "SECRET_KEY": "s" * 32,
        "SERVER_ID": "server-1",
        "STATE_DIRECTORY": str(tmp_path),
        "STICKYAPP_TRUSTED_PROXIES": trusted_proxies,
    })
    return app.test_client()


def session_cookie_attributes(set_cookie_headers: Iterable[str]) -> set[str]:
    """The lower-cased attribute names of the session's Set-Cookie header (e.g. {"secure"})."""
    for header in set_cookie_headers:
        name_value, *attributes = (part.strip() for part in header.split(";"))
        if name_value.startswith("session="):
            return {attribute.split("=")[0].lower() for attribute in attributes}
    raise AssertionError(f"no session cookie in {list(set_cookie_headers)}")


def visit(client: FlaskClient, peer: str, headers: dict[str, str] | None = None,
          path: str = "/", method: str = "GET") -> set[str]:
    response = client.open(path, method=method, headers=headers or {},
                           environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 200
    return session_cookie_attributes(response.headers.getlist("Set-Cookie"))


def test_plain_http_cookie_is_not_secure(tmp_path: Path) -> None:
    client = make_client(tmp_path, PROXY)
    assert "secure" not in visit(client, PROXY)
    assert "secure" not in visit(client, STRANGER)


def test_https_through_a_trusted_proxy_gives_a_secure_cookie(tmp_path: Path) -> None:
    attributes = visit(make_client(tmp_path, PROXY), PROXY, FORWARDED_HTTPS)
    assert {"secure", "httponly", "samesite"} <= attributes


def test_trusted_proxy_reporting_http_gives_no_secure_cookie(tmp_path: Path) -> None:
    client = make_client(tmp_path, PROXY)
    assert "secure" not in visit(client, PROXY, {"X-Forwarded-Proto": "http"})


def test_forged_https_header_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    assert "secure" not in visit(make_client(tmp_path, PROXY), STRANGER, FORWARDED_HTTPS)


def test_nobody_is_trusted_by_default(tmp_path: Path) -> None:
    assert "secure" not in visit(make_client(tmp_path, ""), PROXY, FORWARDED_HTTPS)


def test_proxy_network_is_trusted_as_a_whole(tmp_path: Path) -> None:
    client = make_client(tmp_path, "10.0.0.0/24, 2001:db8::/64")
    assert "secure" in visit(client, "10.0.0.77", FORWARDED_HTTPS)
    assert "secure" in visit(client, "2001:db8::5", FORWARDED_HTTPS)
    assert "secure" not in visit(client, "10.0.1.77", FORWARDED_HTTPS)


def test_scheme_is_decided_per_request(tmp_path: Path) -> None:
    # One instance serves the load balancer's HTTP and HTTPS listeners at once.
    client = make_client(tmp_path, PROXY)
    assert "secure" in visit(client, PROXY, FORWARDED_HTTPS)
    assert "secure" not in visit(client, PROXY)
    assert "secure" in visit(client, PROXY, FORWARDED_HTTPS)


def test_reset_over_https_clears_the_cookie_with_secure(tmp_path: Path) -> None:
    client = make_client(tmp_path, PROXY)
    visit(client, PROXY, FORWARDED_HTTPS)
    response = client.post("/reset", headers=FORWARDED_HTTPS, environ_base={"REMOTE_ADDR": PROXY})
    attributes = session_cookie_attributes(response.headers.getlist("Set-Cookie"))
    assert "secure" in attributes
    assert "expires" in attributes


def test_session_set_over_https_still_counts_over_http(tmp_path: Path) -> None:
    # The scheme decides the flag on the cookie, not whether the session is read.
    client = make_client(tmp_path, PROXY)
    response = client.get("/", headers=FORWARDED_HTTPS, environ_base={"REMOTE_ADDR": PROXY})
    value = parse_cookie(response.headers["Set-Cookie"])["session"]
    plain = make_client(tmp_path, PROXY)
    plain.set_cookie("session", value)
    assert plain.get("/", environ_base={"REMOTE_ADDR": PROXY}).get_json()["visit_count"] == 2


def seen_by_app(trusted_proxies: str, environ: dict[str, Any]) -> dict[str, Any]:
    """Run the middleware around a tiny WSGI app and return the environ that app received."""
    received: dict[str, Any] = {}

    def app(inner_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        received.update(inner_environ)
        start_response("204 No Content", [])
        return []

    middleware = TrustedProxyMiddleware(app, parse_trusted_proxies(trusted_proxies))
    middleware({"wsgi.url_scheme": "http", "REQUEST_METHOD": "GET", **environ},
               lambda status, headers: None)
    return received


def test_client_address_comes_from_a_trusted_proxy() -> None:
    seen = seen_by_app(PROXY, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.1",
                               "HTTP_X_FORWARDED_PROTO": "https"})
    assert seen["REMOTE_ADDR"] == "198.51.100.1"
    assert seen["wsgi.url_scheme"] == "https"


def test_client_address_from_an_untrusted_peer_is_ignored() -> None:
    seen = seen_by_app(PROXY, {"REMOTE_ADDR": STRANGER, "HTTP_X_FORWARDED_FOR": "198.51.100.1",
                               "HTTP_X_FORWARDED_PROTO": "https"})
    assert seen["REMOTE_ADDR"] == STRANGER
    assert seen["wsgi.url_scheme"] == "http"


def test_only_the_last_forwarded_hop_counts() -> None:
    # nginx appends the address it saw; whatever the client put before it is the client's word.
    seen = seen_by_app(PROXY, {"REMOTE_ADDR": PROXY,
                               "HTTP_X_FORWARDED_FOR": "10.9.9.9, 198.51.100.1"})
    assert seen["REMOTE_ADDR"] == "198.51.100.1"


@pytest.mark.parametrize(
    ("remote_addr", "trusted"),
    [
        ("192.0.2.10", True),
        ("::ffff:192.0.2.10", True),
        ("192.0.2.11", False),
        ("", False),
        (None, False),
        ("unix:/run/stickyapp.sock", False),
    ],
)
def test_trusted_peer_matching(remote_addr: str | None, trusted: bool) -> None:
    assert is_trusted_proxy(remote_addr, parse_trusted_proxies(PROXY)) is trusted

"""HTTPS as a client sees it: plain HTTP points to HTTPS, only the configured TLS versions
shake hands, the certificate verifies for the address in the URL, and the security headers."""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any

import pytest
import sticky_clients as sc

pytestmark = pytest.mark.usefixtures("tls_deployment")

VERSIONS = {"TLSv1.3": ssl.TLSVersion.TLSv1_3, "TLSv1.2": ssl.TLSVersion.TLSv1_2}


def handshake(target: sc.Target, cafile: str | None, version: str) -> str:
    """The version negotiated when only `version` is offered, or "refused: <error>"."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = context.maximum_version = VERSIONS[version]
    try:
        with socket.create_connection((target.host, target.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=target.host) as tls:
                return str(tls.version())
    except (ssl.SSLError, OSError) as error:
        return f"refused: {type(error).__name__}"


def test_plain_http_redirects_to_the_same_page_over_https(deployment: dict[str, Any]) -> None:
    answer = sc.fetch(sc.Target.from_url(deployment["http_url"] + "some/page?x=1"))
    assert answer.status == 301, (answer.status, answer.error)
    assert answer.header("Location") == deployment["url"] + "some/page?x=1"


def test_tls13_shakes_hands_with_a_certificate_that_verifies(lb: sc.Target, cafile: str | None) -> None:
    assert handshake(lb, cafile, "TLSv1.3") == "TLSv1.3"


def test_tls12_shakes_hands_only_when_the_profile_allows_it(lb: sc.Target, cafile: str | None,
                                                           deployment: dict[str, Any]) -> None:
    result = handshake(lb, cafile, "TLSv1.2")
    if "TLSv1.2" in deployment["tls_protocols"]:
        assert result == "TLSv1.2"
    else:
        assert result.startswith("refused"), f"TLS 1.2 is off in {deployment['tls_protocols']}, got {result}"


def test_https_answers_carry_hsts_and_the_security_headers(lb: sc.Target) -> None:
    answer = sc.fetch(lb.at("/health"))
    assert answer.status == 200, (answer.status, answer.error)
    assert re.match(r"max-age=[1-9]", answer.header("Strict-Transport-Security") or ""), answer.headers
    assert answer.header("X-Content-Type-Options") == "nosniff", answer.headers
    assert answer.header("X-Frame-Options") == "DENY", answer.headers
    assert answer.header("Server") == "nginx", answer.headers

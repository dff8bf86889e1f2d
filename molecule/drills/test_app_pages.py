"""The app through the load balancer, as a browser meets it: an icon rather than a 404, and
every cookie marked Secure when the load balancer terminates TLS (the app's session cookie
included, which the app marks only because the request came from a trusted proxy over HTTPS).
"""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc


def test_the_browsers_icon_request_gets_an_icon(lb: sc.Target) -> None:
    answer = sc.fetch(lb.at("/favicon.ico"))
    assert answer.status == 200, answer
    assert (answer.header("Content-Type") or "").startswith("image/"), answer.headers


def test_every_cookie_carries_secure_exactly_when_the_site_is_https(
        lb: sc.Target, deployment: dict[str, Any]) -> None:
    answer = sc.fetch(lb)
    cookies = [text for name, text in answer.headers if name.lower() == "set-cookie"]
    names = sorted(cookie.split("=", 1)[0] for cookie in cookies)
    assert "session" in names, cookies
    for cookie in cookies:
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert ("secure" in attributes) == deployment["tls"], cookie


def test_a_forged_forwarded_proto_does_not_make_plain_http_secure(deployment: dict[str, Any]) -> None:
    if deployment["this_host"] in deployment["lb_hosts"]:
        pytest.skip("this host is a load balancer, which the app trusts: the drill needs a client host")
    # Straight to an instance, past nginx, claiming HTTPS: a client, not a trusted proxy.
    answer = sc.fetch(sc.Target.from_url(f"http://{deployment['backends'][0]['endpoint']}/"),
                      headers={"X-Forwarded-Proto": "https"})
    cookies = [text for name, text in answer.headers if name.lower() == "set-cookie"]
    assert cookies and all("secure" not in cookie.lower() for cookie in cookies), cookies

"""Believe X-Forwarded-Proto and X-Forwarded-For only from the load balancer.

nginx terminates TLS and talks plain HTTP to the app, so the app learns that a request came
in over HTTPS (and from which client) only from nginx's ``X-Forwarded-*`` headers. Any client
can send those headers too, so they count only when the direct peer is a trusted proxy
(``STICKYAPP_TRUSTED_PROXIES``); from anyone else they are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from stickyapp.settings import IPNetwork

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def is_trusted_proxy(remote_addr: str | None, trusted_proxies: Iterable[IPNetwork]) -> bool:
    """Whether the direct peer's address lies in one of the trusted networks.

    A peer without an IP address (a Unix socket) is not trusted. An IPv4 peer seen through
    an IPv6 socket (``::ffff:10.0.0.5``) is matched by its IPv4 address.
    """
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_proxies)


class TrustedProxyMiddleware:
    """Apply Werkzeug's ProxyFix (one proxy hop: scheme and client address) to trusted peers only.

    ProxyFix on its own believes whoever sends the headers; this wrapper first checks who
    sent them.
    """

    def __init__(self, app: WSGIApplication, trusted_proxies: Iterable[IPNetwork]) -> None:
        self._app = app
        self._through_proxy = ProxyFix(app, x_for=1, x_proto=1)
        self._trusted_proxies = tuple(trusted_proxies)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if is_trusted_proxy(environ.get("REMOTE_ADDR"), self._trusted_proxies):
            return self._through_proxy(environ, start_response)
        return self._app(environ, start_response)

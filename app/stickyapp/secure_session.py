"""The session cookie carries ``Secure`` exactly when the request came in over HTTPS.

One deployment can serve both HTTP and HTTPS through the load balancer, so a fixed
``SESSION_COOKIE_SECURE`` would be wrong for one of them: it is decided per request instead,
from the scheme the trusted proxy reported (see stickyapp.proxy).
"""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class SecureWhenHttpsSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag following the request's scheme."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and request.is_secure

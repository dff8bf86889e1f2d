"""stickyapp: the Flask program behind the load balancer.

Each instance reports who it is and what it remembers about the caller, so a person (or a
test) can see whether the load balancer keeps a session on one server:

- ``visit_count`` and ``servers_seen`` travel in Flask's signed session cookie, so every
  instance must share one ``SECRET_KEY``; they survive a change of server.
- ``local_visits`` lives only on the instance that served the request (SQLite in the
  instance's state directory); it is what a user loses when stickiness breaks.

Besides the pages below, the package holds: ``settings`` (every environment variable the app
reads), ``proxy`` (which X-Forwarded-* headers to believe), ``secure_session`` (Secure cookies over
HTTPS), ``websocket`` (the ``/ws`` echo) and ``store`` (the server-local visit count).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import secrets
from collections.abc import Mapping

from flask import (
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from stickyapp.proxy import TrustedProxyMiddleware
from stickyapp.secure_session import SecureWhenHttpsSessionInterface
from stickyapp.settings import ConfigurationError, settings_from
from stickyapp.store import LocalVisitStore
from stickyapp.websocket import register_websocket

SESSION_ID_KEY = "session_id"
# Browsers may keep the icon for a day: it changes, if ever, with a new version of the app.
FAVICON_MAX_AGE_SECONDS = 24 * 60 * 60

__all__ = ["ConfigurationError", "create_app", "server_colour"]


def server_colour(server_id: str) -> str:
    """A stable, distinct-looking hue per server, so people can tell servers apart at a glance."""
    hue = int(hashlib.sha256(server_id.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 65%, 42%)"


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build one instance from its environment (os.environ unless a mapping is given)."""
    settings = settings_from(os.environ if environ is None else environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=settings.secret_key_fallbacks,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = SecureWhenHttpsSessionInterface()
    app.wsgi_app = TrustedProxyMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, settings.trusted_proxies
    )
    # Flask logs warnings only unless debugging; the per-connection WebSocket line is INFO.
    app.logger.setLevel(logging.INFO)
    # Keep the seed's field order (server_id, visit_count, servers_seen) in the JSON answer.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    server_id = settings.server_id
    store = LocalVisitStore(settings.state_directory / "local-visits.sqlite3")

    # POST counts a visit like GET: it is the app's request with a side effect, which lets a
    # test prove the load balancer never delivers one POST twice.
    @app.route("/", methods=["GET", "POST"])
    def index() -> Response | str:
        if SESSION_ID_KEY not in session:
            session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
        session["visit_count"] = int(session.get("visit_count", 0)) + 1
        seen = list(session.get("servers_seen", []))
        if server_id not in seen:
            seen.append(server_id)
        session["servers_seen"] = seen
        state = {
            "server_id": server_id,
            "visit_count": session["visit_count"],
            "servers_seen": seen,
            "local_visits": store.record_visit(session[SESSION_ID_KEY]),
        }
        if _wants_html():
            return render_template("index.html", colour=server_colour(server_id), **state)
        return jsonify(state)

    # The installed package's version: during a rolling update, /health shows which instances
    # already run the new app.
    version = importlib.metadata.version("stickyapp")

    @app.get("/health")
    def health() -> Response:
        # Reads nothing from and writes nothing to the session: probes must not get cookies.
        return jsonify({"status": "ok", "server_id": server_id, "version": version})

    @app.route("/reset", methods=["GET", "POST"])
    def reset() -> ResponseReturnValue:
        session.clear()
        if request.method == "POST" and _wants_html():
            return redirect(url_for("index"), code=303)
        return jsonify({"status": "reset", "server_id": server_id})

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask for /favicon.ico on every site; answering keeps 404s out of the logs.
        # It is an SVG (the page's <link rel="icon"> says so); like /health it sets no cookie.
        return send_from_directory(
            app.static_folder or "static",
            "favicon.svg",
            mimetype="image/svg+xml",
            max_age=FAVICON_MAX_AGE_SECONDS,
        )

    register_websocket(app, server_id)
    return app

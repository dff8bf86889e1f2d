"""stickyapp: the Flask program behind the load balancer.

Each instance reports who it is and what it remembers about the caller, so a person (or a
test) can see whether the load balancer keeps a session on one server:

- ``visit_count`` and ``servers_seen`` travel in Flask's signed session cookie, so every
  instance must share one ``SECRET_KEY``; they survive a change of server.
- ``local_visits`` lives only on the instance that served the request (SQLite in the
  instance's state directory); it is what a user loses when stickiness breaks.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request, session, url_for

from stickyapp.store import LocalVisitStore

SESSION_ID_KEY = "session_id"


class ConfigurationError(RuntimeError):
    """The environment does not hold what the app needs to start."""


def _settings_from(environ: Mapping[str, str]) -> dict[str, Any]:
    secret_key = environ.get("SECRET_KEY", "")
    if not secret_key:
        raise ConfigurationError(
            "SECRET_KEY is not set: every instance behind the load balancer must share one "
            "secret to read each other's session cookies. Set SECRET_KEY in the environment "
            "(the flask_app role generates one and writes it to the instance's environment file)."
        )
    state_directory = environ.get("STATE_DIRECTORY") or environ.get("STICKYAPP_STATE_DIR")
    if not state_directory:
        raise ConfigurationError(
            "STATE_DIRECTORY is not set: the server-local visit store needs a writable "
            "directory (systemd's StateDirectory= sets it; STICKYAPP_STATE_DIR works by hand)."
        )
    # systemd may pass several colon-separated directories; the first one is ours.
    return {
        "SECRET_KEY": secret_key,
        "SERVER_ID": environ.get("SERVER_ID") or socket.gethostname(),
        "STATE_DIRECTORY": state_directory.split(":")[0],
    }


def server_colour(server_id: str) -> str:
    """A stable, distinct-looking hue per server, so people can tell servers apart at a glance."""
    hue = int(hashlib.sha256(server_id.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 65%, 42%)"


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    settings = _settings_from(os.environ if environ is None else environ)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    # Keep the seed's field order (server_id, visit_count, servers_seen) in the JSON answer.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    server_id: str = settings["SERVER_ID"]
    store = LocalVisitStore(Path(settings["STATE_DIRECTORY"]) / "local-visits.sqlite3")

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

    @app.get("/health")
    def health() -> Response:
        # Reads nothing from and writes nothing to the session: probes must not get cookies.
        return jsonify({"status": "ok", "server_id": server_id})

    @app.route("/reset", methods=["GET", "POST"])
    def reset() -> Response:
        session.clear()
        if request.method == "POST" and _wants_html():
            return redirect(url_for("index"), code=303)
        return jsonify({"status": "reset", "server_id": server_id})

    return app

"""The ``/ws`` WebSocket endpoint: greets, then echoes every text message as JSON.

It shows which server holds a long-lived connection (the greeting and every echo carry
``server_id``). Keeping a browser's WebSocket on the server of its session is nginx's job;
the app needs nothing for it.

flask-sock serves the connection inside the request's worker thread: under gunicorn's gthread
worker each open WebSocket occupies one thread until it closes.
"""

from __future__ import annotations

import json
import socket
import time
from contextlib import suppress

from flask import Flask, request
from flask_sock import Sock
from simple_websocket import Server
from wsproto.frame_protocol import CloseReason

# The server pings an idle connection this often: nginx drops a proxied connection that
# stays silent for proxy_read_timeout (60 s by default), and a peer that vanished without
# closing is noticed (no pong) instead of holding a worker thread forever.
PING_INTERVAL_SECONDS = 25
# An echo server has no use for large messages; this bounds the memory one client can take.
MAX_MESSAGE_BYTES = 64 * 1024
# Longest wait for the closing handshake to finish before the socket is handed back.
CLOSE_WAIT_SECONDS = 2.0
# How often a thread waiting for a message checks that the connection is still open.
RECEIVE_POLL_SECONDS = 1.0


def register_websocket(app: Flask, server_id: str) -> None:
    """Add the ``/ws`` route to the app."""
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": PING_INTERVAL_SECONDS,
        "max_message_size": MAX_MESSAGE_BYTES,
    }
    sock = Sock(app)

    @sock.route("/ws")
    def websocket(connection: Server) -> None:
        started = time.monotonic()
        echoed = 0
        try:
            connection.send(json.dumps({"server_id": server_id, "hello": True}))
            while True:
                # Raises ConnectionClosed (which flask-sock handles) once the client closes.
                message = connection.receive(timeout=RECEIVE_POLL_SECONDS)
                if message is None:
                    # No message yet. When simple-websocket closes the connection itself (a
                    # failed ping, a message over MAX_MESSAGE_BYTES) a waiting receive() can
                    # miss the wake-up and would block this thread for good; polling ends it.
                    if not connection.connected:
                        return
                    continue
                if isinstance(message, bytes):
                    connection.close(CloseReason.UNSUPPORTED_DATA, "text messages only")
                    return
                connection.send(json.dumps({"server_id": server_id, "echo": message}))
                echoed += 1
        finally:
            _finish_closing(connection)
            # gunicorn's access log never sees a WebSocket (the connection is handed over,
            # not answered), so the app writes the one line an operator can search for.
            app.logger.info(
                "websocket closed request_id=%s client=%s messages_echoed=%d seconds=%.1f",
                request.headers.get("X-Request-ID", "-"),
                request.remote_addr,
                echoed,
                time.monotonic() - started,
            )


def _finish_closing(connection: Server) -> None:
    """Let simple-websocket's reader thread end before gunicorn closes the socket (bounded).

    simple-websocket 1.1.0 reports a connection closed before its reader thread has sent the
    reply to the client's close frame (its issue #41). Returning at once lets gunicorn close
    the socket first: the client then sees an abrupt end (1006) instead of a clean close, and
    the reader thread lingers until its next ping, holding up a graceful worker stop. A reader
    still waiting for a client that never answers our own close frame is woken by shutdown().
    """
    connection.thread.join(timeout=CLOSE_WAIT_SECONDS)
    if connection.thread.is_alive():
        with suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)
        connection.thread.join(timeout=CLOSE_WAIT_SECONDS)

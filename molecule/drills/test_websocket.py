"""WebSockets through the load balancer (the app's /ws: a hello, then an echo per message).

A WebSocket goes to the server its client is pinned to; a new client's handshake pins it like
a page would; an open socket survives a graceful nginx reload; when its server stops, the
socket is cut and the client reconnects elsewhere, re-pinned.
"""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, run_systemctl

pytestmark = pytest.mark.usefixtures("cookie_strategy")


def open_pinned(lb: sc.Target, new_clients: Any) -> tuple[sc.Client, sc.WebSocket, str]:
    client = new_clients(1)[0]
    pin = client.send(lb)
    assert pin.ok and pin.server_id, pin
    websocket = client.open_websocket(lb)
    hello = websocket.receive_json()
    assert hello == {"server_id": pin.server_id, "hello": True}, f"pinned to {pin.server_id}, hello {hello}"
    return client, websocket, pin.server_id


def test_a_websocket_reaches_the_server_its_client_is_pinned_to(lb: sc.Target, new_clients: Any) -> None:
    _, websocket, server = open_pinned(lb, new_clients)
    try:
        assert websocket.echo("hello 1") == {"server_id": server, "echo": "hello 1"}
        assert websocket.handshake.sticky_cookie_set is None, "the handshake re-pinned a pinned client"
    finally:
        websocket.close()


def test_a_new_clients_websocket_handshake_pins_it(lb: sc.Target, new_clients: Any,
                                                  backends: dict[str, dict[str, Any]]) -> None:
    client = new_clients(1)[0]
    websocket = client.open_websocket(lb)
    try:
        server = websocket.receive_json()["server_id"]
    finally:
        websocket.close()
    assert websocket.handshake.sticky_cookie_set == backends[server]["cookie"], websocket.handshake
    page = client.send(lb)
    assert (page.server_id, page.sticky_cookie_set) == (server, None), page


def test_an_open_websocket_survives_a_graceful_nginx_reload(lb: sc.Target, new_clients: Any) -> None:
    _, websocket, server = open_pinned(lb, new_clients)
    try:
        run_systemctl("reload", "nginx.service")
        assert not websocket.is_cut(wait=2), "the reload cut the WebSocket"
        assert websocket.echo("after the reload") == {"server_id": server, "echo": "after the reload"}
    finally:
        websocket.close()


def test_a_websocket_is_cut_when_its_server_stops_and_the_client_reconnects_elsewhere(
        lb: sc.Target, new_clients: Any, instances: Instances, nginx_rest: NginxRest,
        backends: dict[str, dict[str, Any]], deployment: dict[str, Any]) -> None:
    nginx_rest.wait()
    client, websocket, server = open_pinned(lb, new_clients)
    try:
        with instances.stopped(server):
            cut = websocket.is_cut(wait=float(deployment["fail_timeout_seconds"]))
            again = client.open_websocket(lb)
            hello = again.receive_json()
            again.close()
    finally:
        websocket.close()
    assert cut, f"{server} stopped, its WebSocket stayed open"
    assert hello["server_id"] != server, hello
    assert again.handshake.sticky_cookie_set == backends[hello["server_id"]]["cookie"], again.handshake

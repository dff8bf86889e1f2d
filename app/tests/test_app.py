"""Behaviour of one stickyapp instance, through Flask's test client."""

from __future__ import annotations

import importlib.metadata

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from stickyapp import ConfigurationError, create_app, server_colour


def make_client(tmp_path: Path, server_id: str = "server-1", secret: str = "s" * 32) -> FlaskClient:
    app = create_app(
        {"SECRET_KEY": secret, "SERVER_ID": server_id, "STATE_DIRECTORY": str(tmp_path / server_id)}
    )
    return app.test_client()


def test_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app({"SERVER_ID": "server-1", "STATE_DIRECTORY": str(tmp_path)})


def test_refuses_to_start_without_state_directory() -> None:
    with pytest.raises(ConfigurationError, match="STATE_DIRECTORY is not set"):
        create_app({"SECRET_KEY": "x" * 32, "SERVER_ID": "server-1"})


def test_counts_visits_in_the_session(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    bodies = [client.get("/").get_json() for _ in range(5)]
    assert [body["visit_count"] for body in bodies] == [1, 2, 3, 4, 5]
    assert [body["local_visits"] for body in bodies] == [1, 2, 3, 4, 5]
    assert bodies[-1]["servers_seen"] == ["server-1"]
    assert bodies[-1]["server_id"] == "server-1"


def test_post_counts_one_visit_per_request(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    assert client.get("/").get_json()["local_visits"] == 1
    answer = client.post("/")
    assert answer.status_code == 200
    assert answer.get_json()["local_visits"] == 2
    assert client.get("/").get_json()["visit_count"] == 3


def test_json_field_order_matches_the_seed(tmp_path: Path) -> None:
    raw = make_client(tmp_path).get("/").get_data(as_text=True)
    keys = re.findall(r'"(\w+)":', raw)
    assert keys[:3] == ["server_id", "visit_count", "servers_seen"]


def test_session_moves_between_instances_that_share_the_secret(tmp_path: Path) -> None:
    first = make_client(tmp_path, "server-1")
    second = make_client(tmp_path, "server-2")
    first.get("/")
    first.get("/")
    cookie = first.get_cookie("session")
    assert cookie is not None
    second.set_cookie("session", cookie.value)
    body = second.get("/").get_json()
    # The signed session follows the user; the server-local count starts again at 1.
    assert body["visit_count"] == 3
    assert body["servers_seen"] == ["server-1", "server-2"]
    assert body["local_visits"] == 1


def test_session_signed_with_another_secret_is_ignored(tmp_path: Path) -> None:
    first = make_client(tmp_path, "server-1", secret="a" * 32)
    stranger = make_client(tmp_path, "server-2", secret="b" * 32)
    first.get("/")
    cookie = first.get_cookie("session")
    assert cookie is not None
    stranger.set_cookie("session", cookie.value)
    assert stranger.get("/").get_json()["visit_count"] == 1


def test_local_visits_are_per_session(tmp_path: Path) -> None:
    alice = make_client(tmp_path)
    bob = make_client(tmp_path)
    alice.get("/")
    alice.get("/")
    assert bob.get("/").get_json()["local_visits"] == 1
    assert alice.get("/").get_json()["local_visits"] == 3


def test_local_visits_are_shared_by_workers_of_one_instance(tmp_path: Path) -> None:
    # Two app objects on one state directory stand for two gunicorn workers of one instance.
    worker_a = make_client(tmp_path, "server-1")
    worker_b = make_client(tmp_path, "server-1")
    worker_a.get("/")
    cookie = worker_a.get_cookie("session")
    assert cookie is not None
    worker_b.set_cookie("session", cookie.value)
    assert worker_b.get("/").get_json()["local_visits"] == 2


def test_health_answers_without_touching_the_session(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "server_id": "server-1",
                                   "version": importlib.metadata.version("stickyapp")}
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_reset_clears_the_session(tmp_path: Path, method: str) -> None:
    client = make_client(tmp_path)
    client.get("/")
    client.get("/")
    response = client.open("/reset", method=method)
    assert response.status_code == 200
    assert response.get_json()["status"] == "reset"
    assert client.get("/").get_json()["visit_count"] == 1


def test_browser_gets_a_page_curl_gets_json(tmp_path: Path) -> None:
    client = make_client(tmp_path, "server-2")
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = client.get("/", headers={"Accept": browser_accept})
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "server-2" in html
    assert server_colour("server-2") in html
    assert 'action="/reset"' in html
    assert client.get("/", headers={"Accept": "*/*"}).mimetype == "application/json"
    assert client.get("/").mimetype == "application/json"


def test_browser_reset_button_redirects_home(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    response = client.post("/reset", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/")


def test_server_colours_differ_between_servers() -> None:
    colours = {server_colour(f"server-{number}") for number in range(1, 4)}
    assert len(colours) == 3


def test_page_escapes_server_id(tmp_path: Path) -> None:
    client = make_client(tmp_path, "<script>x</script>")
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<script>x</script>" not in html


def test_junk_session_cookie_is_a_new_session(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    client.set_cookie("session", "not-a-signed-value" * 50)
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json()["visit_count"] == 1


def test_favicon_is_an_icon_browsers_may_cache(tmp_path: Path) -> None:
    response = make_client(tmp_path).get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).lstrip().startswith("<svg")
    assert response.cache_control.max_age is not None and response.cache_control.max_age > 0
    # Like /health: a resource fetched by the browser on its own must not start a session.
    assert "Set-Cookie" not in response.headers


def test_page_points_browsers_at_the_icon(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    html = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="([^"]+)">', html)
    assert icon is not None
    answer = client.get(icon.group(1))
    assert answer.status_code == 200
    assert answer.mimetype == icon.group(2)


def test_plain_http_request_to_websocket_endpoint_is_a_client_error(tmp_path: Path) -> None:
    # Without an Upgrade handshake /ws is a bad request (400), not a server error.
    response = make_client(tmp_path).get("/ws")
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers

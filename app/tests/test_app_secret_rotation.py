"""Rotating SECRET_KEY without logging everyone out: SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from stickyapp import create_app

OLD_KEY = "old" + "1" * 29
NEW_KEY = "new" + "2" * 29


def make_client(tmp_path: Path, secret: str, fallbacks: str = "") -> FlaskClient:
    app = create_app({
        "SECRET_KEY": secret,
        "SECRET_KEY_FALLBACKS": fallbacks,
        "SERVER_ID": "server-1",
        "STATE_DIRECTORY": str(tmp_path),
    })
    return app.test_client()


def session_after_visits(client: FlaskClient, visits: int) -> str:
    for _ in range(visits):
        client.get("/")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def visit_with(client: FlaskClient, cookie_value: str) -> dict[str, object]:
    client.set_cookie("session", cookie_value)
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def test_session_signed_with_a_fallback_key_keeps_counting(tmp_path: Path) -> None:
    old_cookie = session_after_visits(make_client(tmp_path, OLD_KEY), 3)
    rotated = make_client(tmp_path, NEW_KEY, fallbacks=f"unused9 {OLD_KEY}")
    assert visit_with(rotated, old_cookie)["visit_count"] == 4


def test_session_is_re_signed_with_the_new_key(tmp_path: Path) -> None:
    # After one visit during the rotation window the old key can be dropped for that user.
    old_cookie = session_after_visits(make_client(tmp_path, OLD_KEY), 2)
    rotated = make_client(tmp_path, NEW_KEY, fallbacks=OLD_KEY)
    visit_with(rotated, old_cookie)
    re_signed = rotated.get_cookie("session")
    assert re_signed is not None
    assert visit_with(make_client(tmp_path, NEW_KEY), re_signed.value)["visit_count"] == 4


def test_session_signed_with_a_dropped_key_starts_afresh(tmp_path: Path) -> None:
    old_cookie = session_after_visits(make_client(tmp_path, OLD_KEY), 3)
    body = visit_with(make_client(tmp_path, NEW_KEY), old_cookie)
    assert body["visit_count"] == 1
    assert body["local_visits"] == 1


def forged(cookie_value: str) -> str:
    """The same cookie with a payload that claims 1000 visits and the original signature."""
    _payload, timestamp, signature = cookie_value.rsplit(".", 2)
    claim = base64.urlsafe_b64encode(b'{"visit_count":1000}').rstrip(b"=").decode()
    return f"{claim}.{timestamp}.{signature}"


@pytest.mark.parametrize(
    "tamper",
    [forged, lambda value: value[:-4] + "AAAA", lambda value: "." * 40, lambda value: "%%" * 10],
    ids=["forged-payload", "bad-signature", "dots", "garbage"],
)
def test_forged_or_garbage_cookie_is_a_new_session(
    tmp_path: Path, tamper: Callable[[str], str]
) -> None:
    old_cookie = session_after_visits(make_client(tmp_path, OLD_KEY), 2)
    rotated = make_client(tmp_path, NEW_KEY, fallbacks=OLD_KEY)
    assert visit_with(rotated, tamper(old_cookie))["visit_count"] == 1

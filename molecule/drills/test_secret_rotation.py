"""Rotating Flask's SECRET_KEY logs nobody out (playbooks/rotate-secret.yml), in three steps
around the two runs of that playbook:

    pytest test_secret_rotation.py::test_a_session_is_kept_before_the_rotation     # before
    ... ansible-playbook playbooks/rotate-secret.yml
    pytest test_secret_rotation.py::test_a_session_from_before_the_rotation_keeps_its_visits
    ... ansible-playbook playbooks/rotate-secret.yml -e flask_app_drop_old_secret_keys=true
    pytest test_secret_rotation.py::test_a_session_signed_by_a_dropped_key_starts_afresh \
           test_secret_rotation.py::test_a_session_re_signed_after_the_rotation_outlives_the_old_key

The session cookie saved before the rotation is signed by the old key: after the rotation the
app still reads it, and answers with the session signed by the new key (saved too). Once the old
key is dropped, the first cookie is a stranger and its holder starts a fresh session, with a
normal answer; the re-signed one keeps its visits: a user who came back between the two runs
stays logged in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sticky_clients as sc

VISITS_BEFORE = 3


def saved_client(state_dir: Path, deployment: dict[str, Any], name: str = "rotation-client.json") -> sc.Client:
    path = state_dir / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run the test that writes it first (see this module's docstring)")
    return sc.Client(1, sticky_name=deployment["cookie_name"], cookies=dict(json.loads(path.read_text())["cookies"]))


def test_a_session_is_kept_before_the_rotation(lb: sc.Target, new_clients: Any, state_dir: Path) -> None:
    client = new_clients(1)[0]
    answers = [client.send(lb) for _ in range(VISITS_BEFORE)]
    assert [answer.visit_count for answer in answers] == list(range(1, VISITS_BEFORE + 1)), answers
    assert "session" in client.cookies, client.cookies
    (state_dir / "rotation-client.json").write_text(json.dumps({"cookies": client.cookies}))


def test_a_session_from_before_the_rotation_keeps_its_visits(lb: sc.Target, state_dir: Path,
                                                             deployment: dict[str, Any]) -> None:
    client = saved_client(state_dir, deployment)
    answer = client.send(lb)
    assert answer.status == 200 and answer.visit_count == VISITS_BEFORE + 1, answer
    (state_dir / "rotation-client-re-signed.json").write_text(json.dumps({"cookies": client.cookies}))


def test_a_session_signed_by_a_dropped_key_starts_afresh(lb: sc.Target, state_dir: Path,
                                                         deployment: dict[str, Any]) -> None:
    old = saved_client(state_dir, deployment)  # still the cookie the old key signed
    answer = old.send(lb)
    assert answer.status == 200 and answer.visit_count == 1, answer
    forged = sc.Client(2, sticky_name=deployment["cookie_name"],
                       cookies={"session": "eyJ2aXNpdF9jb3VudCI6OTl9.forged.signature"})
    answer = forged.send(lb)
    assert answer.status == 200 and answer.visit_count == 1, answer


def test_a_session_re_signed_after_the_rotation_outlives_the_old_key(lb: sc.Target, state_dir: Path,
                                                                     deployment: dict[str, Any]) -> None:
    client = saved_client(state_dir, deployment, "rotation-client-re-signed.json")
    answer = client.send(lb)
    assert answer.status == 200 and answer.visit_count == VISITS_BEFORE + 2, answer

"""After a rolling update that shipped a new app: every backend, reached directly, reports the
version the deployment shipped (--app-version) on /health."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sticky_clients as sc


def test_every_backend_runs_the_app_version_shipped(deployment: dict[str, Any],
                                                    request: pytest.FixtureRequest) -> None:
    wanted = request.config.getoption("--app-version")
    if not wanted:
        pytest.skip("no --app-version given")
    assert deployment["backends"], "the deployment lists no backend"
    reported = {}
    for backend in deployment["backends"]:
        answer = sc.fetch(sc.Target.from_url(f"http://{backend['endpoint']}/health"), timeout=5)
        assert answer.status == 200, (backend["name"], answer.status, answer.error)
        reported[backend["name"]] = json.loads(answer.body).get("version")
    assert reported == {name: wanted for name in reported}, reported

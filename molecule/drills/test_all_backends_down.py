"""Every backend down: nginx answers a clean page of its own, then service returns by itself.

On an all-in-one host the drill stops the instances itself. Where they run on other hosts,
the caller (YAML) stops them first, runs test_every_backend_down_answers_a_clean_retry_page,
starts them, then runs test_service_returns_by_itself; the first drill checks from here that
no backend answers, so it never passes by accident.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, answers_health, wait_until


@pytest.fixture()
def every_backend_down(deployment: dict[str, Any], instances: Instances) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for backend in deployment["backends"]:
            if backend["local"]:
                stack.enter_context(instances.stopped(backend["name"]))
        answering = [backend["name"] for backend in deployment["backends"] if answers_health(backend["endpoint"])]
        if answering:
            pytest.fail(f"{answering} still answer: stop every instance before this drill")
        yield


def test_every_backend_down_answers_a_clean_retry_page(lb: sc.Target, every_backend_down: None) -> None:
    answer = sc.fetch(lb)
    page = answer.body.decode("utf-8", "replace")
    assert answer.status in (502, 503, 504), (answer.status, answer.error, page)
    assert "Temporarily unavailable" in page, page
    assert "nginx/" not in page, page
    assert "Traceback" not in page, page
    assert answer.header("Server") == "nginx", answer.headers
    assert answer.header("Retry-After") == "5", answer.headers


def test_service_returns_by_itself(lb: sc.Target, deployment: dict[str, Any]) -> None:
    """Nothing is done on the load balancer: nginx tries each rested backend again after
    fail_timeout_seconds."""
    within = float(deployment["fail_timeout_seconds"]) + 5
    assert wait_until(lambda: sc.fetch(lb, timeout=2).status == 200, within, every=0.5), (
        f"no answer 200 within {within:.0f} s")

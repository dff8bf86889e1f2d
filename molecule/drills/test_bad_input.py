"""Junk and hostile requests (sticky_clients.bad_input_cases), each raw on its own connection.

A normal answer or a 4xx, never a 5xx or silence; whatever is served comes from the
deployment's own servers; nothing names nginx's version.
"""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc


@pytest.fixture(scope="module")
def bad_input(lb: sc.Target) -> dict[str, Any]:
    return sc.bad_input_report(lb, timeout=10)


def statuses(bad_input: dict[str, Any]) -> dict[str, int | None]:
    return {name: case["status"] for name, case in bad_input["cases"].items()}


def test_no_case_gets_a_5xx_or_silence(bad_input: dict[str, Any]) -> None:
    assert bad_input["server_errors"] == [], statuses(bad_input)
    assert bad_input["unanswered"] == [], bad_input["cases"]


def test_pages_served_come_from_this_deployments_servers(bad_input: dict[str, Any],
                                                         backends: dict[str, Any]) -> None:
    assert bad_input["cases"]["baseline"]["status"] == 200, bad_input["cases"]["baseline"]
    assert set(bad_input["servers"]) <= set(backends), bad_input["servers"]


def test_oversized_headers_cookies_and_traversal_get_400(bad_input: dict[str, Any]) -> None:
    found = statuses(bad_input)
    assert found["oversized-header"] == 400, found
    assert found["oversized-cookie"] == 400, found
    assert found["path-traversal"] == 400, found


def test_a_body_over_the_limit_gets_413(bad_input: dict[str, Any]) -> None:
    assert bad_input["cases"]["body-too-large"]["status"] == 413, statuses(bad_input)


def test_an_unknown_host_name_still_gets_the_site(bad_input: dict[str, Any]) -> None:
    assert bad_input["cases"]["bogus-host"]["status"] == 200, statuses(bad_input)


def test_every_answer_says_nginx_without_its_version(bad_input: dict[str, Any]) -> None:
    server_headers = {name: case["server_header"] for name, case in bad_input["cases"].items()}
    assert set(server_headers.values()) == {"nginx"}, server_headers
    mentions = [name for name, case in bad_input["cases"].items() if case["body_mentions_version"]]
    assert mentions == [], f"these answers name nginx's version: {mentions}"

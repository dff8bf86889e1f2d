"""What operators see: each request's sticky decision in nginx's log, one request followed from
the load balancer to the app by its id, and nginx's counters (all-in-one host).
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest
import sticky_clients as sc
from conftest import Instances, NginxRest, access_log_lines, access_log_offset, wait_until


def sticky_decisions(offset: int, count: int) -> list[str]:
    """The sticky field of the next `count` access-log lines."""
    return [line["sticky"] for line in access_log_lines(offset, count)]


@pytest.mark.usefixtures("cookie_strategy")
def test_the_log_says_new_hit_and_repin(lb: sc.Target, new_clients: Any, instances: Instances,
                                        nginx_rest: NginxRest, deployment: dict[str, Any]) -> None:
    nginx_rest.wait()
    client = new_clients(1)[0]
    offset = access_log_offset()
    first = client.send(lb)
    client.send(lb)
    assert sticky_decisions(offset, 2) == ["new", "hit"]

    with instances.stopped(first.server_id):
        offset = access_log_offset()
        moved = client.send(lb)
        client.send(lb)
        assert moved.server_id != first.server_id
        assert sticky_decisions(offset, 2) == ["repin", "hit"]

    offset = access_log_offset()
    forged = new_clients(1, preset_cookie="0123456789abcdef")[0]
    assert forged.send(lb).ok
    line = access_log_lines(offset, 1)[0]
    assert line["sticky"] == "new" and line["backend"], line


def test_a_request_id_in_nginx_log_is_in_the_apps_log(lb: sc.Target, new_clients: Any,
                                                       backends: dict[str, dict[str, Any]]) -> None:
    offset = access_log_offset()
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 2))
    answer = new_clients(1)[0].send(lb)
    assert answer.ok
    line = access_log_lines(offset, 1)[0]
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"]), line
    unit = f"stickyapp@{backends[answer.server_id]['port']}.service"
    if not backends[answer.server_id]["local"]:
        pytest.skip(f"{answer.server_id} logs on another host")

    def in_app_log() -> bool:
        journal = subprocess.run(["journalctl", "-u", unit, "--since", since, "--no-pager", "-o", "cat"],
                                 capture_output=True, text=True, check=True, timeout=20).stdout
        return f"request_id={line['request_id']}" in journal
    assert wait_until(in_app_log, 10), f"request_id={line['request_id']} not in {unit}'s journal"


def stub_status(deployment: dict[str, Any]) -> dict[str, int]:
    answer = sc.fetch(sc.Target.from_url(f"http://127.0.0.1:{deployment['status_port']}/stub_status"))
    assert answer.status == 200, answer
    numbers = [int(word) for word in answer.body.decode().split() if word.isdigit()]
    return {"active": numbers[0], "requests": numbers[3]}


def test_stub_status_counts_requests_on_loopback(lb: sc.Target, new_clients: Any,
                                                  deployment: dict[str, Any]) -> None:
    before = stub_status(deployment)["requests"]
    sc.send_rounds(lb, new_clients(3), 1, 30)
    assert stub_status(deployment)["requests"] >= before + 3


def metric(body: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", body, re.MULTILINE)
    assert match, f"{name} not in the exporter's answer"
    return float(match.group(1))


def test_the_prometheus_exporter_reports_nginx_up_and_a_growing_request_counter(
        lb: sc.Target, new_clients: Any, deployment: dict[str, Any]) -> None:
    if not deployment.get("exporter_url"):
        pytest.skip("the deployment runs no exporter (nginx_lb_exporter: false)")
    target = sc.Target.from_url(deployment["exporter_url"])

    def scrape() -> str:
        answer = sc.fetch(target)
        assert answer.status == 200, answer
        return answer.body.decode()
    first = scrape()
    assert metric(first, "nginx_up") == 1
    sc.send_rounds(lb, new_clients(3), 1, 30)
    assert metric(scrape(), "nginx_http_requests_total") >= metric(first, "nginx_http_requests_total") + 3

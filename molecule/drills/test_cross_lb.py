"""Two or more load balancers behind one name (DNS round robin, a virtual address) must agree
on what a cookie means: all of them render the values from the one secret on the controller."""

from __future__ import annotations

from typing import Any

import pytest
import sticky_clients as sc
from conftest import brief

pytestmark = pytest.mark.usefixtures("cookie_strategy")

CLIENTS = 20


def test_every_other_lb_honours_the_cookies_this_lb_set(
        deployment: dict[str, Any], cafile: str | None, new_clients: Any, probe: Any) -> None:
    # From an lb host: this one first; from a client host: the first lb.
    lbs = deployment["lb_hosts"]
    first = deployment["this_host"] if deployment["this_host"] in lbs else lbs[0]
    others = sorted(name for name in lbs if name != first)
    if not others:
        pytest.skip("the deployment has one load balancer")
    here = sc.Target.from_url(deployment["lb_urls"][first], cafile=cafile)
    clients = new_clients(CLIENTS)
    pinned_report = probe(here, clients, 1)
    assert pinned_report["failed"] == 0, brief(pinned_report)
    pinned = [client.first_server() for client in clients]
    for other in others:
        travellers = [sc.Client(client.number, sticky_name=client.sticky_name, cookies=client.cookies)
                      for client in clients]
        report = probe(sc.Target.from_url(deployment["lb_urls"][other], cafile=cafile), travellers, 3)
        assert report["failed"] == 0, f"through {other}: {brief(report)}"
        assert [entry["servers"] for entry in report["per_client"]] == [[server] * 3 for server in pinned], (
            f"pinned through {first}: {pinned}; through {other}: "
            f"{[entry['servers'] for entry in report['per_client']]}")
        assert report["sticky_clients"] == CLIENTS, brief(report)
        assert report["sticky_cookie_sets_per_client"] == [0] * CLIENTS, f"{other} re-pinned: {brief(report)}"

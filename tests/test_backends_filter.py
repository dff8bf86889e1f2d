"""The one derivation of the backend list (roles/backends/filter_plugins/sticky_backends.py)."""

from __future__ import annotations

import re

import pytest

from conftest import load_module

sticky = load_module("roles/backends/filter_plugins/sticky_backends.py", "sticky_backends_plugin")
derive = sticky.sticky_backends
DEFAULT_INSTANCES = [{"port": 5001}, {"port": 5002}, {"port": 5003}]
SECRET = "test-secret"


def multihost(count: int) -> dict[str, dict]:
    return {f"app{n}": {"ansible_host": f"10.0.0.{10 + n}", "backends_instances": [{"port": 5001}]}
            for n in range(1, count + 1)}


def test_all_in_one_host_listens_on_loopback() -> None:
    backends = derive(["localhost"], {"localhost": {}}, ["localhost"], DEFAULT_INSTANCES, SECRET)
    assert [b["endpoint"] for b in backends] == ["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"]
    assert [b["name"] for b in backends] == ["localhost-5001", "localhost-5002", "localhost-5003"]
    assert {b["weight"] for b in backends} == {1}


def test_separate_app_hosts_use_their_inventory_address() -> None:
    hosts = multihost(3)
    backends = derive(list(hosts), hosts, ["lb1"], DEFAULT_INSTANCES, SECRET)
    assert [b["endpoint"] for b in backends] == ["10.0.0.11:5001", "10.0.0.12:5001", "10.0.0.13:5001"]


def test_app_host_that_shares_the_lb_with_another_lb_is_not_loopback() -> None:
    hostvars = {"lb1": {"ansible_host": "10.0.0.1"}}
    backends = derive(["lb1"], hostvars, ["lb1", "lb2"], [{"port": 5001}], SECRET)
    assert backends[0]["address"] == "10.0.0.1"


def test_explicit_address_wins() -> None:
    hostvars = {"app1": {"ansible_host": "203.0.113.5", "backends_address": "10.1.1.1"}}
    assert derive(["app1"], hostvars, ["lb1"], DEFAULT_INSTANCES, SECRET)[0]["address"] == "10.1.1.1"


def test_ipv6_endpoints_are_bracketed() -> None:
    hostvars = {"app1": {"backends_address": "fd00::1"}}
    assert derive(["app1"], hostvars, ["lb1"], [{"port": 5001}], SECRET)[0]["endpoint"] == "[fd00::1]:5001"


def test_adding_a_host_renames_nobody() -> None:
    before = derive(list(multihost(3)), multihost(3), ["lb1"], DEFAULT_INSTANCES, SECRET)
    # The new host sorts first by name: position-derived ids would all shift.
    grown = {"app0": {"ansible_host": "10.0.0.9", "backends_instances": [{"port": 5001}]}, **multihost(3)}
    after = derive(list(grown), grown, ["lb1"], DEFAULT_INSTANCES, SECRET)
    after_by_id = {b["id"]: b for b in after}
    for backend in before:
        assert after_by_id[backend["id"]] == backend
    assert len(after) == 4


def test_cookie_values_are_opaque_stable_and_secret_dependent() -> None:
    hosts = multihost(3)
    first = derive(list(hosts), hosts, ["lb1"], DEFAULT_INSTANCES, SECRET)
    again = derive(list(hosts), hosts, ["lb1"], DEFAULT_INSTANCES, SECRET)
    other = derive(list(hosts), hosts, ["lb1"], DEFAULT_INSTANCES, "another-secret")
    assert [b["cookie"] for b in first] == [b["cookie"] for b in again]
    assert not {b["cookie"] for b in first} & {b["cookie"] for b in other}
    for backend in first:
        assert re.fullmatch(r"[0-9a-f]{16}", backend["cookie"])
        assert backend["address"] not in backend["cookie"]
        assert backend["host"] not in backend["cookie"]
    assert len({b["cookie"] for b in first}) == 3


def test_weights_and_names_come_from_the_instance_entries() -> None:
    hostvars = {"app1": {"backends_instances": [{"port": 5001, "name": "server-1", "weight": 3}]}}
    backend = derive(["app1"], hostvars, ["lb1"], DEFAULT_INSTANCES, SECRET)[0]
    assert (backend["name"], backend["weight"]) == ("server-1", 3)


@pytest.mark.parametrize(
    ("app_hosts", "hostvars", "message"),
    [
        ([], {}, "the app group is empty"),
        (["a"], {"a": {"backends_instances": []}}, "must be a non-empty list"),
        (["a"], {"a": {"backends_instances": [{"port": 5001}, {"port": 5001}]}}, "port 5001 is listed twice"),
        (["a"], {"a": {"backends_instances": [{"port": 80}]}}, "outside 1024-65535"),
        (["a"], {"a": {"backends_instances": [{"port": "http"}]}}, "is not a number"),
        (["a"], {"a": {"backends_instances": [{"port": 5001, "weight": 0}]}}, "weight of port 5001"),
        (["a"], {"a": {"backends_instances": [{"port": 5001, "weight": -2}]}}, "weight of port 5001"),
        (["a"], {"a": {"backends_instances": [{"port": 5001, "name": "bad name"}]}}, "must be 1-63"),
        (["a", "b"], {"a": {"backends_instances": [{"port": 5001, "name": "s"}]},
                      "b": {"backends_instances": [{"port": 5001, "name": "s"}]}}, "share the name 's'"),
        (["a", "b"], {"a": {"ansible_host": "10.0.0.1"}, "b": {"ansible_host": "10.0.0.1"}},
         "share the address and port '10.0.0.1:5001'"),
        (["a-b", "a_b"], {"a-b": {}, "a_b": {}}, "share the id 'a_b_5001'"),
    ],
)
def test_bad_topology_fails_with_a_message_naming_the_fix(app_hosts, hostvars, message) -> None:
    with pytest.raises(sticky.AnsibleFilterError, match=re.escape(message)):
        derive(app_hosts, hostvars, ["lb1"], DEFAULT_INSTANCES, SECRET)

"""Derive the VRRP group (who shares the virtual address, from which address, at which priority).

Every lb host renders its keepalived.conf from this one derivation: its own unicast address
becomes ``unicast_src_ip``, the other hosts' addresses its ``unicast_peer`` list. Everything is
read from the inventory (hostvars), never from facts of other hosts, so ``--limit lb1`` renders
the same peers as a full run.

Role defaults are not part of another host's hostvars, so the defaults that depend on the host
(address, priority) are computed here, and the group-wide settings fall back to this host's
value (``keepalived_virtual_router_id``) or to the role default ('' for the virtual address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the unit tests import this module without Ansible installed
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

# The first host of the group gets 200, the next 150, 100, 50, then 1. Hosts started together
# (one Ansible task) elect the highest priority, but only by the difference of their waits,
# (256 - priority) / 256 s: 50 apart is 0.2 s, enough to beat start-up jitter; 10 apart (0.04 s)
# let the second host win one start of two in a test here. Gaps leave room to slot a host in between.
_FIRST_PRIORITY = 200
_PRIORITY_STEP = 50


def _fail(message: str) -> None:
    raise AnsibleFilterError(message)


def _ipv4(value: Any) -> ipaddress.IPv4Address | None:
    """The address, or None for anything that is not a dotted-quad IPv4 address."""
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        return None


def default_priority(position: int) -> int:
    """Priority of the host at this position of the group when it sets none (never below 1)."""
    return max(1, _FIRST_PRIORITY - _PRIORITY_STEP * position)


def _unicast_address(host: str, host_vars: Mapping[str, Any]) -> str:
    configured = host_vars.get("keepalived_unicast_address")
    name = "keepalived_unicast_address" if configured else "ansible_host"
    value = configured or host_vars.get("ansible_host")
    address = _ipv4(value)
    if address is None:
        _fail(f"{host}: {name} {value!r} is not an IPv4 address; set keepalived_unicast_address for {host} "
              "to its own address on the network the lb hosts share (e.g. 192.0.2.10)")
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        _fail(f"{host}: {name} {address} cannot carry VRRP to the other lb hosts; set "
              f"keepalived_unicast_address for {host} to its address on the network the lb hosts share")
    return str(address)


def _priority(host: str, host_vars: Mapping[str, Any], position: int) -> int:
    priority = host_vars.get("keepalived_priority", default_priority(position))
    if isinstance(priority, bool) or not str(priority).strip().isdigit() or not 1 <= int(priority) <= 254:
        _fail(f"{host}: keepalived_priority is {priority!r}; use a whole number from 1 to 254 "
              "(255 is reserved for a host that owns the virtual address)")
    return int(priority)


def _check_virtual_address(virtual_address: str) -> str:
    if not str(virtual_address).strip():
        _fail("keepalived_virtual_address is empty: set it (in group_vars of the lb group) to a free "
              "IPv4 address in the lb hosts' subnet, e.g. 192.0.2.100, or leave the role out")
    address = _ipv4(virtual_address)
    if address is None or address.is_loopback or address.is_unspecified or address.is_multicast:
        _fail(f"keepalived_virtual_address {virtual_address!r} is not a usable IPv4 address; use a free "
              "address in the lb hosts' subnet, e.g. 192.0.2.100 (no prefix length)")
    return str(address)


def _check_router_id(virtual_router_id: Any) -> int:
    if isinstance(virtual_router_id, bool) or not str(virtual_router_id).strip().isdigit() \
            or not 1 <= int(virtual_router_id) <= 255:
        _fail(f"keepalived_virtual_router_id is {virtual_router_id!r}; use 1-255, unique among the "
              "VRRP groups of the network")
    return int(virtual_router_id)


def _check_shared_setting(hosts: list[str], hostvars: Mapping[str, Any], name: str, fallback: Any) -> None:
    """Every host of the group must use the same value, else each would form its own VRRP group."""
    values = {host: str(hostvars[host].get(name, fallback)) for host in hosts}
    if len(set(values.values())) > 1:
        found = ", ".join(f"{host}: {value or 'unset'}" for host, value in values.items())
        _fail(f"{name} differs between the lb hosts ({found}); set it once for the whole group "
              "(group_vars of the lb group)")


def _check_unique_addresses(members: list[dict[str, Any]]) -> None:
    owners: dict[str, str] = {}
    for member in members:
        if member["address"] in owners:
            _fail(f"{owners[member['address']]} and {member['host']} have the same unicast address "
                  f"{member['address']}; set keepalived_unicast_address (or ansible_host) of each to "
                  "the host's own address")
        owners[member["address"]] = member["host"]


def keepalived_cluster(group_hosts: Iterable[str], hostvars: Mapping[str, Any], virtual_address: str,
                       virtual_router_id: Any) -> list[dict[str, Any]]:
    """The hosts sharing the virtual address, in group order: [{host, address, priority}].

    Fails, naming the variable to fix, on fewer than two hosts, a missing, malformed or
    clashing address, a priority outside 1-254, or group-wide settings that differ per host.
    """
    hosts = list(group_hosts)
    if len(hosts) < 2:
        _fail(f"the lb group has {len(hosts)} host(s) ({', '.join(hosts) or 'none'}): a virtual address "
              "needs at least two to move between; add a second lb host or leave "
              "keepalived_virtual_address unset")
    address = _check_virtual_address(virtual_address)
    _check_router_id(virtual_router_id)
    # The role default of keepalived_virtual_address is '': a host without it does not take part.
    _check_shared_setting(hosts, hostvars, "keepalived_virtual_address", "")
    _check_shared_setting(hosts, hostvars, "keepalived_virtual_router_id", virtual_router_id)
    members = [{"host": host,
                "address": _unicast_address(host, hostvars[host]),
                "priority": _priority(host, hostvars[host], position)}
               for position, host in enumerate(hosts)]
    _check_unique_addresses(members)
    for member in members:
        if member["address"] == address:
            _fail(f"keepalived_virtual_address {address} is {member['host']}'s own unicast address; "
                  "pick a free address in the same subnet that no host uses")
    return members


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"keepalived_cluster": keepalived_cluster}

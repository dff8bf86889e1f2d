"""Derive the load balancer's backend list from the inventory: the project's one source of truth.

Every app host contributes one backend per gunicorn instance. The app role deploys the backends
whose ``host`` is itself; the lb role renders all of them; the Molecule verifies read the same
list. Identities are derived from host and port only, never from list position, so adding a
host or an instance never renames (and never re-routes the sessions of) an existing backend.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the unit tests import this module without Ansible installed
    AnsibleFilterError = ValueError  # type: ignore[misc,assignment]

# SERVER_ID ends up in an environment file and in HTML; keep it to characters that need no quoting.
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_COOKIE_VALUE_LENGTH = 16


def backend_id(host: str, port: int) -> str:
    """A stable identifier usable as an nginx upstream name: host and port, nothing else."""
    return f"{re.sub(r'[^a-z0-9]+', '_', host.lower()).strip('_')}_{port}"


def cookie_value(secret: str, identifier: str) -> str:
    """An opaque, deterministic cookie value for one backend.

    HMAC rather than a plain hash: without the secret nobody can map a value back to a
    backend or mint a value for a backend they have not been pinned to.
    """
    digest = hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()
    return digest[:_COOKIE_VALUE_LENGTH]


def _fail(message: str) -> None:
    raise AnsibleFilterError(message)


def _listen_address(host: str, host_vars: Mapping[str, Any], lb_hosts: list[str]) -> str:
    if host_vars.get("backends_address"):
        return str(host_vars["backends_address"])
    if lb_hosts == [host]:
        # The only load balancer is this very host: keep the instances off the network.
        return "127.0.0.1"
    return str(host_vars.get("ansible_host") or host)


def _port(host: str, instance: Mapping[str, Any]) -> int:
    port = instance.get("port")
    if isinstance(port, bool) or not isinstance(port, (int, str)) or not str(port).isdigit():
        _fail(f"backends_instances on {host}: port {port!r} is not a number (use 1024-65535)")
    number = int(port)
    if not 1024 <= number <= 65535:
        _fail(f"backends_instances on {host}: port {number} is outside 1024-65535")
    return number


def _weight(host: str, port: int, instance: Mapping[str, Any]) -> int:
    weight = instance.get("weight", 1)
    if isinstance(weight, bool) or not str(weight).isdigit() or int(weight) < 1:
        _fail(f"backends_instances on {host}: weight of port {port} is {weight!r}; "
              "use a whole number of 1 or more")
    return int(weight)


def _host_backends(host: str, host_vars: Mapping[str, Any], lb_hosts: list[str],
                   default_instances: list, secret: str) -> list[dict[str, Any]]:
    instances = host_vars.get("backends_instances", default_instances)
    if not isinstance(instances, list) or not instances:
        _fail(f"backends_instances on {host} must be a non-empty list of "
              "{port, name, weight} entries; to take a host out, remove it from the app group")
    address = _listen_address(host, host_vars, lb_hosts)
    backends: list[dict[str, Any]] = []
    ports_seen: set[int] = set()
    for instance in instances:
        if not isinstance(instance, Mapping):
            _fail(f"backends_instances on {host}: {instance!r} is not a mapping like {{port: 5001}}")
        port = _port(host, instance)
        if port in ports_seen:
            _fail(f"backends_instances on {host}: port {port} is listed twice; "
                  "every instance on a host needs its own port")
        ports_seen.add(port)
        name = str(instance.get("name") or f"{host}-{port}")
        if not _SERVER_NAME.match(name):
            _fail(f"backends_instances on {host}: name {name!r} must be 1-63 letters, digits, "
                  "'.', '_' or '-'")
        identifier = backend_id(host, port)
        backends.append({
            "id": identifier,
            "host": host,
            "address": address,
            "port": port,
            "endpoint": f"[{address}]:{port}" if ":" in address else f"{address}:{port}",
            "name": name,
            "weight": _weight(host, port, instance),
            "cookie": cookie_value(secret, identifier),
        })
    return backends


def _check_unique(backends: list[dict[str, Any]], key: str, what: str) -> None:
    owners: dict[str, str] = {}
    for backend in backends:
        value = backend[key]
        if value in owners:
            _fail(f"two backends share the {what} {value!r} ({owners[value]} and "
                  f"{backend['host']}:{backend['port']}); make them unique in backends_instances")
        owners[value] = f"{backend['host']}:{backend['port']}"


def sticky_backends(app_hosts: Iterable[str], hostvars: Mapping[str, Any], lb_hosts: Iterable[str],
                    default_instances: list, secret: str) -> list[dict[str, Any]]:
    """Every app host × its instances, sorted by id, validated as a whole."""
    app_hosts = list(app_hosts)
    if not app_hosts:
        _fail("the app group is empty: add at least one host to the 'app' group of the "
              "inventory (see inventories/multihost/hosts.yml)")
    if not secret:
        _fail("the cookie secret is empty; backends_cookie_secret must be set")
    lb_hosts = list(lb_hosts)
    backends: list[dict[str, Any]] = []
    for host in app_hosts:
        backends.extend(_host_backends(host, hostvars[host], lb_hosts, default_instances, secret))
    _check_unique(backends, "id", "id")
    _check_unique(backends, "name", "name")
    _check_unique(backends, "endpoint", "address and port")
    return sorted(backends, key=lambda backend: backend["id"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"sticky_backends": sticky_backends}

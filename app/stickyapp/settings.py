"""What an instance reads from its environment, checked once at start-up.

A wrong value stops the app before it serves anything: a typo in a proxy list or a key list
would otherwise show up much later as cookies without ``Secure`` or users logged out.

Variables (the flask_app role writes them into each instance's environment files):

- ``SECRET_KEY`` (required): signs the session cookie; every instance shares it.
- ``SECRET_KEY_FALLBACKS``: older keys, whitespace-separated, letters and digits only. A
  session signed with one of them is still read (and re-signed with ``SECRET_KEY``), so the
  key can be rotated without logging everyone out.
- ``SERVER_ID``: the name the instance reports; the host name when unset.
- ``STATE_DIRECTORY`` (systemd's ``StateDirectory=``) or ``STICKYAPP_STATE_DIR``: where the
  server-local visit store lives.
- ``STICKYAPP_TRUSTED_PROXIES``: IP addresses, CIDR networks or host names, comma- or
  space-separated, whose ``X-Forwarded-Proto`` and ``X-Forwarded-For`` the app believes. A host
  name stands for the addresses it resolves to at start-up. Empty: nobody's.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_KEY_PATTERN = re.compile(r"[A-Za-z0-9]+")


class ConfigurationError(RuntimeError):
    """The environment does not hold what the app needs to start."""


@dataclass(frozen=True)
class Settings:
    secret_key: str
    secret_key_fallbacks: list[str]
    server_id: str
    state_directory: Path
    trusted_proxies: tuple[IPNetwork, ...]


def settings_from(environ: Mapping[str, str]) -> Settings:
    """Read and check every variable the app uses; raise ConfigurationError on the first bad one."""
    return Settings(
        secret_key=_secret_key(environ),
        secret_key_fallbacks=parse_secret_key_fallbacks(environ.get("SECRET_KEY_FALLBACKS", "")),
        server_id=environ.get("SERVER_ID") or socket.gethostname(),
        state_directory=_state_directory(environ),
        trusted_proxies=parse_trusted_proxies(environ.get("STICKYAPP_TRUSTED_PROXIES", "")),
    )


def _secret_key(environ: Mapping[str, str]) -> str:
    secret_key = environ.get("SECRET_KEY", "")
    if not secret_key:
        raise ConfigurationError(
            "SECRET_KEY is not set: every instance behind the load balancer must share one "
            "secret to read each other's session cookies. Set SECRET_KEY in the environment "
            "(the flask_app role generates one and writes it to the instance's environment file)."
        )
    return secret_key


def _state_directory(environ: Mapping[str, str]) -> Path:
    state_directory = environ.get("STATE_DIRECTORY") or environ.get("STICKYAPP_STATE_DIR")
    if not state_directory:
        raise ConfigurationError(
            "STATE_DIRECTORY is not set: the server-local visit store needs a writable "
            "directory (systemd's StateDirectory= sets it; STICKYAPP_STATE_DIR works by hand)."
        )
    # systemd may pass several colon-separated directories; the first one is ours.
    return Path(state_directory.split(":")[0])


def parse_secret_key_fallbacks(value: str) -> list[str]:
    """Split SECRET_KEY_FALLBACKS on whitespace; refuse anything but letters and digits.

    Keys are restricted so that a list written with commas (or a key with a stray quote)
    fails loudly instead of becoming one long key that matches nothing.
    """
    keys = value.split()
    for key in keys:
        if not _KEY_PATTERN.fullmatch(key):
            raise ConfigurationError(
                "SECRET_KEY_FALLBACKS holds a key with characters other than letters and "
                "digits: separate old keys with spaces or newlines only."
            )
    return keys


_HOST_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def parse_trusted_proxies(value: str) -> tuple[IPNetwork, ...]:
    """Parse STICKYAPP_TRUSTED_PROXIES: IPs, CIDR networks or host names, comma- or space-separated.

    A network with host bits set (``10.0.0.5/24``) is refused rather than widened: trusting
    a whole /24 when one address was meant would let its neighbours forge the scheme. A host
    name (a load balancer known to the inventory by name) is resolved once, here.
    """
    networks: list[IPNetwork] = []
    for item in re.split(r"[,\s]+", value.strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
            continue
        except ValueError as error:
            if not _HOST_NAME.fullmatch(item):
                raise ConfigurationError(
                    f"STICKYAPP_TRUSTED_PROXIES: {item!r} is not an IP address, a CIDR network "
                    f"or a host name ({error})."
                ) from error
        networks.extend(_resolve(item))
    return tuple(networks)


def _resolve(name: str) -> list[IPNetwork]:
    try:
        answers = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise ConfigurationError(
            f"STICKYAPP_TRUSTED_PROXIES: the host name {name!r} does not resolve ({error})."
        ) from error
    return sorted({ipaddress.ip_network(answer[4][0]) for answer in answers}, key=str)

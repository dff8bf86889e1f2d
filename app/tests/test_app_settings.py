"""What the app reads from its environment, and the values it refuses before it starts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from stickyapp import ConfigurationError, create_app
from stickyapp.settings import parse_secret_key_fallbacks, parse_trusted_proxies, settings_from


def base_environment(tmp_path: Path) -> dict[str, str]:
    return {"SECRET_KEY": "s" * 32, "SERVER_ID": "server-1", "STATE_DIRECTORY": str(tmp_path)}


def test_optional_variables_default_to_nothing(tmp_path: Path) -> None:
    settings = settings_from(base_environment(tmp_path))
    assert settings.secret_key_fallbacks == []
    assert settings.trusted_proxies == ()


def test_first_of_several_state_directories_is_used(tmp_path: Path) -> None:
    environment = base_environment(tmp_path) | {"STATE_DIRECTORY": f"{tmp_path}/a:{tmp_path}/b"}
    assert settings_from(environment).state_directory == tmp_path / "a"


def test_trusted_proxies_accept_commas_spaces_addresses_and_networks() -> None:
    networks = parse_trusted_proxies(" 10.0.0.0/24, 192.0.2.7\n2001:db8::/64 ,,")
    assert networks == (
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/64"),
    )


def test_trusted_proxies_resolve_host_names_once() -> None:
    assert ipaddress.ip_network("127.0.0.1/32") in parse_trusted_proxies("localhost")


@pytest.mark.parametrize("value", ["no-such-lb.invalid", "10.0.0.5/24", "10.0.0.300", "*"])
def test_trusted_proxies_refuse_what_is_not_an_address_or_network(value: str) -> None:
    with pytest.raises(ConfigurationError, match="STICKYAPP_TRUSTED_PROXIES"):
        parse_trusted_proxies(f"127.0.0.1 {value}")


def test_secret_key_fallbacks_split_on_any_whitespace() -> None:
    assert parse_secret_key_fallbacks(" old1\n\told2  old3 ") == ["old1", "old2", "old3"]


@pytest.mark.parametrize("value", ["old1,old2", "'old1'", "old-1"])
def test_secret_key_fallbacks_refuse_other_separators(value: str) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY_FALLBACKS"):
        parse_secret_key_fallbacks(value)


def test_bad_variable_stops_the_app_before_it_serves(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        create_app(base_environment(tmp_path) | {"STICKYAPP_TRUSTED_PROXIES": "lb1"})

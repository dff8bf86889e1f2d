"""Bad input stops site.yml in its preflight plays, before any host is touched.

The inventories here name made-up hosts reached with a local connection (the preflight plays
read the Debian release from this machine's /etc/os-release). `--tags preflight` runs the preflight plays
only (they are tagged `always`), so nothing past them could touch this machine even if a check
let bad input through; the assertions also check that no later play started.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_DIR

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

GOOD_INVENTORY = """
all:
  vars: {ansible_connection: local}
  children:
    lb: {hosts: {lb1: {}}}
    app:
      hosts:
        app1: {backends_instances: [{port: 5001}]}
        app2: {backends_instances: [{port: 5001}]}
"""


def run_site(tmp_path: Path, inventory: str, *extra: str) -> subprocess.CompletedProcess:
    inventory_dir = tmp_path / "inventory"
    inventory_dir.mkdir(exist_ok=True)
    (inventory_dir / "hosts.yml").write_text(inventory)
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg")}
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory_dir), str(PROJECT_DIR / "site.yml"), "--tags", "preflight",
         "-e", f"ansible_python_interpreter={sys.executable}", *extra],
        cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )


def assert_stopped_in_preflight(result: subprocess.CompletedProcess, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output
    assert "PLAY [Deploy" not in output, "a play after preflight started"
    assert "PLAY [Check the app settings" not in output or "PLAY [Check the load balancer" in output
    assert "changed=1" not in output and "changed=2" not in output


@pytest.mark.parametrize("strategy", ["sticky", "IP_HASH", ""])
def test_unknown_strategy_lists_the_valid_ones(tmp_path: Path, strategy: str) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", f"strategy={strategy}")
    assert_stopped_in_preflight(
        result, "value of nginx_lb_strategy must be one of: cookie, ip_hash, consistent_hash, round_robin, "
                f"least_conn, got: {strategy}")


def test_inventory_strategy_and_front_door_disagree(tmp_path: Path) -> None:
    inventory = GOOD_INVENTORY.replace("lb: {hosts: {lb1: {}}}", "lb: {hosts: {lb1: {nginx_lb_strategy: cookie}}}")
    result = run_site(tmp_path, inventory, "-e", "strategy=ip_hash")
    assert_stopped_in_preflight(result, "run with -e nginx_lb_strategy=ip_hash instead")


def test_unsupported_debian_release(tmp_path: Path) -> None:
    # Pretend the roles support only the other release than this machine's (its /etc/os-release,
    # which the preflight reads).
    release = platform.freedesktop_os_release()
    other = "bookworm" if release["VERSION_CODENAME"] == "trixie" else "trixie"
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", f'{{"nginx_lb_debian_releases": ["{other}"], '
                                                      f'"flask_app_debian_releases": ["{other}"]}}')
    assert_stopped_in_preflight(result, f"must run Debian {other} (it runs {release['PRETTY_NAME']})")


def test_empty_app_group(tmp_path: Path) -> None:
    inventory = """
all:
  vars: {ansible_connection: local}
  children:
    lb: {hosts: {lb1: {}}}
    app: {hosts: {}}
"""
    assert_stopped_in_preflight(run_site(tmp_path, inventory), "one in group 'app' (lb: ['lb1'], app: [])")


def test_empty_lb_group(tmp_path: Path) -> None:
    inventory = """
all:
  vars: {ansible_connection: local}
  children:
    lb: {hosts: {}}
    app: {hosts: {app1: {backends_instances: [{port: 5001}]}}}
"""
    assert_stopped_in_preflight(run_site(tmp_path, inventory), "one in group 'app' (lb: [], app: ['app1'])")


def test_workers_below_one(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", "flask_app_workers=0")
    assert_stopped_in_preflight(
        result, '"msg": "App settings on app1: flask_app_workers and flask_app_threads must be 1 or more (got 0 and 4)."')


def test_port_clash(tmp_path: Path) -> None:
    inventory = GOOD_INVENTORY.replace("app2: {backends_instances: [{port: 5001}]}",
                                       "app2: {backends_instances: [{port: 5002}, {port: 5002}]}")
    assert_stopped_in_preflight(run_site(tmp_path, inventory), "port 5002 is listed twice")


def test_weight_below_one(tmp_path: Path) -> None:
    inventory = GOOD_INVENTORY.replace("[{port: 5001}]}\n        app2", "[{port: 5001, weight: 0}]}\n        app2")
    assert_stopped_in_preflight(run_site(tmp_path, inventory), "weight of port 5001 is 0")


def test_drain_list_naming_an_unknown_backend(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", '{"nginx_lb_drain": ["server-9"]}')
    assert_stopped_in_preflight(result, "unknown: server-9")


def test_draining_every_backend_is_refused(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", '{"nginx_lb_drain": ["app1-5001"], "nginx_lb_down": ["app2-5001"]}')
    assert_stopped_in_preflight(result, "must leave at least one backend neither drained nor down.")


def test_trusted_proxy_must_be_an_address(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", '{"nginx_lb_trusted_proxies": ["proxy.example.org"]}')
    assert_stopped_in_preflight(result, "nginx_lb_trusted_proxies must be IP addresses or CIDRs (not: proxy.example.org)")


@pytest.mark.parametrize(("tls_settings", "message"), [
    ('{"nginx_lb_tls": true, "nginx_lb_tls_certificate": "/nonexistent/site.crt", '
     '"nginx_lb_tls_certificate_key": "/nonexistent/site.key"}',
     "nginx_lb_tls_certificate and nginx_lb_tls_certificate_key must be files on the controller "
     "(not found: /nonexistent/site.crt, /nonexistent/site.key)"),
    ('{"nginx_lb_tls": true, "nginx_lb_tls_certificate": "/etc/hostname"}',
     "with nginx_lb_tls, nginx_lb_tls_certificate and nginx_lb_tls_certificate_key must both be set, "
     "or both be empty (self-signed)"),
    ('{"nginx_lb_tls": true, "nginx_lb_tls_port": 80}',
     "with nginx_lb_tls, nginx_lb_tls_port must differ from nginx_lb_listen_port (80)"),
], ids=["missing-files", "certificate-without-key", "port-clash"])
def test_bad_tls_settings(tmp_path: Path, tls_settings: str, message: str) -> None:
    """Each mistake gets a message of its own: the whole message names that fix and nothing else."""
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", tls_settings)
    assert_stopped_in_preflight(result, f'"msg": "nginx_lb settings on lb1: {message}."')


@pytest.mark.parametrize(("settings", "message"), [
    ('{"nginx_lb_cookie_name": "SERVERID\\n"}', "nginx_lb_cookie_name must be 1-64 letters, digits, '_' or '-'"),
    ('{"nginx_lb_proxy_read_timeout": "30s\\n"}',
     "the nginx_lb timeouts must be times as nginx writes them, such as 10s or 500ms"),
    ('{"nginx_lb_trusted_proxies": ["10.0.0.0/8\\n"]}',
     "nginx_lb_trusted_proxies must be IP addresses or CIDRs (not: 10.0.0.0/8\\n)"),
    ('{"nginx_lb_health_path": "/health check"}', "nginx_lb_health_path must be a path starting with /, without spaces"),
], ids=["cookie-name-newline", "timeout-newline", "proxy-newline", "health-path-space"])
def test_a_value_nginx_would_refuse_later_is_refused_first(tmp_path: Path, settings: str, message: str) -> None:
    """A trailing newline or a space would pass a check that ends in `$`, and break nginx.conf or
    the health checker's requests after the app hosts were already deployed."""
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", settings)
    assert_stopped_in_preflight(result, f'"msg": "nginx_lb settings on lb1: {message}."')


def test_unknown_tls_protocol_is_refused(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", '{"nginx_lb_tls": true, "nginx_lb_tls_protocols": ["SSLv3"]}')
    assert_stopped_in_preflight(result, "nginx_lb_tls_protocols")


def test_invalid_role_variable_is_named(tmp_path: Path) -> None:
    result = run_site(tmp_path, GOOD_INVENTORY, "-e", "flask_app_worker_class=eventlet")
    assert_stopped_in_preflight(result, "flask_app_worker_class")


def test_secrets_are_generated_outside_git_with_tight_modes(tmp_path: Path) -> None:
    # A good inventory passes preflight (then fails on the non-existent hosts); by then both
    # secrets exist next to the inventory, readable by their owner only, and were never printed.
    result = run_site(tmp_path, GOOD_INVENTORY)
    secrets = tmp_path / "inventory" / ".secrets"
    output = result.stdout + result.stderr
    for name in ("flask_secret_key", "cookie_secret"):
        path = secrets / name
        assert path.exists(), output
        assert path.stat().st_mode & 0o077 == 0, oct(path.stat().st_mode)
        assert path.read_text().strip() not in output

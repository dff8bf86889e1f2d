"""The keepalived role: its checks stop a bad inventory before any host changes, it renders a
configuration keepalived accepts, and its health check fails on a hung nginx, not only a dead one.

The preflight tests run site.yml's preflight plays only (`--tags preflight`) against made-up
hosts reached with a local connection, as tests/test_preflight.py does: one bad inventory per
kind of check (filter plugin, argument spec, assert) proves that the run stops there. The other
bad inventories the filter plugin refuses are given to the filter directly, as the preflight does.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROJECT_DIR, load_module

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
cluster = load_module("roles/keepalived/filter_plugins/keepalived_cluster.py", "keepalived_cluster_plugin")
check = load_module("roles/keepalived/files/check_nginx_answers.py", "check_nginx_answers")
ROLE_DEFAULTS = yaml.safe_load((PROJECT_DIR / "roles/keepalived/defaults/main.yml").read_text())

TWO_LBS = """
all:
  vars: {ansible_connection: local}
  children:
    lb:
      vars: {keepalived_virtual_address: 192.0.2.100}
      hosts:
        lb1: {ansible_host: 192.0.2.10}
        lb2: {ansible_host: 192.0.2.11}
    app:
      hosts:
        app1: {ansible_host: 192.0.2.21}
"""


# --- the derivation of the VRRP group (filter plugin) ------------------------------------------

def test_peers_and_priorities_come_from_the_inventory() -> None:
    hostvars = {"lb1": {"ansible_host": "192.0.2.10"}, "lb2": {"ansible_host": "192.0.2.11"},
                "lb3": {"ansible_host": "lb3.example.org", "keepalived_unicast_address": "192.0.2.12",
                        "keepalived_priority": 150}}
    members = cluster.keepalived_cluster(["lb1", "lb2", "lb3"], hostvars, "192.0.2.100", 51)
    assert members == [{"host": "lb1", "address": "192.0.2.10", "priority": 200},
                       {"host": "lb2", "address": "192.0.2.11", "priority": 150},
                       {"host": "lb3", "address": "192.0.2.12", "priority": 150}]


def test_default_priorities_never_leave_the_valid_range() -> None:
    priorities = [cluster.default_priority(position) for position in range(40)]
    assert priorities[:5] == [200, 150, 100, 50, 1]
    assert min(priorities) == 1 and max(priorities) <= 254


def test_group_settings_fall_back_to_this_hosts_value() -> None:
    # A router id set for the whole group is not in the other hosts' hostvars when it comes
    # from role defaults: hosts without it use the same default and must not be reported.
    hostvars = {"lb1": {"ansible_host": "192.0.2.10", "keepalived_virtual_address": "192.0.2.100"},
                "lb2": {"ansible_host": "192.0.2.11", "keepalived_virtual_address": "192.0.2.100"}}
    assert len(cluster.keepalived_cluster(["lb1", "lb2"], hostvars, "192.0.2.100", 51)) == 2
    hostvars["lb2"]["keepalived_virtual_router_id"] = 52
    with pytest.raises(cluster.AnsibleFilterError, match=r"keepalived_virtual_router_id differs .*lb1: 51, lb2: 52"):
        cluster.keepalived_cluster(["lb1", "lb2"], hostvars, "192.0.2.100", 51)


def test_a_loopback_ansible_host_is_not_taken_as_the_vrrp_address() -> None:
    hostvars = {"lb1": {"ansible_host": "127.0.0.1"}, "lb2": {"ansible_host": "192.0.2.11"}}
    with pytest.raises(cluster.AnsibleFilterError, match="lb1: ansible_host 127.0.0.1 cannot carry VRRP"):
        cluster.keepalived_cluster(["lb1", "lb2"], hostvars, "192.0.2.100", 51)


# --- preflight: bad input stops the run before any host changes --------------------------------

def run_playbook(tmp_path: Path, playbook: str, inventory: str, *extra: str) -> subprocess.CompletedProcess:
    """Run a playbook of the repository (site.yml: preflight plays only) against `inventory`."""
    inventory_dir = tmp_path / "inventory"
    inventory_dir.mkdir(exist_ok=True)
    (inventory_dir / "hosts.yml").write_text(inventory)
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(PROJECT_DIR / "ansible.cfg")}
    preflight_only = ["--tags", "preflight"] if playbook == "site.yml" else []
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory_dir), str(PROJECT_DIR / playbook), *preflight_only,
         "-e", f"ansible_python_interpreter={sys.executable}", *extra],
        cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )


def assert_stopped_in_preflight(result: subprocess.CompletedProcess, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in " ".join(output.split()), output
    assert "PLAY [Deploy" not in output, "a play after preflight started"
    assert "changed=1" not in output and "changed=2" not in output


# One case per kind of check: the filter plugin, the argument spec, the rules of validate.yml (the
# check URL, the advert interval that the argument spec lets through as a float, two at once).
BAD_INVENTORIES = {
    "virtual-address-on-one-host-only": (
        TWO_LBS.replace("vars: {keepalived_virtual_address: 192.0.2.100}", "vars: {}")
               .replace("lb1: {ansible_host: 192.0.2.10}",
                        "lb1: {ansible_host: 192.0.2.10, keepalived_virtual_address: 192.0.2.100}"),
        "keepalived_virtual_address differs between the lb hosts (lb1: 192.0.2.100, lb2: unset)"),
    "priority-not-a-number": (
        TWO_LBS.replace("lb1: {ansible_host: 192.0.2.10}", "lb1: {ansible_host: 192.0.2.10, keepalived_priority: high}"),
        "argument 'keepalived_priority' is of type str"),
    "remote-check-url": (
        TWO_LBS.replace("{keepalived_virtual_address: 192.0.2.100}",
                        "{keepalived_virtual_address: 192.0.2.100, keepalived_check_url: 'http://192.0.2.21/'}"),
        "keepalived settings on lb1: keepalived_check_url must be a plain http:// URL on loopback (127.0.0.1, "
        "localhost or [::1]) such as http://127.0.0.1:8081/stickylab-lb-health (is http://192.0.2.21/)."),
    # VRRPv3 carries the interval in centiseconds: 0 would be refused by keepalived on the host.
    "advert-interval-0": (
        TWO_LBS.replace("{keepalived_virtual_address: 192.0.2.100}",
                        "{keepalived_virtual_address: 192.0.2.100, keepalived_advert_interval: 0}"),
        "keepalived settings on lb1: keepalived_advert_interval must be seconds from 0.01 to 40.95 in steps "
        "of 0.01, such as 0.5 (is 0)."),
    # Two rules broken at once: the message names both, and no other.
    "interface-and-script-user": (
        TWO_LBS.replace("{keepalived_virtual_address: 192.0.2.100}",
                        "{keepalived_virtual_address: 192.0.2.100, keepalived_interface: 'eth0; reboot',"
                        " keepalived_script_user: Root}"),
        "keepalived settings on lb1: keepalived_interface must be empty (found on the host) or an interface "
        "name such as eth0; keepalived_script_user must be a user name."),
}


@pytest.mark.parametrize("case", BAD_INVENTORIES, ids=list(BAD_INVENTORIES))
def test_bad_inventory_stops_in_preflight(tmp_path: Path, case: str) -> None:
    inventory, message = BAD_INVENTORIES[case]
    assert_stopped_in_preflight(run_playbook(tmp_path, "site.yml", inventory), message)


def lb_hostvars(lb_vars: dict[str, Any] | None = None,
                **host_vars: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The hostvars of TWO_LBS's lb hosts, as Ansible merges them (all's vars, the lb group's, the
    host's own), with `lb_vars` added to the lb group's vars and `host_vars` to each named host's."""
    group = {"keepalived_virtual_address": "192.0.2.100", **(lb_vars or {})}
    hosts = {"lb1": {"ansible_host": "192.0.2.10"}, "lb2": {"ansible_host": "192.0.2.11"}}
    return {host: {"ansible_connection": "local", **group, **own, **host_vars.get(host, {})}
            for host, own in hosts.items()}


def derive_on(host: str, group_hosts: list[str], hostvars: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What validate.yml derives on `host`: `groups[keepalived_group] | keepalived_cluster(hostvars,
    keepalived_virtual_address, keepalived_virtual_router_id)`, the last two this host's values or
    the role's defaults."""
    own = hostvars[host]
    return cluster.keepalived_cluster(
        group_hosts, hostvars,
        own.get("keepalived_virtual_address", ROLE_DEFAULTS["keepalived_virtual_address"]),
        own.get("keepalived_virtual_router_id", ROLE_DEFAULTS["keepalived_virtual_router_id"]))


# The other bad inventories, given to the filter as the preflight gives them (hosts of the lb
# group, their hostvars); each comment is the change to TWO_LBS.
REFUSED_BY_THE_FILTER: dict[str, tuple[list[str], dict[str, dict[str, Any]], str]] = {
    "malformed-virtual-address": (  # keepalived_virtual_address: 192.0.2.300
        ["lb1", "lb2"], lb_hostvars({"keepalived_virtual_address": "192.0.2.300"}),
        "keepalived_virtual_address '192.0.2.300' is not a usable IPv4 address"),
    "virtual-address-with-prefix": (  # keepalived_virtual_address: 192.0.2.100/24
        ["lb1", "lb2"], lb_hostvars({"keepalived_virtual_address": "192.0.2.100/24"}),
        "keepalived_virtual_address '192.0.2.100/24' is not a usable IPv4 address"),
    "virtual-address-is-a-host-address": (  # keepalived_virtual_address: 192.0.2.11
        ["lb1", "lb2"], lb_hostvars({"keepalived_virtual_address": "192.0.2.11"}),
        "keepalived_virtual_address 192.0.2.11 is lb2's own unicast address"),
    "single-lb": (  # no lb2
        ["lb1"], lb_hostvars(),
        "the lb group has 1 host(s) (lb1): a virtual address needs at least two"),
    "duplicate-unicast-address": (  # lb2: {ansible_host: lb2.example.org, keepalived_unicast_address: 192.0.2.10}
        ["lb1", "lb2"],
        lb_hostvars(lb2={"ansible_host": "lb2.example.org", "keepalived_unicast_address": "192.0.2.10"}),
        "lb1 and lb2 have the same unicast address 192.0.2.10"),
    "host-name-without-unicast-address": (  # lb2: {ansible_host: lb2.example.org}
        ["lb1", "lb2"], lb_hostvars(lb2={"ansible_host": "lb2.example.org"}),
        "lb2: ansible_host 'lb2.example.org' is not an IPv4 address; set keepalived_unicast_address for lb2"),
    "priority-255": (  # lb2: keepalived_priority: 255
        ["lb1", "lb2"], lb_hostvars(lb2={"keepalived_priority": 255}),
        "lb2: keepalived_priority is 255; use a whole number from 1 to 254"),
    "priority-0": (  # lb1: keepalived_priority: 0
        ["lb1", "lb2"], lb_hostvars(lb1={"keepalived_priority": 0}),
        "lb1: keepalived_priority is 0; use a whole number from 1 to 254"),
    "router-id-out-of-range": (  # keepalived_virtual_router_id: 256 for the lb group
        ["lb1", "lb2"], lb_hostvars({"keepalived_virtual_router_id": 256}),
        "keepalived_virtual_router_id is 256; use 1-255"),
}


@pytest.mark.parametrize("case", REFUSED_BY_THE_FILTER, ids=list(REFUSED_BY_THE_FILTER))
def test_bad_inventory_is_refused_by_the_filter(case: str) -> None:
    group_hosts, hostvars, message = REFUSED_BY_THE_FILTER[case]
    for host in group_hosts:  # every lb host runs the preflight, and each must stop
        with pytest.raises(cluster.AnsibleFilterError, match=re.escape(message)):
            derive_on(host, group_hosts, hostvars)


@pytest.mark.parametrize("limit", [[], ["--limit", "lb1"]], ids=["all-hosts", "limit-lb1"])
def test_good_inventory_passes_preflight(tmp_path: Path, limit: list[str]) -> None:
    result = run_playbook(tmp_path, "site.yml", TWO_LBS, *limit)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "TASK [keepalived : Check this host's place in the group" in output, output


def test_without_a_virtual_address_nothing_happens(tmp_path: Path) -> None:
    inventory = TWO_LBS.replace("vars: {keepalived_virtual_address: 192.0.2.100}", "vars: {}")
    result = run_playbook(tmp_path, "site.yml", inventory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "TASK [keepalived" not in output, output


# --- the rendered configuration ----------------------------------------------------------------

def _download_keepalived(into: Path) -> Path | None:
    """Debian's keepalived and the libraries this machine lacks, unpacked, never installed."""
    dependencies = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends", "keepalived"],
        capture_output=True, text=True, check=False).stdout.split()
    names = {word for word in dependencies if word[0].isalnum() and ":" not in word}
    installed = subprocess.run(["dpkg-query", "--show", "--showformat=${Package}\\n", *sorted(names)],
                               capture_output=True, text=True, check=False).stdout.split()
    wanted = sorted(names.difference(installed) | {"keepalived"})
    if subprocess.run(["apt-get", "download", *wanted], cwd=into, capture_output=True, check=False).returncode:
        return None
    for package in into.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(package), str(into / "root")], check=True)
    return into / "root"


@pytest.fixture(scope="session")
def keepalived_command(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command the role validates keepalived.conf with, run on this machine."""
    if os.geteuid() != 0:
        pytest.skip("keepalived --config-test switches to the script user: needs root")
    prefix = ["/usr/bin/env", "--ignore-signal=TERM"]  # as the role does: keepalived 2.2.7 bug
    if Path("/usr/sbin/keepalived").exists():
        return [*prefix, "/usr/sbin/keepalived", "--config-test", "--use-file"]
    if not shutil.which("apt-get"):
        pytest.skip("no keepalived here and no apt-get to download Debian's")
    root = _download_keepalived(tmp_path_factory.mktemp("keepalived-deb"))
    if root is None:
        pytest.skip("Debian's keepalived package could not be downloaded")
    libraries = f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu"
    return [*prefix, f"LD_LIBRARY_PATH={libraries}", str(root / "usr/sbin/keepalived"), "--config-test", "--use-file"]


def network_interface() -> str:
    """An interface of this machine keepalived accepts (it refuses loopback); only named, never used."""
    names = sorted(path.name for path in Path("/sys/class/net").iterdir() if path.name != "lo")
    if not names:
        pytest.skip("no network interface but loopback")
    return names[0]


@pytest.fixture()
def config_dir() -> Iterator[Path]:
    """A directory the unprivileged script user can traverse, as /etc/keepalived on a host."""
    directory = Path(tempfile.mkdtemp(prefix="stickylab-keepalived-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def render(tmp_path: Path, config_dir: Path, inventory: str) -> subprocess.CompletedProcess:
    return run_playbook(tmp_path, "tests/playbooks/keepalived-render.yml",
                        inventory.replace("/nonexistent/python", sys.executable),
                        "-e", f"keepalived_config_dir={config_dir}", "-e", "keepalived_script_user=nobody",
                        "-e", f"keepalived_interface={network_interface()}")


def instance_settings(config: str) -> dict[str, list[str]]:
    """keyword -> values of the lines inside the VRRP instance (comments dropped)."""
    settings: dict[str, list[str]] = {}
    lines = [line.split("#")[0].strip() for line in config.split("vrrp_instance", 1)[1].splitlines()]
    block = None
    for line in filter(None, lines):
        words = line.split()
        if words[-1] == "{":
            block = words[0]
        elif words == ["}"]:
            block = None
        elif block in ("unicast_peer", "virtual_ipaddress"):
            settings.setdefault(block, []).append(words[0])
        else:
            settings.setdefault(words[0], []).extend(words[1:])
    return settings


def test_each_lb_sends_from_its_own_address_to_the_others(tmp_path: Path, config_dir: Path) -> None:
    inventory = TWO_LBS.replace("lb2: {ansible_host: 192.0.2.11}",
                                "lb2: {ansible_host: 192.0.2.11}\n        lb3: {ansible_host: 192.0.2.12}")
    result = render(tmp_path, config_dir, inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    own = {"lb1": "192.0.2.10", "lb2": "192.0.2.11", "lb3": "192.0.2.12"}
    priorities = {}
    for host, address in own.items():
        settings = instance_settings((config_dir / f"{host}.conf").read_text())
        assert settings["unicast_src_ip"] == [address]
        assert sorted(settings["unicast_peer"]) == sorted(set(own.values()) - {address})
        assert settings["virtual_ipaddress"] == ["192.0.2.100/32"]
        assert settings["state"] == ["BACKUP"] and "nopreempt" in settings
        priorities[host] = int(settings["priority"][0])
    assert priorities["lb1"] > priorities["lb2"] > priorities["lb3"]


def test_rendered_configuration_passes_keepalived_config_test(
        tmp_path: Path, config_dir: Path, keepalived_command: list[str]) -> None:
    result = render(tmp_path, config_dir, TWO_LBS)
    assert result.returncode == 0, result.stdout + result.stderr
    for host in ("lb1", "lb2"):
        config = config_dir / f"{host}.conf"
        test = subprocess.run([*keepalived_command, str(config)], capture_output=True, text=True, check=False)
        assert test.returncode == 0, f"{host}: {test.stderr}\n{config.read_text()}"


def test_vrrp_v3_with_half_second_adverts_passes_config_test_without_a_warning(
        tmp_path: Path, config_dir: Path, keepalived_command: list[str]) -> None:
    # VRRPv2 allows whole-second adverts only: a holder powered off was replaced after 3.2 s.
    # VRRPv3 takes 0.5 s (3 x 0.5 s + skew), and has no authentication: none is rendered, and
    # only the listed peers are believed. keepalived prints nothing for a configuration it takes
    # as written (a rounded interval or an ignored authentication block would be reported).
    result = render(tmp_path, config_dir, TWO_LBS)
    assert result.returncode == 0, result.stdout + result.stderr
    for host in ("lb1", "lb2"):
        config = config_dir / f"{host}.conf"
        settings = instance_settings(config.read_text())
        assert settings["version"] == ["3"] and settings["advert_int"] == ["0.5"], settings
        assert "check_unicast_src" in settings
        assert not {"authentication", "auth_type", "auth_pass", "include", "includea"} & settings.keys()
        test = subprocess.run([*keepalived_command, str(config)], capture_output=True, text=True, check=False)
        output = test.stdout + test.stderr
        assert test.returncode == 0, f"{host}: {output}\n{config.read_text()}"
        assert output.strip() == "", output


@pytest.mark.parametrize("breakage", ["priority 300", "VRRPv2 with half-second adverts",
                                      "PASS authentication with VRRPv3", "missing check"])
def test_keepalived_config_test_catches_a_broken_configuration(
        tmp_path: Path, config_dir: Path, keepalived_command: list[str], breakage: str) -> None:
    # The validator the role relies on must be able to fail, or validating proves nothing; a
    # setting keepalived would round or ignore is a failure too.
    assert render(tmp_path, config_dir, TWO_LBS).returncode == 0
    config = config_dir / "lb1.conf"
    text = config.read_text()
    if breakage == "priority 300":
        config.write_text(text.replace("priority 200", "priority 300"))
    elif breakage == "VRRPv2 with half-second adverts":
        config.write_text(text.replace("version 3", "version 2"))
    elif breakage == "PASS authentication with VRRPv3":
        config.write_text(text.replace("    check_unicast_src\n",
                                       "    check_unicast_src\n    authentication {\n"
                                       "        auth_type PASS\n        auth_pass stickyla\n    }\n"))
    else:
        (config_dir / "check_nginx_answers.py").unlink()
    assert config.read_text() != text or breakage == "missing check"
    test = subprocess.run([*keepalived_command, str(config)], capture_output=True, text=True, check=False)
    assert test.returncode != 0, test.stderr
    reported = {"VRRPv2 with half-second adverts": "VRRPv2 advertisement interval 0.500000s must be an integer",
                "PASS authentication with VRRPv3": "VRRP version 3 does not support authentication"}
    assert reported.get(breakage, "") in test.stdout + test.stderr, test.stdout + test.stderr


# --- the health check -------------------------------------------------------------------------

class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def nginx_health() -> Iterator[tuple[http.server.HTTPServer, str]]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_port}/stickylab-lb-health"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture()
def hung_listener() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) but never answers: a hung nginx."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/stickylab-lb-health"


def run_check(url: str) -> subprocess.CompletedProcess:
    script = PROJECT_DIR / "roles/keepalived/files/check_nginx_answers.py"
    return subprocess.run([str(script), url], capture_output=True, text=True, timeout=30, check=False)


def test_check_passes_while_nginx_answers(nginx_health: tuple[http.server.HTTPServer, str]) -> None:
    assert run_check(nginx_health[1]).returncode == 0


def test_check_fails_on_an_error_status(nginx_health: tuple[http.server.HTTPServer, str]) -> None:
    server, url = nginx_health
    server.RequestHandlerClass = type("Failing", (_Health,), {"status": 503})
    result = run_check(url)
    assert result.returncode == 1 and "503" in result.stderr


def test_check_fails_when_nothing_listens() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    assert run_check(f"http://127.0.0.1:{port}/stickylab-lb-health").returncode == 1


def test_check_fails_on_a_hung_nginx(hung_listener: str) -> None:
    result = run_check(hung_listener)
    assert result.returncode == 1, result.stderr
    assert "did not answer" in result.stderr


def test_an_answer_that_trickles_in_past_the_deadline_fails() -> None:
    # A status line that arrives, then a body that keeps coming: the deadline covers the whole
    # answer, not each read. The body ends after 100 bytes (about 2 s), so a check that only
    # times out single reads returns 200 instead of hanging the test.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        stop = threading.Event()

        def trickle() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
                for _ in range(100):
                    if stop.wait(0.02):
                        break
                    connection.sendall(b"x")

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        with pytest.raises(TimeoutError):
            check.fetch_status(url, timeout=0.3)
        stop.set()
        thread.join(timeout=5)


@pytest.mark.parametrize("url", ["https://127.0.0.1/", "127.0.0.1:8081/health", "http:///x"])
def test_check_refuses_what_is_not_a_plain_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        check.parse_url(url)

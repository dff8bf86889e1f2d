"""An app host as a user would check it: every instance that runs here is up under systemd,
sandboxed, listening on its backend address only, comes back by itself when killed, and the
shared secret is root's alone."""

from __future__ import annotations

import hashlib
import os
import pwd
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import sticky_clients as sc
from conftest import (INSTANCE_START_SECONDS, NginxRest, answers_health, listening_addresses, parse_exposure,
                      is_systemd_stop, quiet_before_each_stop, run_systemctl, unit_journal, unit_of,
                      unit_properties, wait_until)

SETTINGS_DIR = "/etc/stickyapp"
# Role ca_certificates: where it puts the extra certificates, and the trust store they join.
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
TRUST_STORE = Path("/etc/ssl/certs/ca-certificates.crt")
# systemd restarts a killed instance after RestartSec=1; gunicorn then needs to boot.
RESTART_WITHIN_SECONDS = 5.0
# The units the roles install: none of them may be failed (another unit of the host may be).
DEPLOYMENT_UNITS = ("stickyapp@", "stickylab-", "nginx.", "keepalived.", "prometheus-nginx-exporter.")
# How long the host may take to finish booting (after a power cut, say).
BOOT_SECONDS = 60
# A rolling update takes an app host out of every lb, waits for the lbs' old workers, then
# updates and restarts its instances: under a steady load, an instance's last request comes at
# least this long before systemd stops it.
DRAINED_SECONDS = 1.0


@pytest.fixture(scope="module")
def local_backends(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    here = sorted((backend for backend in deployment["backends"] if backend["local"]), key=lambda b: b["name"])
    if not here:
        pytest.skip("no app instance runs on this host")
    return here


def test_systemd_reports_the_host_up_with_none_of_the_deployments_units_failed() -> None:
    done = subprocess.run(["systemctl", "is-system-running", "--wait"], capture_output=True, text=True,
                          timeout=BOOT_SECONDS)
    assert done.stdout.strip() in ("running", "degraded"), (done.stdout, done.stderr)
    listed = subprocess.run(["systemctl", "list-units", "--failed", "--plain", "--no-legend"],
                            check=True, capture_output=True, text=True, timeout=60).stdout
    failed = [line.split()[0] for line in listed.splitlines() if line.strip()]
    ours = [unit for unit in failed if unit.startswith(DEPLOYMENT_UNITS)]
    assert ours == [], f"failed units of the deployment: {ours} (every failed unit: {failed})"


def test_every_instance_answers_its_health_page(local_backends: list[dict[str, Any]]) -> None:
    for backend in local_backends:
        assert wait_until(lambda: answers_health(backend["endpoint"]), INSTANCE_START_SECONDS), backend["name"]


def test_every_instance_is_active_enabled_and_restarted_on_failure(local_backends: list[dict[str, Any]]) -> None:
    for backend in local_backends:
        unit = unit_properties(unit_of(backend), "ActiveState", "UnitFileState", "Restart")
        assert unit == {"ActiveState": "active", "UnitFileState": "enabled", "Restart": "on-failure"}, (
            backend["name"], unit)


def test_no_other_instance_runs_is_enabled_or_configured(local_backends: list[dict[str, Any]]) -> None:
    """An instance taken out of the inventory is stopped and disabled, and its environment file is
    gone (the multihost scenario moves app1's instance to another port between its verifies)."""
    wanted = {unit_of(backend) for backend in local_backends}
    listed = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "stickyapp@*.service"],
                            check=True, capture_output=True, text=True, timeout=60).stdout
    # UNIT LOAD ACTIVE SUB DESCRIPTION; a stopped instance may stay loaded, "inactive".
    running = {fields[0] for fields in map(str.split, listed.splitlines()) if fields and fields[2] != "inactive"}
    enabled = {path.name for path in Path("/etc/systemd/system").glob("*.wants/stickyapp@*.service")}
    configured = {f"stickyapp@{path.name.removeprefix('instance-').removesuffix('.env')}.service"
                  for path in Path("/etc/stickyapp").glob("instance-*.env")}
    assert running == wanted, (sorted(running), sorted(wanted))
    assert enabled == wanted, (sorted(enabled), sorted(wanted))
    assert configured == wanted, (sorted(configured), sorted(wanted))


def test_the_extra_ca_certificates_were_trusted_before_any_instance_started(
        local_backends: list[dict[str, Any]]) -> None:
    """Every extra certificate is in the trust store, and the store was updated before the
    instances started: before the app's packages were installed and it ran, even on the first
    deployment, where the role's handler and flask_app's run in the same flush."""
    extra = sorted(EXTRA_CA_DIR.glob("*.crt"))
    if not extra:
        pytest.skip("this host was given no extra CA certificate (ca_certificates_extra is empty)")
    store = TRUST_STORE.read_text()
    missing = [cert.name for cert in extra if cert.read_text().strip() not in store]
    assert missing == [], f"not in {TRUST_STORE}: {missing}"
    updated = TRUST_STORE.stat().st_mtime
    boot = time.time() - time.monotonic()  # systemd's monotonic timestamps count from here
    for backend in local_backends:
        monotonic = unit_properties(unit_of(backend), "ExecMainStartTimestampMonotonic")
        started = boot + int(monotonic["ExecMainStartTimestampMonotonic"]) / 1e6
        assert updated < started, (
            f"{backend['name']} started {updated - started:.1f} s before the trust store was updated")


def test_every_instance_is_sandboxed_to_an_exposure_of_2_or_lower(local_backends: list[dict[str, Any]]) -> None:
    # The default unit scores about 9.6 ("UNSAFE"); the sandbox in the role's unit brings it down.
    for backend in local_backends:
        done = subprocess.run(["systemd-analyze", "security", "--no-pager", unit_of(backend)],
                              check=True, capture_output=True, text=True, timeout=60)
        exposure = parse_exposure(done.stdout)
        assert exposure <= 2.0, f"{backend['name']}: exposure {exposure}"


def test_every_instance_listens_on_its_backend_address_only(local_backends: list[dict[str, Any]]) -> None:
    listening = listening_addresses(subprocess.run(["ss", "-Hltn"], check=True, capture_output=True,
                                                   text=True, timeout=30).stdout)
    for backend in local_backends:
        address, port = backend["address"], backend["port"]
        # A host name (every app host of the multihost scenario): ss shows what it resolved to.
        resolved = {info[4][0] for info in socket.getaddrinfo(address, port, proto=socket.IPPROTO_TCP)}
        wanted = {f"{ip}:{port}" for ip in resolved} | {f"[{ip}]:{port}" for ip in resolved}
        assert wanted & listening, (backend["name"], address, sorted(resolved), sorted(listening))
        for everywhere in (f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}"):
            assert everywhere not in listening, f"{backend['name']} listens on {everywhere}"


def test_the_files_holding_the_secret_are_readable_by_root_only(local_backends: list[dict[str, Any]]) -> None:
    for backend in local_backends:
        status = os.stat(f"{SETTINGS_DIR}/instance-{backend['port']}.env")
        assert stat.S_IMODE(status.st_mode) == 0o600, (backend["name"], oct(stat.S_IMODE(status.st_mode)))
        assert pwd.getpwuid(status.st_uid).pw_name == "root", backend["name"]
    # multihost's prepare leaves a secret.env where the key once was: the converge removes it.
    assert not os.path.exists(f"{SETTINGS_DIR}/secret.env")


def test_every_instance_runs_with_the_secret_key_the_inventory_holds(
        local_backends: list[dict[str, Any]], request: pytest.FixtureRequest) -> None:
    """The key as the running gunicorn got it from systemd (its environment), not only the file:
    a key changed in the inventory must reach every instance. Compared by digest only."""
    expected = request.config.getoption("--secret-key-sha256")
    if not expected:
        pytest.skip("no --secret-key-sha256 given")
    for backend in local_backends:
        pid = unit_properties(unit_of(backend), "MainPID")["MainPID"]
        environment = dict(entry.partition(b"=")[::2]
                           for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if entry)
        digest = hashlib.sha256(environment.get(b"SECRET_KEY", b"")).hexdigest()
        assert digest == expected, f"{backend['name']} runs with another SECRET_KEY"


def test_a_killed_instance_is_restarted_by_systemd_within_5_seconds(
        local_backends: list[dict[str, Any]], nginx_rest: NginxRest) -> None:
    """SIGKILL to the gunicorn arbiter (its workers follow); time systemd's restart until the
    instance answers /health again. Then nginx's rest of it is waited out, so the next fault
    an operator (or YAML) causes meets a whole pool."""
    backend = local_backends[0]
    unit = unit_of(backend)
    restarts_before = int(unit_properties(unit, "NRestarts")["NRestarts"])
    run_systemctl("kill", unit, "--signal=SIGKILL", "--kill-whom=main")
    killed = time.monotonic()
    time.sleep(0.2)  # let the arbiter die before asking the old one for /health
    back = wait_until(lambda: answers_health(backend["endpoint"]), INSTANCE_START_SECONDS, every=0.1)
    seconds = time.monotonic() - killed
    nginx_rest.mark(backend["name"])
    unit_state = unit_properties(unit, "NRestarts", "ActiveState")
    print(f"systemd brought {backend['name']} back in {seconds:.2f} s")
    assert back and seconds < RESTART_WITHIN_SECONDS, f"back after {seconds:.2f} s ({back})"
    assert int(unit_state["NRestarts"]) >= max(1, restarts_before + 1), unit_state
    assert unit_state["ActiveState"] == "active", unit_state
    nginx_rest.wait()


def test_every_instance_answers_through_its_own_address(local_backends: list[dict[str, Any]]) -> None:
    """/health reports the instance's own SERVER_ID: the unit serves the backend it is named for."""
    for backend in local_backends:
        answer = sc.fetch(sc.Target.from_url(f"http://{backend['endpoint']}/health"), timeout=5)
        assert answer.status == 200 and answer.json()["server_id"] == backend["name"], (backend, answer)


def test_no_instance_here_was_stopped_since_the_failed_update_began(
        request: pytest.FixtureRequest, local_backends: list[dict[str, Any]]) -> None:
    """Run on an app host after a rolling update that failed on an earlier host (--untouched-since:
    when it began): the update stopped there, so no instance here was stopped, and each still runs."""
    since = request.config.getoption("--untouched-since")
    if since is None:
        pytest.skip("no --untouched-since given")
    for backend in local_backends:
        stops = [(when, message) for when, pid, message in unit_journal(unit_of(backend), since)
                 if is_systemd_stop(pid, message)]
        assert stops == [], f"{backend['name']} was stopped after the update had failed on an earlier host: {stops}"
        assert unit_properties(unit_of(backend), "ActiveState")["ActiveState"] == "active", backend["name"]


def test_the_rolling_update_took_each_instance_out_of_the_lbs_before_stopping_it(
        request: pytest.FixtureRequest, local_backends: list[dict[str, Any]], deployment: dict[str, Any]) -> None:
    """Run after a rolling update under a steady load (--rolling-update-since: when it began): each
    instance here answered its last request at least DRAINED_SECONDS before systemd stopped it.
    nginx would pass the requests of a stopped instance on to another one without an error, so only
    this gap shows that the host left the load balancers first."""
    since = request.config.getoption("--rolling-update-since")
    if since is None:
        pytest.skip("no --rolling-update-since given")
    for backend in local_backends:
        gaps = quiet_before_each_stop(unit_journal(unit_of(backend), since), deployment["health_path"])
        assert gaps, (f"{backend['name']} answered no request before a stop since {since}: "
                      "either the update did not restart it or the load never reached it")
        for stopped_at, quiet in gaps:
            assert quiet >= DRAINED_SECONDS, (
                f"{backend['name']} answered a request {quiet:.2f} s before systemd stopped it at {stopped_at:.1f}: "
                "it was still in a load balancer's pool")

"""The drills (molecule/drills/): their helpers, their collection in the layout Ansible gives
them on a host (/root/drills/ with sticky_clients.py and deployment.json), and ASSERTIONS.md."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, load_module, run_pytest

DRILLS_DIR = PROJECT_DIR / "molecule" / "drills"
drills = load_module("molecule/drills/conftest.py", "drills_conftest")

SAMPLE_DEPLOYMENT = {
    "url": "https://127.0.0.1/", "http_url": "http://127.0.0.1/", "cafile": "/etc/nginx/tls/stickylab.crt",
    "tls": True, "tls_protocols": ["TLSv1.3"], "strategy": "cookie", "cookie_name": "SERVERID",
    "trusted_proxies": ["127.0.0.1"], "drain": ["server-3"], "down": [],
    "fail_timeout_seconds": 10, "read_timeout_seconds": 30, "worker_processes": 2,
    "status_port": 8081, "exporter_url": None, "health_path": "/health", "health_interval_seconds": 1.0, "health_timeout_seconds": 1.0,
    "health_fall": 2, "health_rise": 2,
    "lb_hosts": ["lb1"], "this_host": "lb1", "lb_urls": {"lb1": "http://127.0.0.1/"},
    "backends": [{"id": f"app1_500{n}", "host": "app1", "name": f"server-{n}", "address": "127.0.0.1",
                  "port": 5000 + n, "endpoint": f"127.0.0.1:500{n}", "weight": 1,
                  "cookie": f"{n:016x}", "local": True} for n in (1, 2, 3)],
}


def test_deployment_is_loaded_and_a_missing_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(SAMPLE_DEPLOYMENT))
    assert drills.load_deployment(path)["strategy"] == "cookie"
    broken = json.loads(json.dumps(SAMPLE_DEPLOYMENT))
    del broken["fail_timeout_seconds"]
    del broken["backends"][1]["local"]
    path.write_text(json.dumps(broken))
    with pytest.raises(pytest.UsageError, match=r"fail_timeout_seconds, backends\[2\]\.local"):
        drills.load_deployment(path)
    with pytest.raises(pytest.UsageError, match="is missing"):
        drills.load_deployment(tmp_path / "absent.json")


def test_the_pool_leaves_out_draining_and_down_backends() -> None:
    deployment = dict(SAMPLE_DEPLOYMENT, drain=["server-3"], down=["server-1"])
    assert drills.pool_names(deployment) == ["server-2"]


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert drills.trusts(["127.0.0.1"], "127.0.0.1")
    assert not drills.trusts(["127.0.0.1"], "127.0.5.1")
    assert drills.trusts(["10.0.0.5", "127.0.0.0/8"], "127.0.5.1")
    assert not drills.trusts([], "127.0.0.1")


def test_systemctl_show_output_is_parsed() -> None:
    output = "ActiveState=active\nUnitFileState=enabled\nRestart=on-failure\nExecStart={ path=/x ; argv[]=a=b }\n"
    assert drills.parse_properties(output) == {"ActiveState": "active", "UnitFileState": "enabled",
                                               "Restart": "on-failure", "ExecStart": "{ path=/x ; argv[]=a=b }"}


def test_the_exposure_level_is_read_from_systemd_analyze() -> None:
    output = ("  NAME  DESCRIPTION  EXPOSURE\n✓ PrivateNetwork=  ...\n"
              "→ Overall exposure level for stickyapp@5001.service: 1.3 OK :-)\n")
    assert drills.parse_exposure(output) == 1.3
    assert drills.parse_exposure("→ Overall exposure level for x.service: 9.6 UNSAFE 😨\n") == 9.6


def test_listening_sockets_are_read_from_ss() -> None:
    output = ("LISTEN 0      2048       127.0.0.1:5001       0.0.0.0:*\n"
              "LISTEN 0      511          0.0.0.0:80         0.0.0.0:*\n"
              "LISTEN 0      511             [::]:80            [::]:*\n")
    assert drills.listening_addresses(output) == {"127.0.0.1:5001", "0.0.0.0:80", "[::]:80"}


def test_deliveries_sum_every_instance_store(tmp_path: Path) -> None:
    for port, visits in ((5001, [3, 4]), (5002, [5])):
        (tmp_path / str(port)).mkdir()
        with sqlite3.connect(tmp_path / str(port) / "local-visits.sqlite3") as connection:
            connection.execute("CREATE TABLE local_visits (session_id TEXT PRIMARY KEY, visits INTEGER NOT NULL)")
            connection.executemany("INSERT INTO local_visits VALUES (?, ?)",
                                   [(f"s{n}", count) for n, count in enumerate(visits)])
        connection.close()
    (tmp_path / "5003").mkdir()
    sqlite3.connect(tmp_path / "5003" / "local-visits.sqlite3").execute(
        "CREATE TABLE local_visits (session_id TEXT PRIMARY KEY, visits INTEGER NOT NULL)").connection.close()
    assert drills.count_deliveries(str(tmp_path / "*" / "local-visits.sqlite3")) == 12
    assert drills.count_deliveries(str(tmp_path / "nothing-*.sqlite3")) == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_nginx_rest_is_waited_out_only_for_what_is_left(tmp_path: Path) -> None:
    clock = FakeClock()
    rest = drills.NginxRest(tmp_path / "rest.json", 10, clock=clock.time, sleep=clock.sleep)
    assert rest.wait() == 0.0  # nothing failed yet
    rest.mark("server-1")
    clock.now += 4
    assert rest.wait() == pytest.approx(7.0)  # 10 s of rest + 1 s margin, 4 s of them passed
    assert rest.wait() == 0.0
    rest.mark("server-2")
    # Another run on the same host reads the same file.
    later = drills.NginxRest(tmp_path / "rest.json", 10, clock=clock.time, sleep=clock.sleep)
    assert later.wait() == pytest.approx(11.0)
    assert clock.slept == [pytest.approx(7.0), pytest.approx(11.0)]


def test_nginx_rest_never_waits_longer_than_one_rest(tmp_path: Path) -> None:
    clock = FakeClock()
    rest = drills.NginxRest(tmp_path / "rest.json", 10, clock=clock.time, sleep=clock.sleep)
    rest.mark("server-1")
    clock.now -= 3600  # the clock jumped back an hour
    assert rest.wait() == pytest.approx(11.0)


def test_wait_until_polls_until_the_condition_holds() -> None:
    calls = iter([False, False, True])
    assert drills.wait_until(lambda: next(calls), within=5, every=0.01)
    assert not drills.wait_until(lambda: False, within=0.05, every=0.01)


def test_the_quiet_before_each_stop_counts_from_the_last_request_that_is_not_a_health_check() -> None:
    """What the rolling-update drill reads from an instance's journal (conftest.unit_journal)."""
    access = '10.89.20.11 "{} HTTP/1.0" 200 57 0ms request_id=-'
    journal = [
        (100.0, "700", access.format("GET /")),
        (101.5, "700", access.format("POST /")),
        (103.0, "700", access.format("GET /health")),  # the health checker and the update's gate
        (104.0, "700", "[2026-12-03 12:13:17 +0000] [700] [INFO] Handling signal: term"),
        (104.2, "1", "Stopping stickyapp@5001.service - stickyapp gunicorn instance on port 5001..."),
        (104.9, "1", "Started stickyapp@5001.service - stickyapp gunicorn instance on port 5001."),
        (105.0, "800", access.format("GET /health")),
        (106.0, "1", "Stopping stickyapp@5001.service - stickyapp gunicorn instance on port 5001..."),
        (110.0, "900", access.format("GET /?x=1")),
        (110.1, "1", "Stopping stickyapp@5001.service - stickyapp gunicorn instance on port 5001..."),
    ]
    # The second stop had no request since the first: nothing to measure there.
    assert drills.quiet_before_each_stop(journal, "/health") == [(104.2, pytest.approx(2.7)),
                                                                 (110.1, pytest.approx(0.1))]
    assert drills.quiet_before_each_stop(journal[:3], "/health") == []
    # A checker that asks for another path: its requests are not the load's either.
    journal.insert(3, (103.5, "700", access.format("GET /healthz")))
    assert drills.quiet_before_each_stop(journal, "/healthz")[0] == (104.2, pytest.approx(2.7))


def test_unkeyed_digests_catch_a_cookie_that_is_a_plain_hash() -> None:
    import hashlib
    backend = dict(SAMPLE_DEPLOYMENT["backends"][0])
    assert backend["cookie"] not in drills.unkeyed_digests(backend)
    backend["cookie"] = hashlib.sha256(b"127.0.0.1:5001").hexdigest()[:16]
    assert backend["cookie"] in drills.unkeyed_digests(backend)


def test_forged_cookies_are_built_from_the_real_values_but_never_are_one() -> None:
    real = ["0123456789abcdef", "fedcba9876543210"]
    forged = drills.forged_values(real)
    assert len(forged) == 15 and not set(forged) & set(real)
    assert "0123456789abcdefx" in forged and "0123456789abcdef,fedcba9876543210" in forged


# --- collection as on a host --------------------------------------------------------------


@pytest.fixture(scope="module")
def host_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/root/drills as Ansible lays it out: the drills, the library beside them, deployment.json."""
    directory = tmp_path_factory.mktemp("root") / "drills"
    shutil.copytree(DRILLS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "tools" / "sticky_clients.py", directory)
    (directory / "deployment.json").write_text(json.dumps(SAMPLE_DEPLOYMENT))
    return directory


def collect(directory: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                           str(directory)], cwd=directory.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_a_stopped_nginx_is_timed_from_systemds_stop_job_not_from_yaml() -> None:
    """The pair drill times the address's move from nginx's stop, as the holder's journal has it."""
    lb_pair = load_module("molecule/drills/test_lb_pair.py", "drills_lb_pair")
    pair = {"event": "stop-nginx", "event_at": 100.0, "nginx_journal": [
        "99.50 lb1 systemd[1]: Started nginx.service - A high performance web server.",
        "100.62 lb1 systemd[1]: Stopping nginx.service - A high performance web server...",
        "100.71 lb1 systemd[1]: nginx.service: Deactivated successfully."]}
    assert lb_pair.failure_began_at(pair) == 100.62
    assert lb_pair.failure_began_at({"event": "power-off", "event_at": 100.0}) == 100.0
    with pytest.raises(AssertionError, match="no 'Stopping' line"):
        lb_pair.failure_began_at({**pair, "nginx_journal": pair["nginx_journal"][:1]})


def test_every_drill_module_collects_on_a_host(host_layout: Path) -> None:
    collected = collect(host_layout)
    modules = {line.split("::")[0].rsplit("/", 1)[-1] for line in collected}
    assert modules == {path.name for path in DRILLS_DIR.glob("test_*.py")}
    assert len(collected) >= 40


def test_assertions_md_points_at_drills_that_exist(host_layout: Path) -> None:
    """Every drill ASSERTIONS.md names is collected: the table cannot go stale silently."""
    collected = {line.split("/")[-1] for line in collect(host_layout)}
    table = (DRILLS_DIR / "ASSERTIONS.md").read_text()
    named = set(re.findall(r"test_\w+\.py::test_\w+", table))
    assert named, "ASSERTIONS.md names no drill"
    assert named - collected == set()


# --- a drill module that checks nothing fails the run -------------------------------------


def run_drills(directory: Path, module: str) -> subprocess.CompletedProcess:
    """pytest in /root/drills as drills.yml runs it (the host's pytest: here, this venv's)."""
    return run_pytest(directory, "-v", module)


def test_a_drill_module_whose_every_test_skips_fails_the_run(tmp_path: Path, host_layout: Path) -> None:
    directory = tmp_path / "drills"
    shutil.copytree(host_layout, directory)
    plain_http = dict(SAMPLE_DEPLOYMENT, url="http://127.0.0.1/", cafile=None, tls=False)
    (directory / "deployment.json").write_text(json.dumps(plain_http))
    # Under cookie, every address-hash drill skips: it checked nothing.
    result = run_drills(directory, "test_address_hash.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("CHECKED NOTHING test_address_hash.py: every test skipped (the deployment balances by cookie, "
            "not by client address)") in result.stdout
    # A module with one test that passed checked something, whatever else skipped.
    (directory / "test_partly.py").write_text(
        "import pytest\n\ndef test_passes():\n    pass\n\ndef test_skips():\n    pytest.skip('not here')\n")
    result = run_drills(directory, "test_partly.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CHECKED NOTHING" not in result.stdout
    # A module with a failure is reported as failed, not as one that checked nothing.
    (directory / "test_fails.py").write_text(
        "import pytest\n\ndef test_fails():\n    assert False\n\ndef test_skips():\n    pytest.skip('not here')\n")
    result = run_drills(directory, "test_fails.py")
    assert result.returncode == 1 and "FAILED test_fails.py::test_fails" in result.stdout, result.stdout
    assert "CHECKED NOTHING" not in result.stdout

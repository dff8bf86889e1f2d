"""What every drill shares: the deployment it checks, clients, systemctl, and nginx's rest.

The drills are pytest tests that run ON a load-balancer host (or an app host) with the host's
python3 and Debian's python3-pytest (7.2 on Debian 12, 8.3 on 13: no plugins). Ansible copies
this directory and tools/sticky_clients.py to /root/drills/, writes /root/drills/deployment.json
(what was deployed: URLs, strategy, backends; see README.md) and runs, for example:

    python3 -m pytest -p no:cacheprovider /root/drills/test_cookie.py

Waits are derived from deployment.json (fail_timeout_seconds, read_timeout_seconds), never
fixed pauses, and every loop is bounded. Drills that stop, freeze or kill an app instance do so
only where it runs (a backend's `local` is true) and start it again even when they fail.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import ipaddress
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if not (HERE / "sticky_clients.py").exists():  # in the repository the library lives in tools/
    sys.path.insert(0, str(HERE.parent.parent / "tools"))
import sticky_clients as sc  # noqa: E402

DEPLOYMENT_KEYS = ("url", "http_url", "cafile", "tls", "tls_protocols", "strategy", "cookie_name",
                   "trusted_proxies", "drain", "down", "fail_timeout_seconds", "read_timeout_seconds",
                   "worker_processes", "status_port", "exporter_url", "health_path", "health_interval_seconds",
                   "health_timeout_seconds", "health_fall", "health_rise", "lb_hosts", "this_host", "lb_urls",
                   "backends")
BACKEND_KEYS = ("id", "host", "name", "address", "port", "endpoint", "weight", "cookie", "local")
# Where each instance's visit store lives (systemd's StateDirectory=stickyapp/<port>).
LOCAL_VISIT_STORES = "/var/lib/stickyapp/*/local-visits.sqlite3"
# Bounds, not waits: the loops that use them end as soon as their condition holds.
INSTANCE_START_SECONDS = 30.0  # an instance answers /health after `systemctl start`
PROBE_DEADLINE_SECONDS = 120.0  # one population of simulated clients, all its requests


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drills")
    group.addoption("--deployment", default=str(HERE / "deployment.json"),
                    help="the deployment the drills check (default: deployment.json next to them)")
    group.addoption("--report", metavar="FILE",
                    help="a steady_load.py JSON report written while YAML did something (test_under_load.py)")
    group.addoption("--expect-moved", choices=("all", "yes", "no", "any"), default="any",
                    help="whether every one, some, none or any of the load's clients should have moved to "
                         "another server")
    group.addoption("--min-requests", type=int, default=101,
                    help="the load report must count at least this many requests")
    group.addoption("--pair-report", metavar="FILE",
                    help="what YAML saw of an event on the lb pair (test_lb_pair.py)")
    group.addoption("--secret-key-sha256", metavar="DIGEST",
                    help="the SHA-256 of the SECRET_KEY every instance must run with (test_app_host.py)")
    group.addoption("--app-version", metavar="VERSION",
                    help="the app version every backend's /health must report (test_app_version.py)")
    group.addoption("--rolling-update-since", metavar="UNIX_TIME", type=float,
                    help="when a rolling update under a steady load began (test_app_host.py)")
    group.addoption("--untouched-since", metavar="UNIX_TIME", type=float,
                    help="when a rolling update that had to stop before this host began (test_app_host.py)")


# --- every drill module that runs checks something ----------------------------------------
# A scenario names the drills that apply to what it deployed. A module whose every test skips
# here (test_cookie.py under ip_hash, say) checked nothing: the run fails and says why, rather
# than pass as if it had.

# test file -> {"passed": count, "failed": count, "skips": [reasons]}
MODULE_OUTCOMES: dict[str, dict[str, Any]] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        MODULE_OUTCOMES.setdefault(item.nodeid.split("::")[0], {"passed": 0, "failed": 0, "skips": []})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcome = MODULE_OUTCOMES.get(report.nodeid.split("::")[0])
    if outcome is None:
        return
    if report.when == "call" and report.passed:
        outcome["passed"] += 1
    elif report.failed:
        outcome["failed"] += 1
    elif report.skipped and isinstance(report.longrepr, tuple):
        outcome["skips"].append(report.longrepr[2].removeprefix("Skipped: "))


def modules_that_checked_nothing() -> dict[str, list[str]]:
    """Each module none of whose tests passed although none failed -> why its tests skipped."""
    return {module: sorted(set(outcome["skips"])) for module, outcome in MODULE_OUTCOMES.items()
            if outcome["passed"] == outcome["failed"] == 0 and outcome["skips"]}


def pytest_sessionfinish(session: pytest.Session) -> None:
    if session.exitstatus == pytest.ExitCode.OK and modules_that_checked_nothing():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for module, reasons in modules_that_checked_nothing().items():
        terminalreporter.write_line(f"CHECKED NOTHING {module}: every test skipped ({'; '.join(reasons)}); "
                                    "name only the drills that apply to this deployment")


# --- the deployment -----------------------------------------------------------------------


def load_deployment(path: Path) -> dict[str, Any]:
    """deployment.json, checked for every key the drills read: a missing key fails here, with
    its name, rather than as a KeyError in the middle of a drill."""
    try:
        deployment = json.loads(path.read_text())
    except FileNotFoundError:
        raise pytest.UsageError(f"{path} is missing: Ansible writes it before running the drills") from None
    missing = [key for key in DEPLOYMENT_KEYS if key not in deployment]
    for number, backend in enumerate(deployment.get("backends", []), start=1):
        missing += [f"backends[{number}].{key}" for key in BACKEND_KEYS if key not in backend]
    if missing:
        raise pytest.UsageError(f"{path} lacks {', '.join(missing)}")
    return deployment


@pytest.fixture(scope="session")
def deployment_path(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.getoption("--deployment"))


@pytest.fixture(scope="session")
def deployment(deployment_path: Path) -> dict[str, Any]:
    return load_deployment(deployment_path)


@pytest.fixture(scope="session")
def cafile(deployment: dict[str, Any]) -> str | None:
    return deployment["cafile"]


@pytest.fixture(scope="session")
def lb(deployment: dict[str, Any], cafile: str | None) -> sc.Target:
    """The load balancer's site, as this host reaches it (https verified against cafile)."""
    return sc.Target.from_url(deployment["url"], cafile=cafile)


@pytest.fixture(scope="session")
def backends(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deployment's backends by name ("server-1": {"port": 5001, "cookie": ...})."""
    return {backend["name"]: backend for backend in deployment["backends"]}


def pool_names(deployment: dict[str, Any]) -> list[str]:
    """The backends new clients may reach: neither draining nor down."""
    out = set(deployment["drain"]) | set(deployment["down"])
    return sorted(backend["name"] for backend in deployment["backends"] if backend["name"] not in out)


@pytest.fixture(scope="session")
def pool(deployment: dict[str, Any]) -> list[str]:
    return pool_names(deployment)


@pytest.fixture(scope="session")
def state_dir(deployment_path: Path) -> Path:
    """Where drills keep clients between runs (before and after a scale-out)."""
    directory = deployment_path.parent / "state"
    directory.mkdir(exist_ok=True)
    return directory


# --- which drills apply -------------------------------------------------------------------


@pytest.fixture()
def cookie_strategy(deployment: dict[str, Any]) -> None:
    if deployment["strategy"] != "cookie":
        pytest.skip(f"the deployment balances by {deployment['strategy']}, not by cookie")


@pytest.fixture()
def address_hash_strategy(deployment: dict[str, Any]) -> None:
    if deployment["strategy"] not in ("ip_hash", "consistent_hash"):
        pytest.skip(f"the deployment balances by {deployment['strategy']}, not by client address")


@pytest.fixture()
def tls_deployment(deployment: dict[str, Any]) -> None:
    if not deployment["tls"]:
        pytest.skip("the deployment serves plain HTTP")


def trusts(trusted_proxies: list[str], address: str) -> bool:
    """Would nginx believe X-Forwarded-For from `address` (set_real_ip_from entries)?"""
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(entry, strict=False)
               for entry in trusted_proxies)


# --- clients ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def new_clients(deployment: dict[str, Any]) -> Callable[..., list[sc.Client]]:
    """new_clients(count, ip_sources=False, **Client options): clients with empty jars."""
    def make(count: int, ip_sources: bool = False, **options: Any) -> list[sc.Client]:
        return sc.make_clients(count, deployment["cookie_name"], ip_sources, **options)
    return make


@pytest.fixture(scope="session")
def probe() -> Callable[..., dict[str, Any]]:
    """probe(target, clients, requests): send every client's requests, return the summary."""
    def run(target: sc.Target, clients: list[sc.Client], requests: int) -> dict[str, Any]:
        sc.send_rounds(target, clients, requests, PROBE_DEADLINE_SECONDS)
        return sc.summarise(clients, requests)
    return run


def forged_values(real: list[str]) -> list[str]:
    """Forged, stale and junk sticky cookies, several built from this deployment's values
    (never one of them: a real value is not forged)."""
    first, second = real[0], real[1 % len(real)]
    values = ["", "x", "A" * 4096, "0123456789abcdef", '"; Path=/', '"; Domain=example.org; Path=/admin',
              "grüße-€", f"{first}x", f"x{first}", first.upper(), first[:15], f"{first} {second}",
              "127.0.0.1:5001", "../../etc/passwd", "$upstream_addr", f"{first},{second}"]
    return [value for value in values if value not in real]


def brief(report: dict[str, Any]) -> str:
    """A report without its per-client lists, for assertion messages."""
    return json.dumps({key: value for key, value in report.items() if key != "per_client"}, indent=1)


def wait_until(condition: Callable[[], bool], within: float, every: float = 0.2) -> bool:
    """Poll `condition` until it holds (True) or `within` seconds have passed (False)."""
    give_up_at = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() >= give_up_at:
            return False
        time.sleep(every)


ACCESS_LOG = Path("/var/log/nginx/access.log")


def access_log_offset() -> int:
    """Where the next line of nginx's access log (JSON lines) will start."""
    return ACCESS_LOG.stat().st_size


def access_log_lines(offset: int, count: int) -> list[dict[str, Any]]:
    """The first `count` access-log lines written after `offset`. nginx writes a line after it
    has sent the answer, so a client may read the answer first: wait (at most 5 s) for them."""
    def lines() -> list[dict[str, Any]]:
        with ACCESS_LOG.open("rb") as log:
            log.seek(offset)
            return [json.loads(line) for line in log.read().decode().splitlines() if line.startswith("{")]
    assert wait_until(lambda: len(lines()) >= count, 5), f"expected {count} access-log lines: {lines()}"
    return lines()[:count]


def answers_health(endpoint: str, timeout: float = 1.0) -> bool:
    return sc.fetch(sc.Target.from_url(f"http://{endpoint}/health"), timeout=timeout).status == 200


# --- systemd and the app's state on this host ---------------------------------------------


def run_systemctl(action: str, unit: str, *options: str) -> subprocess.CompletedProcess[str]:
    """systemctl ACTION [OPTIONS] UNIT, failing the drill when systemctl fails."""
    return subprocess.run(["systemctl", action, *options, unit], check=True, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="session")
def systemctl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """systemctl(action, unit, *options), for drills on hosts that run the units."""
    return run_systemctl


def parse_properties(output: str) -> dict[str, str]:
    """`systemctl show -p A -p B` prints A=... and B=... lines."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def unit_properties(unit: str, *names: str) -> dict[str, str]:
    options = [option for name in names for option in ("-p", name)]
    return parse_properties(run_systemctl("show", unit, *options).stdout)


def parse_exposure(output: str) -> float:
    """"→ Overall exposure level for stickyapp@5001.service: 1.3 OK :-)" -> 1.3"""
    line = next(line for line in output.splitlines() if "Overall exposure level" in line)
    return float(line.rsplit(": ", 1)[1].split()[0])


def listening_addresses(ss_output: str) -> set[str]:
    """Local address:port of every listening socket in `ss -Hltn` output."""
    return {line.split()[3] for line in ss_output.splitlines() if len(line.split()) >= 4}


def count_deliveries(pattern: str = LOCAL_VISIT_STORES) -> int:
    """Every visit every instance on this host has recorded. A POST / is one visit in the
    answering instance's store, so this sum counts deliveries: it proves a POST ran once."""
    total = 0
    for path in glob.glob(pattern):
        connection = sqlite3.connect(path, timeout=5.0)
        try:
            total += connection.execute("SELECT COALESCE(SUM(visits), 0) FROM local_visits").fetchone()[0]
        finally:
            connection.close()
    return total


@pytest.fixture()
def deliveries() -> Callable[[], int]:
    return count_deliveries


def unit_of(backend: dict[str, Any]) -> str:
    return f"stickyapp@{backend['port']}.service"


# gunicorn's access line (stickyapp/gunicorn_settings.py): 10.0.0.1 "GET /path HTTP/1.1" 200 ...
ACCESS_LINE = re.compile(r'^\S+ "[A-Z]+ (?P<path>\S+) HTTP/[0-9.]+" [0-9]{3} ')


def unit_journal(unit: str, since: float) -> list[tuple[float, str, str]]:
    """(when, PID, message) of every journal entry of `unit` since the Unix time `since`, systemd's
    own about the unit (PID 1) included, oldest first."""
    output = subprocess.run(["journalctl", "--unit", unit, "--since", f"@{since:.0f}", "--output", "json",
                             "--output-fields", "MESSAGE,_PID", "--no-pager", "--quiet"],
                            check=True, capture_output=True, text=True, timeout=60).stdout
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    return [(int(entry["__REALTIME_TIMESTAMP"]) / 1e6, str(entry.get("_PID", "")), str(entry.get("MESSAGE", "")))
            for entry in entries]


def is_systemd_stop(pid: str, message: str) -> bool:
    """A journal entry of systemd (PID 1) beginning to stop the unit."""
    return pid == "1" and message.startswith("Stopping ")


def quiet_before_each_stop(journal: list[tuple[float, str, str]], health_path: str) -> list[tuple[float, float]]:
    """(when systemd began stopping the instance, seconds since the last request it answered other
    than a health check) for each stop that some such request preceded (since the previous stop).
    Health checks: the lb's checker asks for health_path, flask_app's restarts for /health."""
    gaps: list[tuple[float, float]] = []
    last_request = None
    for when, pid, message in journal:
        match = ACCESS_LINE.match(message)
        if match and match["path"] not in (health_path, "/health"):
            last_request = when
        elif is_systemd_stop(pid, message):
            if last_request is not None:
                gaps.append((when, when - last_request))
            last_request = None
    return gaps


class NginxRest:
    """When nginx takes a backend it saw fail back. Open-source nginx has no active health
    checks: after max_fails failed attempts it rests a backend for fail_timeout, even once the
    backend is back. A drill that needs every backend in the pool waits out what is left of the
    rest (fail_timeout_seconds from deployment.json, plus one second: nginx counts in whole
    seconds), never a fixed pause. Kept in a file, so later pytest runs on this host know."""

    def __init__(self, path: Path, fail_timeout: float, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.path, self.fail_timeout, self.clock, self.sleep = path, fail_timeout, clock, sleep

    def _until(self) -> dict[str, float]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def mark(self, name: str) -> None:
        """`name` just failed in nginx's eyes and answers again now."""
        until = self._until()
        until[name] = self.clock() + self.fail_timeout + 1
        self.path.write_text(json.dumps(until))

    def wait(self) -> float:
        """Sleep until nginx rests no backend any more; return the seconds slept."""
        left = max(self._until().values(), default=0.0) - self.clock()
        # A mark lies at most fail_timeout + 1 s ahead: anything longer is a clock jump.
        left = min(left, self.fail_timeout + 1)
        if left <= 0:
            return 0.0
        self.sleep(left)
        return left


@pytest.fixture(scope="session")
def nginx_rest(deployment: dict[str, Any], state_dir: Path) -> NginxRest:
    return NginxRest(state_dir / "nginx-rest.json", float(deployment["fail_timeout_seconds"]))


def checker_healthy(backend_id: str) -> bool:
    """Does stickylab-healthcheck, on this lb host, hold the backend healthy (in service)?"""
    state = subprocess.run(["/usr/local/sbin/stickylab-healthcheck", "--state"], capture_output=True,
                           text=True, check=True, timeout=10).stdout
    return bool(json.loads(state)["backends"][backend_id]["healthy"])


def checker_rise_seconds(deployment: dict[str, Any]) -> float:
    """How long the checker may take to put back a backend that answers again: `rise` checks,
    each at most an interval and a timeout, and 3 s for nginx's reload."""
    return float(deployment["health_rise"]) * (float(deployment["health_interval_seconds"])
                                               + float(deployment["health_timeout_seconds"])) + 3


def wait_until_back_in_service(backend: dict[str, Any], deployment: dict[str, Any], rest: NginxRest) -> None:
    """After a drill stopped or froze `backend` and brought it back: the checker holds it healthy
    (whether or not it noticed the outage), nginx has had a moment to reload, and nginx's rest of
    it is over. A drill that ends with this leaves the whole pool in service."""
    assert wait_until(lambda: checker_healthy(backend["id"]), checker_rise_seconds(deployment)), (
        f"{backend['name']} not put back by the health checker")
    time.sleep(0.5)  # the checker reloads nginx right after it decides
    rest.wait()


class Instances:
    """Stop, freeze and kill the app instances that run on this host, and always bring them
    back: each change is a context manager that restores the instance when the drill ends."""

    def __init__(self, backends: dict[str, dict[str, Any]], rest: NginxRest):
        self.backends, self.rest = backends, rest

    def unit(self, name: str) -> str:
        backend = self.backends[name]
        if not backend["local"]:
            pytest.skip(f"{name} runs on {backend['host']}: this drill runs where the instance runs")
        return unit_of(backend)

    def wait_until_healthy(self, name: str) -> None:
        endpoint = self.backends[name]["endpoint"]
        assert wait_until(lambda: answers_health(endpoint), INSTANCE_START_SECONDS), (
            f"{name} did not answer http://{endpoint}/health within {INSTANCE_START_SECONDS:.0f} s")

    @contextlib.contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        unit = self.unit(name)
        run_systemctl("stop", unit)
        try:
            yield
        finally:
            run_systemctl("start", unit)
            self.wait_until_healthy(name)
            self.rest.mark(name)

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """SIGSTOP: the kernel still accepts connections, the instance never answers them."""
        unit = self.unit(name)
        run_systemctl("kill", unit, "--signal=SIGSTOP")
        try:
            yield
        finally:
            run_systemctl("kill", unit, "--signal=SIGCONT")
            self.rest.mark(name)


@pytest.fixture(scope="session")
def instances(backends: dict[str, dict[str, Any]], nginx_rest: NginxRest) -> Instances:
    return Instances(backends, nginx_rest)


def unkeyed_digests(backend: dict[str, Any]) -> set[str]:
    """16-hex-digit digests anyone could compute from what is public about a backend. A cookie
    value among them would let a client name or forge a backend without the secret."""
    facts = {str(backend[key]) for key in ("id", "name", "host", "address", "endpoint", "port")}
    facts.add(f"{backend['address']}:{backend['port']}")
    digests = set()
    for fact in facts:
        for algorithm in ("md5", "sha1", "sha256", "sha512", "blake2b"):
            digest = hashlib.new(algorithm, fact.encode()).hexdigest()
            digests.update({digest[:16], digest[-16:]})
    return digests

"""Tests for roles/nginx_lb/files/stickylab-healthcheck, the active health checker of the lb.

Fake backends are real sockets on 127.0.0.1: HTTP servers answering a status that a test can
change, and a backend that accepts connections but never answers (a hung app). nginx is replaced
by commands that succeed, fail, or append a line to a file per reload.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROGRAM = Path(__file__).resolve().parent.parent / "roles/nginx_lb/files/stickylab-healthcheck"


def load_program() -> ModuleType:
    """The program has no .py suffix, so the default loader lookup does not know it."""
    loader = importlib.machinery.SourceFileLoader("stickylab_healthcheck", str(PROGRAM))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


healthcheck = load_program()


class StatusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class StatusBackend:
    """An HTTP backend answering every GET with `status` (changeable while it runs)."""

    def __init__(self, status: int) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), StatusHandler)
        self.server.status = status  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}/health"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def set_status(self, status: int) -> None:
        self.server.status = status  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class HungBackend:
    """Accepts connections and never answers, like an app whose workers are all stuck."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/health"
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.connections.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for connection in [self.listener, *self.connections]:
            connection.close()


@pytest.fixture()
def backends() -> Iterator[Callable[[int | None], Any]]:
    """Factory: backends(200) answers 200, backends(None) hangs; all closed after the test."""
    started: list[Any] = []

    def start(status: int | None) -> Any:
        backend = HungBackend() if status is None else StatusBackend(status)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.close()


def backend_entry(number: int, url: str, pool_line: str | None = None) -> dict[str, str]:
    return {"id": f"app{number}_5001", "name": f"server-{number}", "endpoint": f"10.0.0.{number}:5001",
            "health_url": url,
            "pool_line": pool_line or f"server 10.0.0.{number}:5001 weight=1 max_fails=1 fail_timeout=10s;"}


def write_config(tmp_path: Path, entries: list[dict[str, str]], **overrides: Any) -> Path:
    """A config like Ansible's, with nginx replaced: reloads append a line to reloads.log."""
    config = {"interval_seconds": 0.2, "timeout_seconds": 0.5, "fall": 2, "rise": 2,
              "include_dir": str(tmp_path / "include"), "state_file": str(tmp_path / "run" / "state.json"),
              "test_command": ["true"],
              "reload_command": ["/bin/sh", "-c", f"echo reload >> {tmp_path / 'reloads.log'}"],
              "backends": entries, **overrides}
    path = tmp_path / "healthcheck.json"
    path.write_text(json.dumps(config))
    return path


def reload_count(tmp_path: Path) -> int:
    log = tmp_path / "reloads.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def healthy_states(config: Any) -> dict[str, Any]:
    return {backend.id: healthcheck.BackendState(backend.name) for backend in config.backends}


# --- one check ---------------------------------------------------------------------------------

def test_check_tells_200_from_errors_hangs_and_refusals(backends: Callable[[int | None], Any]) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}/health"
    closed.close()

    assert healthcheck.check_health(backends(200).url, 2.0) is None
    assert healthcheck.check_health(backends(500).url, 2.0) == "HTTP 500"
    assert healthcheck.check_health(backends(None).url, 0.3) == "timed out after 0.3 s"
    assert healthcheck.check_health(refused_url, 2.0) == "Connection refused"
    assert healthcheck.check_health("http://127.0.0.1:99999/health", 2.0) == "Port out of range 0-65535"


# --- fall and rise -----------------------------------------------------------------------------

BACKEND = healthcheck.Backend(id="app2_5001", name="server-2", endpoint="10.0.0.12:5001",
                              health_url="http://10.0.0.12:5001/health", pool_line="server x;")


def test_fall_counts_consecutive_failures_only() -> None:
    state = healthcheck.BackendState("server-2")
    results = ["boom", "boom", None, "boom", "boom"]
    messages = [healthcheck.record_result(state, BACKEND, error, 3, 2, now=float(step))
                for step, error in enumerate(results)]
    assert state.healthy  # never three failures in a row
    assert messages == [None] * 5

    message = healthcheck.record_result(state, BACKEND, "timed out after 1.0 s", 3, 2, now=99.0)
    assert not state.healthy and state.since == 99.0
    assert message == "server-2 (app2_5001, 10.0.0.12:5001) DOWN after 3 failed checks: timed out after 1.0 s"
    assert state.last_error == "timed out after 1.0 s"


def test_rise_counts_consecutive_good_checks_only() -> None:
    state = healthcheck.BackendState("server-2", healthy=False)
    for error in [None, "HTTP 500", None]:
        assert healthcheck.record_result(state, BACKEND, error, 3, 2, now=1.0) is None
    assert not state.healthy

    message = healthcheck.record_result(state, BACKEND, None, 3, 2, now=7.0)
    assert state.healthy and state.since == 7.0
    assert message == "server-2 (app2_5001, 10.0.0.12:5001) UP after 2 good checks"


def test_hung_backends_do_not_delay_the_others(tmp_path: Path, backends: Callable[[int | None], Any]) -> None:
    """Ten hung backends at 1 s each would take 10 s one after another; a round takes about 1 s."""
    hung = [backend_entry(number, backends(None).url) for number in range(1, 11)]
    good = [backend_entry(number, backends(200).url) for number in range(11, 21)]
    config = healthcheck.load_config(str(write_config(tmp_path, hung + good, timeout_seconds=1.0)))
    states = healthy_states(config)

    started = time.monotonic()
    with ThreadPoolExecutor(healthcheck.MAX_CHECK_THREADS) as pool:
        healthcheck.check_round(pool, config, states)
    elapsed = time.monotonic() - started

    assert elapsed < 5.0, f"a round took {elapsed:.1f} s: checks ran one after another"
    assert [states[entry["id"]].last_error for entry in hung] == ["timed out after 1.0 s"] * 10
    assert all(states[entry["id"]].consecutive_successes == 1 for entry in good)


# --- the include files -------------------------------------------------------------------------

def test_pool_servers_mark_unhealthy_backends_down_in_config_order(tmp_path: Path) -> None:
    entries = [backend_entry(1, "http://127.0.0.1:1/health"), backend_entry(2, "http://127.0.0.1:2/health"),
               backend_entry(3, "http://127.0.0.1:3/health", pool_line="server 10.0.0.3:5001 down;")]
    config = healthcheck.load_config(str(write_config(tmp_path, entries)))
    states = healthy_states(config)
    states["app2_5001"].healthy = states["app3_5001"].healthy = False

    servers = [line for line in healthcheck.render_pool_servers(config, states).splitlines()
               if not line.startswith("#")]
    assert servers == ["server 10.0.0.1:5001 weight=1 max_fails=1 fail_timeout=10s;",
                       "server 10.0.0.2:5001 weight=1 max_fails=1 fail_timeout=10s down;",
                       "server 10.0.0.3:5001 down;"]


def test_unhealthy_backends_are_listed_for_the_pinned_clients_map(tmp_path: Path) -> None:
    entries = [backend_entry(number, f"http://127.0.0.1:{number}/health") for number in (1, 2, 3)]
    config = healthcheck.load_config(str(write_config(tmp_path, entries)))
    states = healthy_states(config)

    def entries_of(text: str) -> list[str]:
        return [line.split("#")[0].strip() for line in text.splitlines() if not line.startswith("#")]

    assert entries_of(healthcheck.render_unhealthy(config, states)) == []
    states["app3_5001"].healthy = False
    assert entries_of(healthcheck.render_unhealthy(config, states)) == ["app3_5001 1;"]


def test_files_are_replaced_and_nginx_reloaded_only_on_change(tmp_path: Path) -> None:
    entries = [backend_entry(number, f"http://127.0.0.1:{number}/health") for number in (1, 2)]
    config = healthcheck.load_config(str(write_config(tmp_path, entries)))
    states = healthy_states(config)
    pool_file = tmp_path / "include" / "pool-servers.conf"

    assert healthcheck.apply_files(config, states)
    first = pool_file.stat()
    assert reload_count(tmp_path) == 1

    assert healthcheck.apply_files(config, states)
    assert (pool_file.stat().st_ino, pool_file.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert reload_count(tmp_path) == 1

    states["app2_5001"].healthy = False
    assert healthcheck.apply_files(config, states)
    assert pool_file.stat().st_ino != first.st_ino  # a new file renamed over the old one
    assert "fail_timeout=10s down;" in pool_file.read_text()
    assert reload_count(tmp_path) == 2
    assert sorted(path.name for path in pool_file.parent.iterdir()) == ["pool-servers.conf", "unhealthy.conf"]


def test_rejected_files_are_rolled_back_without_reload(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    entries = [backend_entry(number, f"http://127.0.0.1:{number}/health") for number in (1, 2)]
    config = healthcheck.load_config(str(write_config(tmp_path, entries)))
    states = healthy_states(config)
    include = tmp_path / "include"
    healthcheck.apply_files(config, states)
    before = {path.name: path.read_text() for path in include.iterdir()}

    failing = healthcheck.load_config(str(write_config(tmp_path, entries, test_command=["false"])))
    states["app1_5001"].healthy = False
    with caplog.at_level(logging.ERROR):
        assert not healthcheck.apply_files(failing, states)

    assert {path.name: path.read_text() for path in include.iterdir()} == before
    assert reload_count(tmp_path) == 1  # only the first, accepted write
    assert "false FAILED" in caplog.text and "NOT reloaded" in caplog.text


def test_rejected_first_files_are_removed_again(tmp_path: Path) -> None:
    entries = [backend_entry(1, "http://127.0.0.1:1/health")]
    config = healthcheck.load_config(str(write_config(tmp_path, entries, test_command=["false"])))
    assert not healthcheck.apply_files(config, healthy_states(config))
    assert list((tmp_path / "include").iterdir()) == []
    assert reload_count(tmp_path) == 0


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(tmp_path: Path, include: Path) -> Path:
    """The shape of the lead's nginx.conf around the two includes, runnable as nginx -t -c."""
    config = tmp_path / "nginx.conf"
    config.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    upstream stickylab_pool {{
        include {include}/pool-servers.conf;
    }}
    upstream stickylab_app1_5001 {{
        server 10.0.0.1:5001;
    }}
    map $cookie_stickylab $stickylab_pinned {{
        default "";
        0000000000000001 app1_5001;
    }}
    map $stickylab_pinned $stickylab_pinned_unhealthy {{
        default 0;
        include {include}/unhealthy.conf;
    }}
    map "$stickylab_pinned_unhealthy:$stickylab_pinned" $stickylab_upstream {{
        default stickylab_pool;
        "~^0:(?<id>.+)$" stickylab_$id;
    }}
    server {{
        listen 127.0.0.1:8;
        location / {{ proxy_pass http://$stickylab_upstream; }}
    }}
}}
""")
    return config


@pytest.mark.skipif(not Path(NGINX).exists(), reason="needs Debian's nginx package")
@pytest.mark.parametrize("unhealthy", [[], ["app1_5001"], ["app1_5001", "app2_5001"]])
def test_real_nginx_accepts_the_files(tmp_path: Path, unhealthy: list[str]) -> None:
    include = tmp_path / "include"
    test_command = [NGINX, "-t", "-q", "-c", str(nginx_config(tmp_path, include))]
    entries = [backend_entry(number, f"http://127.0.0.1:{number}/health") for number in (1, 2)]
    config = healthcheck.load_config(str(write_config(tmp_path, entries, test_command=test_command)))
    states = healthy_states(config)
    for backend_id in unhealthy:
        states[backend_id].healthy = False

    assert healthcheck.apply_files(config, states)
    assert reload_count(tmp_path) == 1


@pytest.mark.skipif(not Path(NGINX).exists(), reason="needs Debian's nginx package")
def test_real_nginx_rejecting_a_pool_line_keeps_the_old_files(tmp_path: Path) -> None:
    include = tmp_path / "include"
    test_command = [NGINX, "-t", "-q", "-c", str(nginx_config(tmp_path, include))]
    entries = [backend_entry(1, "http://127.0.0.1:1/health"), backend_entry(2, "http://127.0.0.1:2/health")]
    config = healthcheck.load_config(str(write_config(tmp_path, entries, test_command=test_command)))
    assert healthcheck.apply_files(config, healthy_states(config))
    before = (include / "pool-servers.conf").read_text()

    entries[1]["pool_line"] = "server 10.0.0.2:5001 no_such_parameter=1;"
    broken = healthcheck.load_config(str(write_config(tmp_path, entries, test_command=test_command)))
    assert not healthcheck.apply_files(broken, healthy_states(broken))
    assert (include / "pool-servers.conf").read_text() == before
    assert reload_count(tmp_path) == 1


# --- config ------------------------------------------------------------------------------------

def test_config_errors_name_the_bad_field(tmp_path: Path) -> None:
    entry = backend_entry(1, "https://127.0.0.1:1/health", pool_line="server x")
    with pytest.raises(ValueError, match="fall must be positive") as raised:
        healthcheck.load_config(str(write_config(tmp_path, [entry, dict(entry)], fall=0)))
    message = str(raised.value)
    assert "ids are not unique" in message and "http:// URL" in message and "ending in ';'" in message


def test_sighup_with_a_broken_config_keeps_the_old_one(tmp_path: Path) -> None:
    path = write_config(tmp_path, [backend_entry(1, "http://127.0.0.1:1/health")])
    config = healthcheck.load_config(str(path))
    states = healthy_states(config)
    path.write_text("{not json")
    assert healthcheck.reread_config(str(path), config, states) == (config, states)


# --- the program as the service runs it --------------------------------------------------------

def run_program(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROGRAM), *args], capture_output=True, text=True, timeout=30,
                          env=env, check=False)


def test_once_writes_files_and_state_and_state_prints_it(tmp_path: Path,
                                                           backends: Callable[[int | None], Any]) -> None:
    path = write_config(tmp_path, [backend_entry(1, backends(200).url), backend_entry(2, backends(500).url)])

    once = run_program("--config", str(path), "--once")
    assert once.returncode == 0, once.stdout + once.stderr
    assert "server-2 (app2_5001, 10.0.0.2:5001) DOWN after 1 failed checks: HTTP 500" in once.stdout
    pool = (tmp_path / "include" / "pool-servers.conf").read_text()
    assert "server 10.0.0.1:5001 weight=1 max_fails=1 fail_timeout=10s;\n" in pool
    assert "server 10.0.0.2:5001 weight=1 max_fails=1 fail_timeout=10s down;\n" in pool

    shown = run_program("--config", str(path), "--state")
    assert shown.returncode == 0
    state = json.loads(shown.stdout)
    assert state["backends"]["app2_5001"]["healthy"] is False
    assert state["backends"]["app2_5001"]["last_error"] == "HTTP 500"
    assert state["backends"]["app1_5001"]["healthy"] is True


def test_initial_files_start_every_backend_healthy_and_leave_existing_files_alone(tmp_path: Path) -> None:
    """What the tests run to validate a rendered nginx.conf (tests/playbooks/render-nginx-conf-tasks.yml):
    no check, no nginx test, no reload; a file already there is never overwritten."""
    drained = "server 10.0.0.2:5001 weight=1 max_fails=1 fail_timeout=10s down;"
    path = write_config(tmp_path, [backend_entry(1, "http://10.0.0.1:5001/health"),
                                   backend_entry(2, "http://10.0.0.2:5001/health", drained)],
                        test_command=["false"])
    first = run_program("--config", str(path), "--initial-files")
    assert first.returncode == 0, first.stdout + first.stderr
    include = tmp_path / "include"
    pool = (include / "pool-servers.conf").read_text()
    assert "server 10.0.0.1:5001 weight=1 max_fails=1 fail_timeout=10s;\n" in pool
    assert drained + "\n" in pool
    assert [line for line in (include / "unhealthy.conf").read_text().splitlines() if not line.startswith("#")] == []
    assert reload_count(tmp_path) == 0

    (include / "unhealthy.conf").write_text("app1_5001 1;\n")
    (include / "pool-servers.conf").write_text(pool + "# the running checker's\n")
    again = run_program("--config", str(path), "--initial-files")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (include / "unhealthy.conf").read_text() == "app1_5001 1;\n"
    assert (include / "pool-servers.conf").read_text() == pool + "# the running checker's\n"
    assert again.stdout == "", "the role counts a 'wrote' line as a change"
    assert reload_count(tmp_path) == 0

    # A host that kept one file but lost the other gets the missing one back, and only that one.
    (include / "unhealthy.conf").unlink()
    third = run_program("--config", str(path), "--initial-files")
    assert third.stdout == f"wrote {include / 'unhealthy.conf'}\n", third.stdout + third.stderr
    assert (include / "pool-servers.conf").read_text() == pool + "# the running checker's\n"
    assert reload_count(tmp_path) == 0


class Service:
    """The program in serve mode, started as systemd would, with a fake NOTIFY_SOCKET."""

    def __init__(self, tmp_path: Path, config_path: Path) -> None:
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(tmp_path / "notify.sock"))
        self.notify.settimeout(15)
        self.output = tmp_path / "journal.log"
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
        with self.output.open("w") as output:
            self.process = subprocess.Popen([sys.executable, str(PROGRAM), "--config", str(config_path)],
                                            stdout=output, stderr=subprocess.STDOUT, env=env)
        self.state_file = tmp_path / "run" / "state.json"

    def wait_ready(self) -> float:
        assert self.notify.recv(64) == b"READY=1"
        return time.time()

    def wait_state(self, condition: Callable[[dict[str, Any]], bool], seconds: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = json.loads(self.state_file.read_text())
            if condition(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"state never matched; last: {state}\n{self.output.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        finally:
            self.notify.close()
            if self.process.poll() is None:
                self.process.kill()


@pytest.mark.parametrize(("test_command", "reloads"), [(["true"], 1), (["false"], 0)])
def test_ready_is_sent_after_the_initial_files_exist(tmp_path: Path, backends: Callable[[int | None], Any],
                                                     test_command: list[str], reloads: int) -> None:
    """New files are tested and nginx reloaded. When nginx -t rejects the config nginx runs (a
    broken site that the role's nginx.conf will not include, say), the missing files are written
    all the same, with no reload: the role's nginx.conf, which includes them, then validates."""
    path = write_config(tmp_path, [backend_entry(1, backends(200).url)], test_command=test_command)
    service = Service(tmp_path, path)
    try:
        service.wait_ready()
        pool = (tmp_path / "include" / "pool-servers.conf").read_text()
        assert "server 10.0.0.1:5001 weight=1 max_fails=1 fail_timeout=10s;" in pool
        assert (tmp_path / "include" / "unhealthy.conf").exists()
        assert reload_count(tmp_path) == reloads
    finally:
        assert service.stop() == 0


def test_service_takes_backends_out_and_back_and_keeps_state_on_sighup(
        tmp_path: Path, backends: Callable[[int | None], Any]) -> None:
    flaky, hung = backends(500), backends(None)
    entries = [backend_entry(1, backends(200).url), backend_entry(2, flaky.url), backend_entry(3, hung.url)]
    path = write_config(tmp_path, entries)
    # Files already as the all-healthy start would write them: starting must not reload nginx.
    config = healthcheck.load_config(str(path))
    healthcheck.apply_files(healthcheck.dataclasses.replace(config, reload_command=["true"]), healthy_states(config))
    interval, timeout, fall = config.interval_seconds, config.timeout_seconds, config.fall

    service = Service(tmp_path, path)
    try:
        ready_at = service.wait_ready()
        assert reload_count(tmp_path) == 0

        down = service.wait_state(lambda state: not state["backends"]["app3_5001"]["healthy"])
        assert down["backends"]["app3_5001"]["since"] - ready_at <= fall * (interval + timeout) + 0.5
        service.wait_state(lambda state: not state["backends"]["app2_5001"]["healthy"])
        include = tmp_path / "include"
        pool = (include / "pool-servers.conf").read_text()
        assert "10.0.0.1:5001 weight=1 max_fails=1 fail_timeout=10s;\n" in pool
        assert "10.0.0.2:5001 weight=1 max_fails=1 fail_timeout=10s down;\n" in pool
        assert "10.0.0.3:5001 weight=1 max_fails=1 fail_timeout=10s down;\n" in pool
        routes = (include / "unhealthy.conf").read_text()
        assert "\napp2_5001 1;" in routes
        assert "\napp3_5001 1;" in routes
        assert "app1_5001" not in routes

        flaky.set_status(200)
        service.wait_state(lambda state: state["backends"]["app2_5001"]["healthy"])
        assert "app2_5001" not in (include / "unhealthy.conf").read_text()

        hung_before = json.loads(service.state_file.read_text())["backends"]["app3_5001"]
        new_path = write_config(tmp_path, [*entries, backend_entry(4, backends(200).url)])
        new_sha1 = hashlib.sha1(new_path.read_bytes()).hexdigest()
        service.process.send_signal(signal.SIGHUP)
        after = service.wait_state(lambda state: state["config_sha1"] == new_sha1)
        assert after["backends"]["app3_5001"]["healthy"] is False
        assert after["backends"]["app3_5001"]["since"] == hung_before["since"]
        assert after["backends"]["app4_5001"]["healthy"] is True
        assert "server 10.0.0.4:5001" in (include / "pool-servers.conf").read_text()
    finally:
        assert service.stop() == 0

    journal = service.output.read_text()
    assert "server-3 (app3_5001, 10.0.0.3:5001) DOWN after 2 failed checks: timed out after 0.5 s" in journal
    assert "server-2 (app2_5001, 10.0.0.2:5001) DOWN after 2 failed checks: HTTP 500" in journal
    assert "server-2 (app2_5001, 10.0.0.2:5001) UP after 2 good checks" in journal
    assert "server-1" not in journal  # no line per healthy check
    assert reload_count(tmp_path) == 3  # down (2 and 3 in one round), 2 up, 4 added

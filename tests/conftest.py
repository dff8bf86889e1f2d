"""Shared helpers for the project-level tests (roles, playbooks, tools)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from werkzeug.serving import make_server

PROJECT_DIR = Path(__file__).resolve().parent.parent


def load_module(relative_path: str, name: str) -> ModuleType:
    """Import a plugin or tool by its path (they are not installed as packages)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_DIR / relative_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_pytest(directory: Path, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """pytest (this venv's) run in `directory`, as a separate process, its output kept."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfEs", "--color=no", *arguments],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def app_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One real stickyapp instance (server-1) on a loopback port, for the tools' tests."""
    monkeypatch.syspath_prepend(str(PROJECT_DIR / "app"))
    from stickyapp import create_app

    app = create_app({"SECRET_KEY": "k" * 32, "SERVER_ID": "server-1",
                      "STATE_DIRECTORY": str(tmp_path / "state")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=5)


# `make test` sets STICKYLAB_NO_SKIPS: there (CI, as root, after `make deps`) every test in tests/
# can run, so one that skips (no root, no keepalived to download, no nginx) fails, with its reason.
# (app/tests needs nothing from the machine and skips nothing.)
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("STICKYLAB_NO_SKIPS"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{reason}: under `make test` every test must run (STICKYLAB_NO_SKIPS is set)"
    return report

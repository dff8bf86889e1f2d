"""The test suite's own rule (tests/conftest.py): under `make test` a test that skips fails (an
expected failure stays one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import PROJECT_DIR, run_pytest

SKIPPING_TESTS = """
import pytest

def test_passes():
    pass

def test_skips_itself():
    pytest.skip("needs root")

@pytest.mark.skipif(True, reason="no nginx here")
def test_skipped_by_its_marker():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_to_fail():
    assert False
"""


def run_pytest_here(directory: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "STICKYLAB_NO_SKIPS"} | environment
    return run_pytest(directory, "-q", str(directory), env=env)


def test_a_skip_fails_under_make_test_and_stays_a_skip_elsewhere(tmp_path: Path) -> None:
    shutil.copy(PROJECT_DIR / "tests" / "conftest.py", tmp_path)
    (tmp_path / "test_sample.py").write_text(SKIPPING_TESTS)
    alone = run_pytest_here(tmp_path)
    assert alone.returncode == 0 and "1 passed, 2 skipped, 1 xfailed" in alone.stdout, alone.stdout + alone.stderr
    under_make_test = run_pytest_here(tmp_path, STICKYLAB_NO_SKIPS="1")
    output = under_make_test.stdout
    assert under_make_test.returncode == 1, output + under_make_test.stderr
    assert "1 passed, 1 xfailed" in output and "skipped" not in output.splitlines()[-1], output
    assert "needs root: under `make test` every test must run" in output
    assert "no nginx here: under `make test` every test must run" in output

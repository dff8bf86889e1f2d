"""The apt_packages role's reading of dpkg-query: only fully installed packages count."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from conftest import PROJECT_DIR

# As Ansible reads a role's vars file: its strings are templates it may render.
ROLE_VARS = {name: trust_as_template(value) for name, value in yaml.safe_load(
    (PROJECT_DIR / "roles" / "apt_packages" / "vars" / "main.yml").read_text()).items()}


def missing(names: list[str], dpkg_lines: list[str]) -> list[str]:
    variables = {**ROLE_VARS, "apt_packages_names": names, "apt_packages_query": {"stdout_lines": dpkg_lines}}
    return Templar(loader=DataLoader(), variables=variables).template(ROLE_VARS["apt_packages_missing"])


def test_only_fully_installed_packages_count() -> None:
    lines = ["nginx config-files", "python3-apt installed", "curl half-installed", "ca-certificates installed"]
    assert sorted(missing(["nginx", "curl", "ca-certificates"], lines)) == ["curl", "nginx"]


def test_nothing_is_missing_when_dpkg_has_everything() -> None:
    assert missing(["ca-certificates"], ["python3-apt installed", "ca-certificates installed"]) == []


def test_a_package_dpkg_never_heard_of_is_missing() -> None:
    # dpkg-query prints nothing on stdout for it (only on stderr, with exit status 1).
    assert missing(["nginx"], ["python3-apt installed"]) == ["nginx"]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian machine")
def test_the_query_format_the_role_passes_reads_real_dpkg_output() -> None:
    query = subprocess.run(["dpkg-query", "--show", ROLE_VARS["apt_packages_query_format"], "dpkg",
                            "stickylab-no-such-package"], capture_output=True, text=True, check=False)
    assert query.returncode == 1 and "stickylab-no-such-package" in query.stderr
    assert query.stdout.splitlines() == ["dpkg installed"]
    assert missing(["dpkg", "stickylab-no-such-package"], query.stdout.splitlines()) == ["stickylab-no-such-package"]

"""The app's wheel is built from its source alone: two clones of one commit make the same bytes.

Otherwise a host installed from one clone's wheelhouse would be reinstalled, and its instances
restarted, by a run from another clone (the role compares the archives' SHA-256).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, load_module

build_wheelhouse = load_module("roles/flask_app/lookup_plugins/flask_app_wheelhouse.py", "build_wheelhouse")


def copy_of_the_app(destination: Path, mtime: int) -> Path:
    """app/ as a clone would hold it, every file and directory carrying its own checkout time."""
    shutil.copytree(PROJECT_DIR / "app", destination,
                    ignore=shutil.ignore_patterns("dist", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    for path in [destination, *destination.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return destination


def test_two_clones_build_the_same_app_wheel(tmp_path: Path) -> None:
    """Two checkouts made at different times, built by users with different umasks."""
    wheels = []
    for name, mtime, umask in (("first", 1_700_000_000, 0o022), ("second", 1_800_000_000, 0o002)):
        source = copy_of_the_app(tmp_path / name / "app", mtime)
        (tmp_path / name / "wheels").mkdir()
        previous = os.umask(umask)
        try:
            wheels.append(build_wheelhouse.build_app_wheel(source, tmp_path / name / "wheels"))
        finally:
            os.umask(previous)
    assert wheels[0].name == wheels[1].name
    assert wheels[0].read_bytes() == wheels[1].read_bytes()
    with zipfile.ZipFile(wheels[0]) as wheel:
        members = wheel.infolist()
    assert {member.date_time for member in members} == {(1980, 1, 1, 0, 0, 0)}


def test_the_lookup_names_what_to_fix_when_it_cannot_build(tmp_path: Path) -> None:
    """The role's task fails with the reason: a directory that is no project, or pip's own error."""
    lookup = build_wheelhouse.LookupModule()
    with pytest.raises(build_wheelhouse.AnsibleLookupError, match="has no pyproject.toml"):
        lookup.run([str(tmp_path)], output=str(tmp_path / "dist"))
    with pytest.raises(build_wheelhouse.AnsibleLookupError, match="usage:"):
        lookup.run([str(tmp_path)], ouput=str(tmp_path / "dist"))
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'broken'\n")
    with pytest.raises(build_wheelhouse.AnsibleLookupError, match=r"pip .*wheel.* failed \(exit [1-9]"):
        lookup.run([str(tmp_path)], output=str(tmp_path / "dist"))
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").rglob("wheelhouse.tar"))

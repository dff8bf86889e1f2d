"""The app's wheel is built from its source alone: two clones of one commit make the same bytes.

Otherwise a host installed from one clone's wheelhouse would be reinstalled, and its instances
restarted, by a run from another clone (the role compares the archives' SHA-256).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import PROJECT_DIR, load_module

build_wheelhouse = load_module("roles/flask_app/files/build-wheelhouse.py", "build_wheelhouse")


def copy_of_the_app(destination: Path, mtime: int) -> Path:
    """app/ as a clone would hold it, every file and directory carrying its own checkout time."""
    shutil.copytree(PROJECT_DIR / "app", destination,
                    ignore=shutil.ignore_patterns("dist", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    for path in [destination, *destination.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return destination


def test_two_clones_build_the_same_app_wheel(tmp_path: Path) -> None:
    wheels = []
    for name, mtime in (("first", 1_700_000_000), ("second", 1_800_000_000)):
        source = copy_of_the_app(tmp_path / name / "app", mtime)
        (tmp_path / name / "wheels").mkdir()
        wheels.append(build_wheelhouse.build_app_wheel(source, tmp_path / name / "wheels"))
    assert wheels[0].name == wheels[1].name
    assert wheels[0].read_bytes() == wheels[1].read_bytes()

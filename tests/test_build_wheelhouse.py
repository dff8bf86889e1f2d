"""The app's wheel is built from its source alone: two clones of one commit make the same bytes.

Otherwise a host installed from one clone's wheelhouse would be reinstalled, and its instances
restarted, by a run from another clone (the role compares the archives' SHA-256). The wheelhouse
around it holds every dependency at a pinned version, so a build next month gets the same ones.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tomllib
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


def pins(lines: list[str]) -> dict[str, str]:
    """name -> version of every `name==version` line, names normalised as in wheel file names."""
    found = (re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+).*", line) for line in lines)
    return {re.sub(r"[-_.]+", "_", match[1]).lower(): match[2] for match in found if match}


def test_every_wheel_of_the_wheelhouse_is_pinned(tmp_path: Path) -> None:
    """Every dependency, direct (pyproject.toml) or not (constraints.txt), comes at its pinned
    version (for every target Python: a second version of a name is one pair too many), and no
    pin is left that nothing pulls in."""
    project = tomllib.loads((PROJECT_DIR / "app" / "pyproject.toml").read_text())["project"]
    pinned = pins(project["dependencies"])
    constrained = pins((PROJECT_DIR / "app" / build_wheelhouse.CONSTRAINTS).read_text().splitlines())
    assert constrained and not pinned.keys() & constrained.keys()
    source = copy_of_the_app(tmp_path / "app", 1_700_000_000)
    result = build_wheelhouse.build(source, tmp_path / "dist")
    with tarfile.open(result["archive"]) as archive:
        wheels = [name.split("-")[:2] for name in archive.getnames()]
    built = {(name.lower(), version) for name, version in wheels if name != "stickyapp"}
    assert built == set((pinned | constrained).items())


def test_every_download_is_constrained_and_a_new_pin_rebuilds(tmp_path: Path, monkeypatch) -> None:
    """The pins reach pip for every target, and a changed pin is a new archive (a new digest)."""
    source = copy_of_the_app(tmp_path / "app", 1_700_000_000)
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(build_wheelhouse, "build_app_wheel", lambda _source, wheels: wheels / "stickyapp.whl")
    monkeypatch.setattr(build_wheelhouse, "pip", lambda *arguments, **_: calls.append(arguments))
    build_wheelhouse.collect_wheels(source, tmp_path)
    assert len(calls) == len(build_wheelhouse.TARGETS)
    assert all(call[0] == "download" and call[call.index("--constraint") + 1] == str(source / "constraints.txt")
               for call in calls)
    before = build_wheelhouse.source_digest(source)
    with (source / build_wheelhouse.CONSTRAINTS).open("a") as constraints:
        constraints.write("blinker==1.8.2\n")
    assert build_wheelhouse.source_digest(source) != before

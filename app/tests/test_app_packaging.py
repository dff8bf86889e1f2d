"""The wheel holds everything the app needs: hosts install it, not the app/ folder.

Built the way the deployment builds it (pip wheel --no-deps --no-build-isolation), from a
copy of app/ so the source tree gets no build/ folder, then imported from the unpacked wheel
in a fresh interpreter that cannot see app/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_SECONDS = 120

# Runs inside the unpacked wheel: render the page and fetch the icon through the test client.
SMOKE_TEST = """
import json, sys, tempfile
import stickyapp
app = stickyapp.create_app({"SECRET_KEY": "k" * 32, "SERVER_ID": "from-wheel",
                            "STATE_DIRECTORY": tempfile.mkdtemp()})
client = app.test_client()
page = client.get("/", headers={"Accept": "text/html"})
icon = client.get("/favicon.ico")
print(json.dumps({"module": stickyapp.__file__, "page_status": page.status_code,
                  "page_has_server": "from-wheel" in page.get_data(as_text=True),
                  "icon_status": icon.status_code, "icon_type": icon.mimetype}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "app"
    shutil.copytree(APP_DIR, source, ignore=shutil.ignore_patterns(
        "tests", "build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         str(source), "-w", str(work / "dist")],
        check=True, timeout=BUILD_TIMEOUT_SECONDS,
    )
    (built,) = (work / "dist").glob("stickyapp-*.whl")
    return built


def test_wheel_holds_code_templates_and_icon_but_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source_files = {
        path.relative_to(APP_DIR).as_posix()
        for path in (APP_DIR / "stickyapp").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert source_files <= names
    assert "stickyapp/templates/index.html" in names
    assert "stickyapp/static/favicon.svg" in names
    assert not any(name.startswith("tests/") for name in names)


def test_installed_copy_runs_without_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    result = subprocess.run(
        [sys.executable, "-c", SMOKE_TEST],
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path, capture_output=True, text=True, check=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    report = json.loads(result.stdout)
    assert Path(report["module"]).is_relative_to(unpacked)
    assert report["page_status"] == 200 and report["page_has_server"]
    assert (report["icon_status"], report["icon_type"]) == (200, "image/svg+xml")


def test_wheel_requires_exactly_the_pinned_dependencies(wheel: Path) -> None:
    declared = tomllib.loads((APP_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    assert declared and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", item)
                            for item in declared)
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [name for name in archive.namelist() if name.endswith("/METADATA")]
        metadata = archive.read(metadata_name).decode()
    required = re.findall(r"^Requires-Dist: (.+)$", metadata, flags=re.MULTILINE)
    assert sorted(required) == sorted(declared)

"""Lookup `flask_app_wheelhouse`: the app's wheelhouse on the controller, built when missing.

    lookup('flask_app_wheelhouse', flask_app_source_dir, output=flask_app_wheelhouse_dir)
    -> {"archive": "app/dist/<digest>/wheelhouse.tar", "built": true, "sha256": "<the archive's>"}

The flask_app role looks it up once per play and copies the one archive to every app host,
which installs from it with `pip --no-index`: the hosts never reach a package index, and every
host gets the same bytes. A lookup runs inside ansible-playbook, as the password lookup that
creates the SECRET_KEY does: a command task would start a module on the controller on every run,
a no-op included, to wrap a check of a few milliseconds.

The archive is keyed by a digest of the app's source (pyproject.toml, constraints.txt and the
package), so an unchanged app is not rebuilt ("built": false), and a rebuild of the same source,
in this clone or another, makes the same bytes (fixed times and owners in the wheel and the tar,
sorted members).
Dependencies come as wheels for every Python and machine in TARGETS, the CPython versions of the
Debian releases the roles support, at the versions the source's constraints.txt pins.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

try:
    from ansible.errors import AnsibleLookupError
    from ansible.plugins.lookup import LookupBase
except ImportError:  # the unit tests import this module without Ansible installed
    AnsibleLookupError = RuntimeError  # type: ignore[misc,assignment]
    LookupBase = object  # type: ignore[misc,assignment]

# (Python version, ABI, platforms): Debian 12 has CPython 3.11, Debian 13 CPython 3.13.
TARGETS = [
    (version, f"cp{version.replace('.', '')}", platforms)
    for version in ("3.11", "3.13")
    for platforms in (("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
                      ("manylinux_2_17_aarch64", "manylinux2014_aarch64"))
]
# The pins of the dependencies' own dependencies, beside pyproject.toml; part of the digest.
CONSTRAINTS = "constraints.txt"
# What does not go into the app's wheel, so does not count for the digest either.
SKIPPED_PARTS = {"tests", "dist", "build", "__pycache__"}

# The date every file in the app's wheel carries (the earliest a zip can hold) instead of its
# modification time, and the umask the wheel is built under instead of the user's (the wheel
# records each file's mode): two clones of the same commit then build the same bytes, and a host
# installed from one is not reinstalled, its instances not restarted, by a run from the other.
SOURCE_DATE_EPOCH = "315532800"
BUILD_UMASK = 0o022


def source_files(source: Path) -> list[Path]:
    return sorted(path for path in source.rglob("*")
                  if path.is_file() and not SKIPPED_PARTS & set(path.relative_to(source).parts)
                  and path.suffix != ".pyc" and ".egg-info" not in str(path))


def source_digest(source: Path) -> str:
    digest = hashlib.sha256(f"{SOURCE_DATE_EPOCH} {BUILD_UMASK:o}".encode())  # part of the key too
    for path in source_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def pip(*arguments: str, environment: dict[str, str] | None = None) -> None:
    """pip of the Python that runs Ansible; its output is shown only when it fails."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        raise AnsibleLookupError(f"building the app's wheelhouse: `{' '.join(command)}` failed "
                                 f"(exit {result.returncode}):\n{result.stderr or result.stdout}")


def build_app_wheel(source: Path, wheels: Path) -> Path:
    """Built from a copy of the source files alone: what an earlier build left in app/ (build/,
    egg-info) cannot end up in the wheel, and the checkout stays clean."""
    user_umask = os.umask(BUILD_UMASK)
    try:
        with tempfile.TemporaryDirectory(prefix="stickyapp-source-") as work:
            copy = Path(work) / "app"
            for path in source_files(source):
                (copy / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy / path.relative_to(source))
            pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(copy),
                environment={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    finally:
        os.umask(user_umask)
    built = next(wheels.glob("*.whl"), None)
    if built is None:
        raise AnsibleLookupError(f"building the app's wheelhouse: pip made no wheel of {source}")
    return built


def collect_wheels(source: Path, wheels: Path) -> None:
    """The app's wheel, and its dependencies at the versions that constraints.txt pins, when the
    source has one (app/ does)."""
    app_wheel = build_app_wheel(source, wheels)
    constraints = source / CONSTRAINTS
    constraint_options = ["--constraint", str(constraints)] if constraints.is_file() else []
    for version, abi, platforms in TARGETS:
        platform_options = [option for platform in platforms for option in ("--platform", platform)]
        pip("download", "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none", *platform_options, *constraint_options,
            "--dest", str(wheels), str(app_wheel))


def write_archive(wheels: Path, archive: Path) -> None:
    """A tar that depends only on the wheels' names and bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for wheel in sorted(wheels.glob("*.whl")):
            member = tarfile.TarInfo(wheel.name)
            member.size, member.mode, member.mtime = wheel.stat().st_size, 0o644, 0
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            with wheel.open("rb") as handle:
                tar.addfile(member, handle)
    archive.write_bytes(buffer.getvalue())


def file_sha256(path: Path) -> str:
    """What the role compares with the archive recorded on a host (its stat, sha256)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(source: Path, output: Path) -> dict[str, object]:
    target = output / source_digest(source)
    archive = target / "wheelhouse.tar"
    if archive.exists():
        return {"archive": str(archive), "built": False, "sha256": file_sha256(archive)}
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output, prefix=".build-") as work:
        wheels = Path(work) / "wheels"
        wheels.mkdir()
        collect_wheels(source, wheels)
        staged = Path(work) / "wheelhouse.tar"
        write_archive(wheels, staged)
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), archive)  # last: an interrupted build leaves no archive behind
    return {"archive": str(archive), "built": True, "sha256": file_sha256(archive)}


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, object]]:
        if len(terms) != 1 or set(kwargs) != {"output"}:
            raise AnsibleLookupError("usage: lookup('flask_app_wheelhouse', <app source dir>, output=<wheelhouse dir>)")
        source = Path(str(terms[0])).resolve()
        if not (source / "pyproject.toml").is_file():
            raise AnsibleLookupError(f"flask_app_source_dir: {source} has no pyproject.toml; "
                                     "point it at the app's project")
        output = Path(str(kwargs["output"])).resolve()
        try:
            return [build(source, output)]
        except OSError as error:
            raise AnsibleLookupError(f"building the app's wheelhouse into {output} "
                                     f"(flask_app_wheelhouse_dir): {error}") from error

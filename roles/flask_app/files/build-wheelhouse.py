#!/usr/bin/env python3
"""Build the app's wheelhouse on the controller: the app and its pinned dependencies, as wheels.

The flask_app role runs this once per play on the controller and copies the one archive it
prints to every app host, which installs from it with `pip --no-index`: the hosts never reach a
package index, and every host gets the same bytes.

    build-wheelhouse.py --source app --output app/dist
    -> {"archive": "app/dist/<digest>/wheelhouse.tar", "built": true, "sha256": "<the archive's>"}

The archive is keyed by a digest of the app's source (pyproject.toml and the package), so an
unchanged app is not rebuilt ("built": false), and a rebuild of the same source, in this clone or
another, makes the same bytes (fixed times and owners in the wheel and the tar, sorted members).
Dependencies come as wheels for every Python and machine in TARGETS, the CPython versions of the
Debian releases the roles support.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# (Python version, ABI, platforms): Debian 12 has CPython 3.11, Debian 13 CPython 3.13.
TARGETS = [
    (version, f"cp{version.replace('.', '')}", platforms)
    for version in ("3.11", "3.13")
    for platforms in (("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
                      ("manylinux_2_17_aarch64", "manylinux2014_aarch64"))
]
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
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *arguments],
                   check=True, env=environment)


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
    return next(wheels.glob("*.whl"))


def collect_wheels(source: Path, wheels: Path) -> None:
    app_wheel = build_app_wheel(source, wheels)
    for version, abi, platforms in TARGETS:
        platform_options = [option for platform in platforms for option in ("--platform", platform)]
        pip("download", "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
            "--abi", abi, "--abi", "abi3", "--abi", "none", *platform_options,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the app's project directory")
    parser.add_argument("--output", type=Path, required=True, help="where wheelhouses are kept")
    arguments = parser.parse_args(argv)
    print(json.dumps(build(arguments.source.resolve(), arguments.output.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Prepare this machine for the project's systemd-container hosts and run the container lab.

Subcommands:
  engine     start the local Docker engine if it is not answering (idempotent)
  image      build the systemd base image with mmdebstrap unless it already exists
  up         start the lab hosts (lb1, app1..app3) and run site.yml against them
  down       remove every container and network the lab created, nothing else
  demo       print the seed's five-request demo against the lab's published port

No registry is reachable from the machines this project is developed on, so the base image is
bootstrapped from Debian's apt mirror and imported, never pulled.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE_IMAGE = os.environ.get("STICKY_BASE_IMAGE", "stickylab/debian-systemd:bookworm-1")
# The packages every test or lab host starts with: what a minimal Debian server has, plus
# systemd as PID 1 and python3 for Ansible. Everything else is the roles' job.
BASE_PACKAGES = "systemd,systemd-sysv,python3,sudo,iproute2,ca-certificates,procps"

LAB_NETWORK = "stickylab"
LAB_PREFIX = "stickylab-"
LAB_LABEL = "io.stickylab.lab=1"
LAB_HOSTS = ("lb1", "app1", "app2", "app3")
LAB_INVENTORY = PROJECT_DIR / "inventories" / "lab"

# `--privileged` fails on these machines (CAP_SYS_RESOURCE is not in the bounding set); this is
# the smallest set of options that boots systemd as PID 1 to `running`.
SYSTEMD_CONTAINER_OPTIONS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "-e", "container=docker",
]


def stage(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(command: list[str], check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    output = subprocess.DEVNULL if quiet else None
    return subprocess.run(command, check=check, stdout=output, stderr=output)


def docker_answers() -> bool:
    return run(["docker", "info"], check=False, quiet=True).returncode == 0


def ensure_engine(timeout: float = 60.0) -> None:
    if docker_answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        fail("dockerd is not installed: run `apt-get install -y docker.io` (make deps does it)")
    stage("starting the Docker engine (log: /var/log/dockerd.log)")
    with open("/var/log/dockerd.log", "ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_answers():
            return
        time.sleep(0.5)
    fail(f"the Docker engine did not answer within {timeout:.0f} s; see /var/log/dockerd.log")


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], check=False, quiet=True).returncode == 0


def ensure_image(name: str = BASE_IMAGE) -> None:
    ensure_engine()
    if image_exists(name):
        return
    if shutil.which("mmdebstrap") is None:
        fail("mmdebstrap is not installed: run `apt-get install -y mmdebstrap` (make deps does it)")
    stage(f"building base image {name} with mmdebstrap (about 20 s)")
    with tempfile.TemporaryDirectory() as workdir:
        rootfs = Path(workdir) / "rootfs.tar"
        run(["mmdebstrap", "--quiet", "--variant=apt", f"--include={BASE_PACKAGES}",
             "bookworm", str(rootfs)])
        run(["docker", "import", "--change", 'CMD ["/lib/systemd/systemd"]',
             str(rootfs), name], quiet=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("engine", help="start the Docker engine if needed")
    commands.add_parser("image", help="build the systemd base image if needed")
    arguments = parser.parse_args(argv)
    if arguments.command == "engine":
        ensure_engine()
    elif arguments.command == "image":
        ensure_image()
    return 0


if __name__ == "__main__":
    sys.exit(main())

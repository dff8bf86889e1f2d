#!/usr/bin/env python3
"""Prepare this machine for the project's systemd-container hosts and run the container lab.

Subcommands:
  engine     start the local Docker engine if it is not answering (idempotent)
  image      build the systemd base image with mmdebstrap unless it already exists
  vagrant-image  the base image plus sshd and a `vagrant` user, for Vagrant's docker provider
  up         start the lab hosts (lb1, app1..app3, or app1..appN with --scale N) and run
             site.yml against them
  down       remove every container and network the lab created, nothing else
  demo       print the seed's five-request demo against the lab's published port
  screenshot the lab's page in headless Chromium, for the README (docs/lab-page.png)

No registry is reachable from the machines this project is developed on, so the base image is
bootstrapped from Debian's apt mirror and imported, never pulled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE_IMAGE = os.environ.get("STICKY_BASE_IMAGE", "stickylab/debian-systemd:bookworm-1")
# The packages every test or lab host starts with: what a minimal Debian server has, plus
# systemd as PID 1 and python3 for Ansible. Everything else is the roles' job.
BASE_PACKAGES = "systemd,systemd-sysv,python3,sudo,iproute2,ca-certificates,procps"

LAB_NETWORK = "stickylab-lab"
LAB_PREFIX = "stickylab-lab-"
LAB_LABEL = "io.stickylab.lab=1"
LAB_LB_HOSTS = ("lb1",)
LAB_DEFAULT_SCALE = 3  # app hosts, as the seed's three servers
LAB_MAX_SCALE = 9
LAB_INVENTORY = PROJECT_DIR / "inventories" / "lab"
# app1 is in inventories/lab/hosts.yml; app2..appN are written by `up --scale N` (git-ignored),
# so that a plain `ansible-playbook -i inventories/lab site.yml` sees the same lab as
# `make lab SCALE=N`.
LAB_SCALE_INVENTORY = LAB_INVENTORY / "scale-out.yml"

# `--privileged` fails on these machines (CAP_SYS_RESOURCE is not in the bounding set); this is
# the smallest set of options that boots systemd as PID 1 to `running`. One list for this lab
# and the Vagrantfile's docker provider (Molecule's platforms spell the same options in YAML).
SYSTEMD_CONTAINER_OPTIONS: list[str] = json.loads(
    (PROJECT_DIR / "tools" / "systemd-container-args.json").read_text())


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


VAGRANT_IMAGE = os.environ.get("STICKY_VAGRANT_IMAGE", "stickylab/debian-systemd-ssh:bookworm-1")
# Docker's legacy builder (no buildx here): no COPY --chmod.
# Vagrant logs in with its well-known insecure key first (and replaces it on VMs); the docker
# provider needs it in the image. Debian's vagrant package ships the public half.
VAGRANT_INSECURE_KEY = Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")
VAGRANT_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && useradd --create-home --shell /bin/bash vagrant \\
 && echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant && chmod 0440 /etc/sudoers.d/vagrant \\
 && install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
COPY --chown=vagrant:vagrant vagrant.pub /home/vagrant/.ssh/authorized_keys
RUN chmod 0600 /home/vagrant/.ssh/authorized_keys
CMD ["/lib/systemd/systemd"]
"""


def ensure_vagrant_image() -> None:
    ensure_image()
    if image_exists(VAGRANT_IMAGE):
        return
    key = next(Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant.pub"),
               VAGRANT_INSECURE_KEY)
    if not key.exists():
        fail("Vagrant's insecure public key was not found: install vagrant (`apt-get install -y vagrant`)")
    stage(f"building {VAGRANT_IMAGE} (base image + openssh-server + user vagrant)")
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(VAGRANT_DOCKERFILE)
        shutil.copy(key, Path(context) / "vagrant.pub")
        run(["docker", "build", "--quiet", "--tag", VAGRANT_IMAGE, context], quiet=True)


REQUIRED_COMMANDS = {"dockerd": "docker.io", "mmdebstrap": "mmdebstrap", "curl": "curl", "jq": "jq"}


def ensure_packages(required: dict[str, str] = REQUIRED_COMMANDS) -> None:
    """Install the Debian packages the tests and the lab need, if any is missing."""
    missing = sorted({package for command, package in required.items()
                      if shutil.which(command) is None})
    if not missing:
        return
    stage(f"installing Debian packages: {' '.join(missing)}")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=environment)


def container_name(host: str) -> str:
    return f"{LAB_PREFIX}{host}"


def container_state(name: str) -> str | None:
    result = subprocess.run(["docker", "inspect", "--format", "{{.State.Status}}", name],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def published_port(name: str) -> str | None:
    result = subprocess.run(["docker", "port", name, "80/tcp"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip().rsplit(":", 1)[-1] if result.returncode == 0 and result.stdout else None


def start_lab_host(host: str, port: int) -> None:
    name = container_name(host)
    state = container_state(name)
    if host.startswith("lb") and state is not None and published_port(name) != str(port):
        stage(f"re-creating {name} to publish port {port}")
        run(["docker", "rm", "-f", name], quiet=True)
        state = None
    if state == "running":
        return
    if state is not None:
        run(["docker", "start", name], quiet=True)
        return
    publish = ["-p", f"127.0.0.1:{port}:80"] if host.startswith("lb") else []
    run(["docker", "run", "-d", "--name", name, "--hostname", host, "--network", LAB_NETWORK,
         "--label", LAB_LABEL, *publish, *SYSTEMD_CONTAINER_OPTIONS, BASE_IMAGE,
         "/lib/systemd/systemd"], quiet=True)


def wait_for_systemd(host: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        result = subprocess.run(["docker", "exec", container_name(host), "timeout", str(int(seconds)),
                                 "systemctl", "is-system-running", "--wait"],
                                capture_output=True, text=True, check=False)
        state = result.stdout.strip()
        if state in ("running", "degraded"):
            return
        # Empty right after the container starts: systemd's bus is not listening yet.
        time.sleep(0.5)
    fail(f"systemd in {container_name(host)} did not come up ({state!r}); "
         f"see `docker logs {container_name(host)}`")


def app_host(number: int) -> str:
    return f"app{number}"


def write_scale_inventory(scale: int) -> None:
    """Describe app hosts 2..scale the way hosts.yml describes app1."""
    extra = range(2, scale + 1)
    if not extra:
        LAB_SCALE_INVENTORY.unlink(missing_ok=True)
        return
    lines = ["---", "# Written by `make lab SCALE=N` (tools/labctl.py); removed by `make lab-down`.",
             "all:", "  children:", "    app:", "      hosts:"]
    lines += [f"        {app_host(n)}: {{ansible_host: {container_name(app_host(n))}, "
              f"backends_instances: [{{port: 5001, name: server-{n}}}]}}" for n in extra]
    LAB_SCALE_INVENTORY.write_text("\n".join(lines) + "\n")


def remove_surplus_app_hosts(scale: int) -> None:
    """Scaling in: app hosts above the new scale leave the lab (the inventory no longer has them)."""
    names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={LAB_LABEL}"],
                           capture_output=True, text=True, check=True).stdout.split()
    surplus = [name for name in names if name.startswith(container_name("app"))
               and name.removeprefix(container_name("app")).isdigit()
               and int(name.removeprefix(container_name("app"))) > scale]
    if surplus:
        stage(f"removing app hosts beyond SCALE={scale}: {', '.join(surplus)}")
        run(["docker", "rm", "-f", "-v", *surplus], quiet=True)


def lab_up(strategy: str, port: int, scale: int = LAB_DEFAULT_SCALE) -> None:
    if not 1 <= scale <= LAB_MAX_SCALE:
        fail(f"SCALE={scale}: the lab runs 1 to {LAB_MAX_SCALE} app hosts")
    ensure_image()
    hosts = [*LAB_LB_HOSTS, *(app_host(n) for n in range(1, scale + 1))]
    stage(f"starting lab hosts {', '.join(hosts)} on network {LAB_NETWORK}")
    if run(["docker", "network", "inspect", LAB_NETWORK], check=False, quiet=True).returncode:
        run(["docker", "network", "create", "--label", LAB_LABEL, LAB_NETWORK], quiet=True)
    remove_surplus_app_hosts(scale)
    for host in hosts:
        start_lab_host(host, port)
    for host in hosts:
        wait_for_systemd(host)
    write_scale_inventory(scale)
    stage(f"running site.yml against the lab with strategy={strategy}, {scale} app hosts")
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run([str(ansible_playbook), "-i", str(LAB_INVENTORY), "site.yml",
                             "-e", f"strategy={strategy}"], cwd=PROJECT_DIR, check=False)
    if result.returncode != 0:
        fail("site.yml failed against the lab (output above). Fix the cause and re-run "
             "`make lab`; `make lab-down` removes the lab.")


def lab_down() -> None:
    ensure_engine()
    LAB_SCALE_INVENTORY.unlink(missing_ok=True)
    containers = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LAB_LABEL}"],
                                capture_output=True, text=True, check=True).stdout.split()
    if containers:
        stage(f"removing {len(containers)} lab container(s)")
        run(["docker", "rm", "-f", "-v", *containers], quiet=True)
    networks = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label={LAB_LABEL}"],
                              capture_output=True, text=True, check=True).stdout.split()
    if networks:
        stage(f"removing lab network {LAB_NETWORK}")
        run(["docker", "network", "rm", *networks], quiet=True)


# The seed's README loop, verbatim but for the cookie file's place and the port.
SEED_DEMO = """rm -f "$COOKIES"
for i in {1..5}; do
curl -s -b "$COOKIES" -c "$COOKIES" http://localhost:$PORT | jq -r '"server: \\(.server_id) | visits: \\(.visit_count) | seen: \\(.servers_seen | join(","))"'
done"""


def demo(port: int) -> None:
    stage(f"the seed's five-request demo against http://localhost:{port}")
    with tempfile.TemporaryDirectory() as workdir:
        environment = {**os.environ, "COOKIES": f"{workdir}/cookies.txt", "PORT": str(port)}
        result = subprocess.run(["bash", "-c", SEED_DEMO], env=environment, check=False)
        cookie_lines = Path(f"{workdir}/cookies.txt").read_text().splitlines() \
            if Path(f"{workdir}/cookies.txt").exists() else []
    if result.returncode != 0:
        fail("the demo requests failed; is the lab up (`make lab`)?")
    sticky = [line.split("\t")[-2:] for line in cookie_lines if "\tSERVERID\t" in line]
    if sticky:
        print(f"cookie: {sticky[0][0]}={sticky[0][1]} (opaque: it names no host, address or port)")
    print(f"Open http://127.0.0.1:{port}/ in a browser for the page; `make lab-down` removes the lab.")


def screenshot(port: int, output: Path) -> None:
    """The lab's page as a browser shows it: headless Chromium from Debian's packages."""
    ensure_packages({"chromium": "chromium"})
    stage(f"taking a screenshot of http://127.0.0.1:{port}/ with headless Chromium -> {output}")
    output.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                             "--hide-scrollbars", "--window-size=900,360",
                             f"--screenshot={output}", f"http://127.0.0.1:{port}/"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 or not output.exists():
        fail(f"chromium could not take the screenshot: {result.stderr.strip()[-400:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("deps", help="install missing Debian packages (docker.io, mmdebstrap, curl, jq)")
    commands.add_parser("vagrant-deps", help="install Vagrant from Debian if missing (about 2 minutes)")
    commands.add_parser("engine", help="start the Docker engine if needed")
    commands.add_parser("image", help="build the systemd base image if needed")
    commands.add_parser("vagrant-image", help="build the image for Vagrant's docker provider if needed")
    up = commands.add_parser("up", help="start the lab and deploy site.yml to it")
    up.add_argument("--strategy", default="cookie")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--scale", type=int, default=LAB_DEFAULT_SCALE, help=f"app hosts (1-{LAB_MAX_SCALE})")
    commands.add_parser("down", help="remove the lab's containers and network")
    demo_parser = commands.add_parser("demo", help="print the seed's five-request demo")
    demo_parser.add_argument("--port", type=int, default=8080)
    shot = commands.add_parser("screenshot", help="screenshot of the lab's page (headless Chromium)")
    shot.add_argument("--port", type=int, default=8080)
    shot.add_argument("--output", type=Path, default=PROJECT_DIR / "docs" / "lab-page.png")
    arguments = parser.parse_args(argv)
    if arguments.command == "deps":
        ensure_packages()
    elif arguments.command == "vagrant-deps":
        ensure_packages({"vagrant": "vagrant"})
    elif arguments.command == "engine":
        ensure_engine()
    elif arguments.command == "image":
        ensure_image()
    elif arguments.command == "vagrant-image":
        ensure_vagrant_image()
    elif arguments.command == "up":
        lab_up(arguments.strategy, arguments.port, arguments.scale)
    elif arguments.command == "down":
        lab_down()
    elif arguments.command == "demo":
        demo(arguments.port)
    elif arguments.command == "screenshot":
        screenshot(arguments.port, arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

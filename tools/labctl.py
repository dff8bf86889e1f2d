#!/usr/bin/env python3
"""Prepare this machine for the project's systemd-container hosts and run the container lab.

Subcommands:
  deps       install the Debian packages the lab and the tests need, if missing
  engine     start the local Docker engine if it is not answering (idempotent)
  image      build the systemd base image of a release with mmdebstrap unless it exists
  vagrant-image  the base image plus sshd and a `vagrant` user, for Vagrant's docker provider
  up         start the lab hosts (lb1 [+ lb2], app1..appN) and run site.yml against them
  down       remove every container and network the lab created, nothing else
  virtual-address  the lb pair's virtual address (make lab LBS=2)
  demo       print the seed's five-request demo against the lab's published port
  screenshot the lab's page in headless Chromium, for the README (docs/lab-page.png)

A lab host is defined once, in tools/lab-host.yml (image recipe and container settings); this
tool, the Vagrantfile and Molecule's create playbook all read it. No registry is reachable from
the machines this project is developed on, so base images are bootstrapped from Debian's apt
mirror and imported, never pulled.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
LAB_HOST_FILE = PROJECT_DIR / "tools" / "lab-host.yml"

LAB_NETWORK = "stickylab-lab"
LAB_PREFIX = "stickylab-lab-"
LAB_LABEL = "io.stickylab.lab=1"
LAB_DEFAULT_SCALE = 3  # app hosts, as the seed's three servers
LAB_MAX_SCALE = 9
# The lab network's subnet: fixed, so the lb pair's virtual address is known in advance; outside
# the ranges Docker picks for networks without one (172.17-31.x, 192.168.x), so no other can take it.
LAB_SUBNET = ipaddress.ip_network(os.environ.get("LAB_SUBNET", "10.89.250.0/24"))
LAB_INVENTORY = PROJECT_DIR / "inventories" / "lab"
# lb1 and app1 are in inventories/lab/hosts.yml; app2..appN, lb2 and the virtual address are
# written by `up` (git-ignored), so that a plain `ansible-playbook -i inventories/lab site.yml`
# sees the same lab as `make lab SCALE=N LBS=M`.
LAB_GENERATED_INVENTORY = LAB_INVENTORY / "generated.yml"


def stage(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(command: list[str], check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    output = subprocess.DEVNULL if quiet else None
    return subprocess.run(command, check=check, stdout=output, stderr=output)


# --- the lab host definition ------------------------------------------------------------------

def lab_host() -> dict[str, Any]:
    import yaml  # PyYAML comes with Ansible in the venv; `deps` runs before the venv exists

    return yaml.safe_load(LAB_HOST_FILE.read_text())


def release_of(definition: dict[str, Any], release: str | None = None) -> str:
    chosen = release or os.environ.get("STICKY_RELEASE") or definition["releases"][0]
    if chosen not in definition["releases"]:
        fail(f"release {chosen!r} is not supported; choose one of {', '.join(definition['releases'])}")
    return chosen


def image_name(definition: dict[str, Any], release: str) -> str:
    return f"{definition['image']}:{release}-{definition['image_revision']}"


def container_options(definition: dict[str, Any]) -> list[str]:
    """`docker run` options that boot systemd as PID 1, from the definition."""
    options: list[str] = []
    for capability in definition["capabilities"]:
        options += ["--cap-add", capability]
    for security_option in definition["security_opts"]:
        options += ["--security-opt", security_option]
    options.append(f"--cgroupns={definition['cgroupns_mode']}")
    for volume in definition["volumes"]:
        options += ["-v", volume]
    for mount in definition["tmpfs"]:
        options += ["--tmpfs", mount]
    for name, value in definition["env"].items():
        options += ["-e", f"{name}={value}"]
    return options


# --- machine preparation ----------------------------------------------------------------------

REQUIRED_COMMANDS = {"dockerd": "docker.io", "mmdebstrap": "mmdebstrap", "curl": "curl", "jq": "jq",
                     "nginx": "nginx"}


def ensure_packages(required: dict[str, str] = REQUIRED_COMMANDS) -> None:
    """Install the Debian packages the tests and the lab need, if any is missing.

    nginx is only used by the unit tests (`nginx -t` on rendered configurations), never as a
    server on this machine.
    """
    missing = sorted({package for command, package in required.items()
                      if shutil.which(command) is None and not Path(f"/usr/sbin/{command}").exists()})
    if not missing:
        return
    stage(f"installing Debian packages: {' '.join(missing)}")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=environment)
    if "nginx" in missing:
        # Debian's maintainer scripts start it on a machine without systemd despite policy-rc.d.
        subprocess.run(["/usr/sbin/nginx", "-s", "quit"], check=False, capture_output=True)


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


def ensure_image(release: str | None = None, for_tests: bool = False) -> str:
    """The lab host's image of `release`, built if missing; with for_tests, Molecule's: the same
    plus the drills' test_packages."""
    definition = lab_host()
    release = release_of(definition, release)
    name = image_name(definition, release)
    ensure_engine()
    if not image_exists(name):
        if shutil.which("mmdebstrap") is None:
            fail("mmdebstrap is not installed: run `apt-get install -y mmdebstrap` (make deps does it)")
        stage(f"building base image {name} with mmdebstrap (about a minute)")
        with tempfile.TemporaryDirectory() as workdir:
            rootfs = Path(workdir) / "rootfs.tar"
            run(["mmdebstrap", "--quiet", "--variant=apt", f"--include={','.join(definition['packages'])}",
                 "--skip=cleanup/apt/lists", release, str(rootfs)])
            run(["docker", "import", "--change", f'CMD ["{definition["command"]}"]', str(rootfs), name],
                quiet=True)
    if for_tests:
        return ensure_derived_image(name, test_image_name(definition, release), definition["command"],
                                    "apt-get install -y -qq --no-install-recommends "
                                    + " ".join(definition["test_packages"]))
    return name


def test_image_name(definition: dict[str, Any], release: str) -> str:
    return f"{definition['image']}-test:{release}-{definition['image_revision']}"


def ensure_derived_image(base: str, name: str, command: str, install: str) -> str:
    """`name` = `base` plus what `install` (a shell command run as root) adds, built if missing."""
    if image_exists(name):
        return name
    stage(f"building {name} ({base} + {install.split('--no-install-recommends')[-1].strip()})")
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(
            f'FROM {base}\nRUN DEBIAN_FRONTEND=noninteractive {install}\nCMD ["{command}"]\n')
        run(["docker", "build", "--quiet", "--tag", name, context], quiet=True)
    return name


# Docker's legacy builder (no buildx here): no COPY --chmod.
# Vagrant logs in with its well-known insecure key first (and replaces it on VMs); the docker
# provider needs it in the image. Debian's vagrant package ships the public half.
VAGRANT_DOCKERFILE = """FROM {base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server passwd \\
 && useradd --create-home --shell /bin/bash vagrant \\
 && echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant && chmod 0440 /etc/sudoers.d/vagrant \\
 && install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
COPY --chown=vagrant:vagrant vagrant.pub /home/vagrant/.ssh/authorized_keys
RUN chmod 0600 /home/vagrant/.ssh/authorized_keys
CMD ["{command}"]
"""


def vagrant_image_name(definition: dict[str, Any], release: str) -> str:
    return f"{definition['image']}-ssh:{release}-{definition['image_revision']}"


def ensure_vagrant_image(release: str | None = None) -> None:
    definition = lab_host()
    release = release_of(definition, release)
    base = ensure_image(release)
    name = vagrant_image_name(definition, release)
    if image_exists(name):
        return
    key = next(Path("/usr/share/rubygems-integration/all/gems").glob("vagrant-*/keys/vagrant.pub"), None)
    if key is None:
        fail("Vagrant's insecure public key was not found: install vagrant (`apt-get install -y vagrant`)")
    stage(f"building {name} (base image + openssh-server + user vagrant)")
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(
            VAGRANT_DOCKERFILE.format(base=base, command=definition["command"]))
        shutil.copy(key, Path(context) / "vagrant.pub")
        run(["docker", "build", "--quiet", "--tag", name, context], quiet=True)


# --- the container lab ------------------------------------------------------------------------

def container_name(host: str) -> str:
    return f"{LAB_PREFIX}{host}"


def container_state(name: str) -> str | None:
    result = subprocess.run(["docker", "inspect", "--format", "{{.State.Status}}", name],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def container_image(name: str) -> str | None:
    result = subprocess.run(["docker", "inspect", "--format", "{{.Config.Image}}", name],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def published_port(name: str) -> str | None:
    result = subprocess.run(["docker", "port", name, "80/tcp"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip().rsplit(":", 1)[-1] if result.returncode == 0 and result.stdout else None


def lab_address(host: str) -> str:
    """Fixed addresses on the lab network: lbN at .10+N, appN at .20+N."""
    kind, number = host.rstrip("0123456789"), int(host.lstrip("abcdefghijklmnopqrstuvwxyz"))
    return str(LAB_SUBNET.network_address + (10 if kind == "lb" else 20) + number)


def virtual_address() -> str:
    return str(LAB_SUBNET.network_address + 100)


def start_lab_host(host: str, port: int, image: str, options: list[str]) -> None:
    name = container_name(host)
    state = container_state(name)
    publishes = host == "lb1"
    if state is not None and (container_image(name) != image
                              or (publishes and published_port(name) != str(port))):
        stage(f"re-creating {name} ({image}, port {port})")
        run(["docker", "rm", "-f", "-v", name], quiet=True)
        state = None
    if state == "running":
        return
    if state is not None:
        run(["docker", "start", name], quiet=True)
        return
    publish = ["-p", f"127.0.0.1:{port}:80"] if publishes else []
    run(["docker", "run", "-d", "--name", name, "--hostname", host, "--network", LAB_NETWORK,
         "--ip", lab_address(host), "--label", LAB_LABEL, *publish, *options, image], quiet=True)


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


def write_generated_inventory(scale: int, lbs: int) -> None:
    """Describe lb2, app2..appN and the virtual address the way hosts.yml describes lb1 and app1,
    and give every host its fixed address on the lab network (nginx connects to the app hosts'
    addresses: nothing to resolve)."""
    lines = ["---", "# Written by `make lab SCALE=N LBS=M` (tools/labctl.py); removed by `make lab-down`.",
             "all:", "  children:", "    lb:"]
    if lbs > 1:
        lines += ["      vars:", f"        keepalived_virtual_address: {virtual_address()}"]
    lines += ["      hosts:"]
    lines += [f"        lb{n}: {{ansible_host: {container_name(f'lb{n}')}"
              + (f", keepalived_unicast_address: {lab_address(f'lb{n}')}}}" if lbs > 1 else "}")
              for n in range(1, lbs + 1)]
    lines += ["    app:", "      hosts:"]
    lines += [f"        app{n}: {{ansible_host: {container_name(f'app{n}')}, backends_address: {lab_address(f'app{n}')}, "
              f"backends_instances: [{{port: 5001, name: server-{n}}}]}}" for n in range(1, scale + 1)]
    LAB_GENERATED_INVENTORY.write_text("\n".join(lines) + "\n")


def lab_containers() -> list[str]:
    return subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={LAB_LABEL}"],
                          capture_output=True, text=True, check=True).stdout.split()


def remove_surplus_hosts(wanted: list[str]) -> None:
    """Scaling in: lab hosts the new size does not have leave the lab."""
    surplus = [name for name in lab_containers() if name not in map(container_name, wanted)]
    if surplus:
        stage(f"removing lab hosts beyond this size: {', '.join(surplus)}")
        run(["docker", "rm", "-f", "-v", *surplus], quiet=True)


def ensure_lab_network() -> None:
    inspect = subprocess.run(["docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
                              LAB_NETWORK], capture_output=True, text=True, check=False)
    if inspect.returncode == 0 and inspect.stdout.strip() == str(LAB_SUBNET):
        return
    if inspect.returncode == 0:
        fail(f"network {LAB_NETWORK} exists with subnet {inspect.stdout.strip()}, not {LAB_SUBNET}: "
             "run `make lab-down` first")
    run(["docker", "network", "create", "--label", LAB_LABEL, "--subnet", str(LAB_SUBNET), LAB_NETWORK],
        quiet=True)


def lab_up(strategy: str, port: int, scale: int, lbs: int, release: str | None) -> None:
    if not 1 <= scale <= LAB_MAX_SCALE:
        fail(f"SCALE={scale}: the lab runs 1 to {LAB_MAX_SCALE} app hosts")
    if lbs not in (1, 2):
        fail(f"LBS={lbs}: the lab runs one load balancer, or a pair behind a virtual address (2)")
    definition = lab_host()
    image = ensure_image(release)
    hosts = [*(f"lb{n}" for n in range(1, lbs + 1)), *(f"app{n}" for n in range(1, scale + 1))]
    stage(f"starting lab hosts {', '.join(hosts)} ({image}) on network {LAB_NETWORK}")
    ensure_lab_network()
    remove_surplus_hosts(hosts)
    options = container_options(definition)
    for host in hosts:
        start_lab_host(host, port, image, options)
    for host in hosts:
        wait_for_systemd(host)
    write_generated_inventory(scale, lbs)
    stage(f"running site.yml against the lab: strategy {strategy}, {lbs} lb, {scale} app hosts")
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    # nginx_lb_strategy, not the `-e strategy=` front door: `strategy` is also a play keyword and
    # ansible-core warns about the name on every run (README, "Deploying to your own hosts").
    result = subprocess.run([str(ansible_playbook), "-i", str(LAB_INVENTORY), "site.yml",
                             "-e", f"nginx_lb_strategy={strategy}"], cwd=PROJECT_DIR, check=False)
    if result.returncode != 0:
        fail("site.yml failed against the lab (output above). Fix the cause and re-run "
             "`make lab`; `make lab-down` removes the lab.")
    if lbs > 1:
        stage(f"the lb pair answers on the virtual address {virtual_address()} (inside the lab network; "
              f"lb1 also publishes http://127.0.0.1:{port})")


def lab_down() -> None:
    ensure_engine()
    LAB_GENERATED_INVENTORY.unlink(missing_ok=True)
    containers = lab_containers()
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
                             "--disable-background-networking", "--no-first-run",
                             "--hide-scrollbars", "--window-size=900,360",
                             f"--screenshot={output}", f"http://127.0.0.1:{port}/"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 or not output.exists():
        fail(f"chromium could not take the screenshot: {result.stderr.strip()[-400:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("deps", help="install missing Debian packages (docker.io, mmdebstrap, nginx, ...)")
    commands.add_parser("vagrant-deps", help="install Vagrant from Debian if missing (about 2 minutes)")
    commands.add_parser("engine", help="start the Docker engine if needed")
    image = commands.add_parser("image", help="build systemd base images if needed")
    image.add_argument("--release", action="append",
                       help="a Debian release from tools/lab-host.yml; repeatable; 'all' for every one")
    image.add_argument("--for-tests", action="store_true", help="also Molecule's image, with the drills' packages")
    vagrant = commands.add_parser("vagrant-image", help="build the image for Vagrant's docker provider if needed")
    vagrant.add_argument("--release")
    up = commands.add_parser("up", help="start the lab and deploy site.yml to it")
    up.add_argument("--strategy", default="cookie")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--scale", type=int, default=LAB_DEFAULT_SCALE, help=f"app hosts (1-{LAB_MAX_SCALE})")
    up.add_argument("--lbs", type=int, default=1, help="load balancers: 1, or 2 behind a virtual address")
    up.add_argument("--release", help="Debian release of the lab hosts (default: the newest supported)")
    commands.add_parser("down", help="remove the lab's containers and network")
    commands.add_parser("virtual-address", help="print the lb pair's virtual address (make lab LBS=2)")
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
        releases = arguments.release or [None]
        if "all" in releases:
            releases = lab_host()["releases"]
        for release in releases:
            ensure_image(release)
            if arguments.for_tests:
                ensure_image(release, for_tests=True)
    elif arguments.command == "vagrant-image":
        ensure_vagrant_image(arguments.release)
    elif arguments.command == "up":
        lab_up(arguments.strategy, arguments.port, arguments.scale, arguments.lbs, arguments.release)
    elif arguments.command == "down":
        lab_down()
    elif arguments.command == "virtual-address":
        print(virtual_address())
    elif arguments.command == "demo":
        demo(arguments.port)
    elif arguments.command == "screenshot":
        screenshot(arguments.port, arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The nginx_lb role's nginx.conf for a made-up deployment of N backends, rendered on this machine
and checked with Debian's nginx: how the configuration grows with the backends.

    python3 tools/nginx_config.py --backends 1000 --strategy cookie     # lines, bytes, nginx -t, RSS

Rendering goes through Ansible (tests/playbooks/render-nginx-conf.yml renders the role's own
templates with its defaults), so what is measured is what the role writes on an lb host. The
unit tests (tests/test_nginx_config.py) and `make bench` (its config-growth section) use it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
RENDER_PLAYBOOK = PROJECT_DIR / "tests" / "playbooks" / "render-nginx-conf.yml"
NGINX = "/usr/sbin/nginx"
# Ports of this machine the rendered site listens on when nginx runs it (loopback only).
SITE_PORT, STATUS_PORT = 28180, 28181


def made_up_backends(count: int) -> list[dict[str, Any]]:
    """`count` backends on documentation addresses (198.18.0.0/15 holds 131 070 of them)."""
    backends = []
    for number in range(1, count + 1):
        address = f"198.18.{number // 250}.{number % 250 + 1}"
        backends.append({"id": f"app{number}_5001", "host": f"app{number}", "address": address, "port": 5001,
                         "endpoint": f"{address}:5001", "name": f"server-{number}", "weight": 1,
                         "cookie": f"{number:016x}"})
    return backends


def render_many(renders: list[tuple[Path, int, str]]) -> float:
    """Render nginx.conf (and the health checker's files it includes) for each (directory,
    backends, strategy) in one ansible-playbook run, the role's defaults for every other setting;
    return the run's seconds."""
    variables = {"renders": [{"directory": str(directory), "backends": made_up_backends(count), "strategy": strategy,
                              "listen_port": SITE_PORT, "status_port": STATUS_PORT}
                             for directory, count, strategy in renders]}
    for directory, *_ in renders:
        directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(variables, handle)
    playbook = Path(sys.executable).parent / "ansible-playbook"
    started = time.monotonic()
    try:
        subprocess.run([str(playbook), str(RENDER_PLAYBOOK), "-e", f"@{handle.name}"], check=True,
                       capture_output=True, text=True, cwd=PROJECT_DIR,
                       env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "false",
                            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"})
    finally:
        os.unlink(handle.name)
    return time.monotonic() - started


def render(directory: Path, count: int, strategy: str) -> tuple[Path, float]:
    """One deployment: its nginx.conf and the seconds the whole render took."""
    seconds = render_many([(directory, count, strategy)])
    return directory / "nginx.conf", seconds


def for_this_machine(config: Path) -> Path:
    """The rendered configuration with its pid and log files in its own directory, and without
    this machine's own sites, so nginx can load it here next to whatever else runs."""
    text = config.read_text()
    for old, new in [("pid /run/nginx.pid;", f"pid {config.parent}/nginx.pid;"),
                     ("/var/log/nginx/", f"{config.parent}/"),
                     ("include /etc/nginx/sites-enabled/*;", ""), ("include /etc/nginx/conf.d/*.conf;", "")]:
        text = text.replace(old, new)
    local = config.with_name("nginx-here.conf")
    local.write_text(text)
    return local


def nginx_test(config: Path) -> tuple[bool, float, str]:
    """`nginx -t` on the configuration: whether it passed, its seconds, and what it said."""
    started = time.monotonic()
    result = subprocess.run([NGINX, "-t", "-q", "-c", str(config)], capture_output=True, text=True)
    return result.returncode == 0, time.monotonic() - started, result.stderr.strip()


def master_rss_kib(config: Path, settle_seconds: float = 1.0) -> int:
    """Start nginx on the configuration (loopback ports only), read its master's resident memory,
    and stop it again."""
    subprocess.run([NGINX, "-c", str(config)], check=True, capture_output=True, text=True)
    pid_file = config.parent / "nginx.pid"
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle_seconds)
        status = Path(f"/proc/{pid_file.read_text().strip()}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)


def measure(count: int, strategy: str, directory: Path, with_memory: bool = True,
            nginx_t_runs: int = 1) -> dict[str, Any]:
    """Render one deployment and measure it; nginx_t_seconds is the median of nginx_t_runs runs
    of `nginx -t` (one run is at the mercy of whatever else the machine does at that moment)."""
    config, render_seconds = render(directory, count, strategy)
    local = for_this_machine(config)
    test_seconds = []
    for _ in range(nginx_t_runs):
        passed, seconds, said = nginx_test(local)
        if not passed:
            raise RuntimeError(f"nginx -t failed for {count} backends ({strategy}): {said}")
        test_seconds.append(round(seconds, 3))
    text = config.read_text()
    return {"backends": count, "strategy": strategy, "lines": text.count("\n"), "bytes": len(text.encode()),
            "render_seconds": round(render_seconds, 2), "nginx_t_seconds": statistics.median(test_seconds),
            "nginx_t_runs_seconds": test_seconds,
            "master_rss_kib": master_rss_kib(local) if with_memory else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=100)
    parser.add_argument("--strategy", default="cookie")
    parser.add_argument("--keep", type=Path, help="render into this directory and keep it")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stickylab-nginx-") as scratch:
        directory = arguments.keep or Path(scratch)
        print(json.dumps(measure(arguments.backends, arguments.strategy, directory), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

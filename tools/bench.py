#!/usr/bin/env python3
"""Benchmarks: what stickiness costs per request, what a deployment costs, how both grow.

    make bench                                   (the container lab; loopback and lab traffic only)
    .venv/bin/python tools/bench.py --only-config-growth --output-dir /tmp/bench   (no lab needed)

1. Request path: wrk (Debian's, installed in lb1) against the lb on lb1's loopback for every
   strategy, and against the backends directly (one wrk per instance, the same total
   concurrency); `/` with returning clients' cookies (the same three pinned clients for every
   strategy) and `/health`; cookie also with new clients (no cookie). Interleaved rounds;
   medians of requests/s and of p50/p99.
2. Backend settings: round_robin and direct under each candidate gunicorn worker class,
   workers x threads and nginx upstream keepalive.
3. Growth: cold converge, no-op converge and throughput with 1 and 6 app hosts (3 is step 5).
4. Config growth: the nginx_lb role's nginx.conf for 10, 100 and 1000 made-up backends
   (tools/nginx_config.py, on this machine): lines, bytes, render and `nginx -t` seconds,
   nginx master's memory.
5. Deployment: site.yml on fresh lab hosts (cold), no-op re-runs as shipped, with Ansible's
   default remote_tmp and with Mitogen (interleaved), one without pipelining, a strategy switch
   and back. Leaves the default 3-host cookie lab up.
6. Side by side (with --baseline REV only): no-op site.yml of an earlier commit, on its own lab
   (`make lab` in a worktree of it), and of this checkout on a lab of the same Debian release,
   one lab at a time: wall time and the whole machine's busy CPU.

Writes <output-dir>/benchmarks.json (every sample) and benchmarks.md (what was run, tables,
medians, ratios, targets), for what this run measured and nothing else.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import yaml  # PyYAML, installed with Ansible in the project's venv

import nginx_config  # tools/nginx_config.py
import sticky_probe  # tools/sticky_probe.py

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOOLS_DIR = PROJECT_DIR / "tools"
LB = "stickylab-lab-lb1"
APPS = [f"stickylab-lab-app{n}" for n in (1, 2, 3)]
LAB_SCALE = len(APPS)
STRATEGIES = ["round_robin", "least_conn", "ip_hash", "consistent_hash", "cookie"]
ANSIBLE_BIN = Path(sys.executable).parent
LAB_INVENTORY = str(PROJECT_DIR / "inventories" / "lab")
# nginx on lb1's loopback, as wrk in lb1 reaches it. The port is spelled out: the minimal lab
# image has no /etc/services for wrk to look "http" up in.
LB_URL = "http://127.0.0.1:80"
NOOP_RUNS = 3
# ansible.cfg sets remote_tmp = $HOME/.ansible/tmp; this is Ansible's default, which costs an
# `echo ~` round trip before each file a copy or template task checks.
DEFAULT_REMOTE_TMP = {"ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp"}
CONFIG_GROWTH_BACKENDS = [10, 100, 1000]
CONFIG_GROWTH_STRATEGIES = ["cookie", "round_robin"]
NGINX_T_RUNS = 3
MB = 1_000_000  # the targets' megabyte, in bytes

# Each wrk request carries one of the pinned clients' cookies, in turn.
WRK_COOKIES_LUA = """
local cookies = {}
local n = 0
function init(args)
  for _, cookie in ipairs(args) do table.insert(cookies, cookie) end
end
function request()
  n = n + 1
  local headers = {["Accept"] = "application/json"}
  if #cookies > 0 then headers["Cookie"] = cookies[(n % #cookies) + 1] end
  return wrk.format("GET", nil, headers)
end
"""


def stage(message: str) -> None:
    print(f"==> {time.strftime('%H:%M:%S')} {message}", flush=True)


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def docker_exec(container: str, *command: str) -> str:
    return run(["docker", "exec", container, *command]).stdout


# --- Ansible runs -------------------------------------------------------------------------------

class PlaybookRun(NamedTuple):
    seconds: float
    changed: int  # sum of changed= over the recap
    host_tasks: int  # sum of ok= and skipped=: every task each host went through
    busy_cpu_seconds: float = 0.0  # the whole machine's, lab containers included (busy_cpu_seconds())
    hosts: int = 0  # lines in the recap


class PlaybookFailed(Exception):
    """An ansible-playbook run that did not succeed; the message ends with its output's tail."""


def recap_totals(output: str) -> tuple[int, int]:
    """(changed, host tasks) summed over the PLAY RECAP lines of ansible-playbook's output."""
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)", output)
    return sum(int(c) for _, c, _ in recap), sum(int(ok) + int(skipped) for ok, _, skipped in recap)


def ansible_environment(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_NOCOLOR": "1", **(extra or {})}


def busy_cpu_seconds(proc_stat: str | None = None) -> float:
    """Seconds of CPU this machine has spent busy since boot, on every core: /proc/stat's first
    line, user + nice + system + irq + softirq + steal (a VM's steal: a core wanted and not given)."""
    first_line = (proc_stat if proc_stat is not None else Path("/proc/stat").read_text()).split("\n", 1)[0]
    ticks = [int(value) for value in first_line.split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed_playbook(*arguments: str, environment: dict[str, str] | None = None,
                   inventories: tuple[str, ...] | None = None, checkout: Path = PROJECT_DIR) -> PlaybookRun:
    """site.yml on the lab, run from a checkout with its own venv and lab inventory: its wall
    time, recap and CPU. A run that went through no host at all is a failure too."""
    inventories = inventories or (str(checkout / "inventories" / "lab"),)
    inventory_options = [option for inventory in inventories for option in ("-i", inventory)]
    playbook = ANSIBLE_BIN / "ansible-playbook" if checkout == PROJECT_DIR else checkout / ".venv/bin/ansible-playbook"
    cpu_before, started = busy_cpu_seconds(), time.monotonic()
    result = subprocess.run([str(playbook), *inventory_options, "site.yml", *arguments],
                            cwd=checkout, capture_output=True, text=True, env=ansible_environment(environment))
    seconds, cpu = time.monotonic() - started, busy_cpu_seconds() - cpu_before
    changed, host_tasks = recap_totals(result.stdout)
    if result.returncode != 0 or host_tasks == 0:
        raise PlaybookFailed(f"site.yml {' '.join(arguments)} failed (rc {result.returncode}, {host_tasks} host-tasks):\n"
                             f"{result.stdout[-3000:]}{result.stderr[-1000:]}")
    hosts = len(re.findall(r"^\S+\s+: ok=", result.stdout, re.MULTILINE))
    return PlaybookRun(round(seconds, 1), changed, host_tasks, round(cpu, 1), hosts)


def noop_summary(runs: list[PlaybookRun]) -> dict[str, Any]:
    """What the report shows of a set of no-op runs of one configuration."""
    seconds = [run.seconds for run in runs]
    # Rounded: the median of an even count is a mean, and 12.2 and 12.6 make 12.399999999999999.
    return {"runs_seconds": seconds, "median_seconds": round(statistics.median(seconds), 2) if seconds else None,
            "changed": sum(run.changed for run in runs), "host_tasks_per_run": [run.host_tasks for run in runs]}


def module_parent_process(environment: dict[str, str] | None = None,
                          inventories: tuple[str, ...] = (LAB_INVENTORY,)) -> str:
    """The command line of the process a module runs under on lb1: `/usr/bin/python3` when each
    task starts its own Python, `python3(mitogen:...)` when Mitogen's interpreter runs it."""
    inventory_options = [option for inventory in inventories for option in ("-i", inventory)]
    result = subprocess.run([str(ANSIBLE_BIN / "ansible"), *inventory_options, "lb1", "--one-line",
                             "-m", "ansible.builtin.shell", "-a", r"tr '\0' ' ' < /proc/$PPID/cmdline"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, env=ansible_environment(environment))
    return parse_module_parent(result.stdout) or f"(ad-hoc run failed, rc {result.returncode}: " \
        f"{(result.stdout + result.stderr).strip()[-300:]})"


def parse_module_parent(one_line_output: str) -> str | None:
    """The stdout of `ansible --one-line ... -m shell`: `lb1 | CHANGED | rc=0 | (stdout) <text>`."""
    match = re.search(r"\| rc=0 \| \(stdout\) (.*)$", one_line_output, re.MULTILINE)
    return match.group(1).strip() if match else None


def lab_down() -> None:
    subprocess.run([sys.executable, str(TOOLS_DIR / "labctl.py"), "down"], check=True, capture_output=True)


def lab_up_cold(scale: int, strategy: str = "cookie", release: str | None = None) -> float:
    """Seconds for `labctl up` on fresh hosts: containers started, systemd up, cold site.yml."""
    lab_down()
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(TOOLS_DIR / "labctl.py"), "up", "--strategy", strategy,
                             "--scale", str(scale), *(["--release", release] if release else [])],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"labctl up --scale {scale} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return round(time.monotonic() - started, 1)


def switch(strategy: str) -> float:
    """Only nginx changes: the lb play on the lb hosts (the preflight play still checks everything)."""
    return timed_playbook("--tags", "lb", "--limit", "lb", "-e", f"nginx_lb_strategy={strategy}").seconds


# --- Mitogen, the documented opt-in (docs/operations.md) ----------------------------------------

def mitogen_strategy_dir() -> Path | None:
    """ansible_mitogen/plugins/strategy of the venv's Mitogen (`make bench` installs it), or None."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "plugins" / "strategy"


def mitogen_environment(strategy_dir: Path) -> dict[str, str]:
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy_dir), "ANSIBLE_STRATEGY": "mitogen_linear"}


def write_connection_overlay(directory: Path) -> tuple[str, ...]:
    """An inventory that adds no hosts, only `ansible_connection: docker` for group all, given
    after the lab's: Mitogen takes over connections by their short names only, and the lab names
    `community.docker.docker`. A second source rather than a copy of inventories/lab keeps
    inventory_dir, and so the lab's generated secrets, where they are. Returns the -i sources."""
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "group_vars" / "all.yml").write_text("---\nansible_connection: docker\n")
    (directory / "hosts.yml").write_text("---\n# No hosts: only group_vars/all.yml beside it.\nall: {}\n")
    return (LAB_INVENTORY, str(directory))


# --- wrk ------------------------------------------------------------------------------------------

def parse_wrk(output: str) -> dict[str, Any]:
    def latency_ms(label: str) -> float | None:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return None
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 3)

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_second": float(rps.group(1)) if rps else 0.0,
        "requests": int(requests.group(1)) if requests else 0,
        "p50_ms": latency_ms("50"),
        "p99_ms": latency_ms("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    }


def wrk(urls: list[str], connections: int, seconds: int, cookies: list[str]) -> dict[str, Any]:
    """One wrk per URL, all at once, splitting the connections; summed rates, worst latencies."""
    per_url = max(1, connections // len(urls))
    processes = [subprocess.Popen(
        ["docker", "exec", LB, "wrk", "-t1", f"-c{per_url}", f"-d{seconds}s", "--latency",
         "-s", "/root/bench-cookies.lua", url, "--", *cookies],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for url in urls]
    outputs = [process.communicate(timeout=seconds + 30)[0] for process in processes]
    for url, output in zip(urls, outputs):
        if "Requests/sec:" not in output:
            sys.exit(f"wrk against {url} failed:\n{output}")
    results = [parse_wrk(output) for output in outputs]
    return {
        "requests_per_second": round(sum(r["requests_per_second"] for r in results), 1),
        "requests": sum(r["requests"] for r in results),
        "p50_ms": max((r["p50_ms"] or 0) for r in results),
        "p99_ms": max((r["p99_ms"] or 0) for r in results),
        "errors": sum(r["non_2xx"] + r["socket_errors"] for r in results),
    }


# Read inside lb1: TCP connections this host opened (/proc/net/snmp ActiveOpens: wrk's own and
# nginx's to the backends) and the CPU time nginx's workers used, in clock ticks.
LB_COUNTERS_PY = """
import json, os
tcp = [line.split() for line in open('/proc/net/snmp') if line.startswith('Tcp:')]
opens = int(tcp[1][tcp[0].index('ActiveOpens')])
ticks = 0
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if b'nginx: worker' in open(f'/proc/{pid}/cmdline', 'rb').read():
            fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    except OSError:
        pass
print(json.dumps({'active_opens': opens, 'nginx_ticks': ticks, 'ticks_per_second': os.sysconf('SC_CLK_TCK')}))
"""


def lb_counters() -> dict[str, int]:
    return json.loads(docker_exec(LB, "python3", "-c", LB_COUNTERS_PY))


def nginx_cost(before: dict[str, int], after: dict[str, int], requests: int, client_connections: int) -> dict[str, float]:
    """nginx's CPU time per request (µs) and new upstream connections per 1000 requests."""
    if requests <= 0:
        return {}
    cpu_seconds = (after["nginx_ticks"] - before["nginx_ticks"]) / after["ticks_per_second"]
    upstream_opens = after["active_opens"] - before["active_opens"] - client_connections
    return {"nginx_us_per_request": round(1e6 * cpu_seconds / requests, 1),
            "upstream_connects_per_1000": round(1000 * max(upstream_opens, 0) / requests, 1)}


def pinned_client_cookies() -> list[str]:
    """Cookie headers of three returning clients, one pinned to each backend (cookie strategy)."""
    state = "/root/bench-clients.json"
    docker_exec(LB, "rm", "-f", state)
    # Each nginx worker balances new clients on its own, so a few more than three are needed.
    report = json.loads(docker_exec(LB, "python3", "/root/sticky_probe.py", "http://127.0.0.1/",
                                    "--clients", "12", "--requests", "2", "--state", state))
    clients = json.loads(docker_exec(LB, "cat", state))["clients"]
    first_client_of: dict[str, dict[str, str]] = {}
    for client, seen in zip(clients, report["per_client"]):
        if seen["distinct_servers"] == 1:
            first_client_of.setdefault(seen["servers"][0], client["cookies"])
    if sorted(first_client_of) != ["server-1", "server-2", "server-3"]:
        sys.exit(f"expected clients pinned to three servers, got {sorted(first_client_of)}")
    return ["; ".join(f"{k}={v}" for k, v in cookies.items())
            for _, cookies in sorted(first_client_of.items())]


def install_load_tools() -> None:
    """wrk, its cookie script and the probe in lb1 (again after every rebuild of the lab)."""
    stage("installing wrk in lb1 and copying the probe and its client library")
    run(["docker", "exec", "-e", "DEBIAN_FRONTEND=noninteractive", LB, "sh", "-c",
         "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)"])
    for name in sticky_probe.FILES:
        run(["docker", "cp", str(TOOLS_DIR / name), f"{LB}:/root/{name}"])
    lua = PROJECT_DIR / ".bench-cookies.lua"
    lua.write_text(WRK_COOKIES_LUA)
    run(["docker", "cp", str(lua), f"{LB}:/root/bench-cookies.lua"])
    lua.unlink()


class Sampler:
    """wrk samples by case name, printed as they come; medians over the rounds."""

    def __init__(self, connections: int, seconds: int) -> None:
        self.connections, self.seconds = connections, seconds
        self.samples: dict[str, list[dict[str, Any]]] = {}

    def sample(self, name: str, urls: list[str], client_cookies: list[str]) -> None:
        through_lb = all(url.startswith(LB_URL) for url in urls)
        before = lb_counters() if through_lb else None
        result = wrk(urls, self.connections, self.seconds, client_cookies)
        if before is not None:
            result.update(nginx_cost(before, lb_counters(), result["requests"], self.connections))
        self.samples.setdefault(name, []).append(result)
        cost = (f"  nginx {result['nginx_us_per_request']} us/req, "
                f"{result['upstream_connects_per_1000']} upstream connects/1000 req"
                if "nginx_us_per_request" in result else "")
        print(f"    {name:<48} {result['requests_per_second']:>9.1f} req/s  "
              f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  errors {result['errors']}{cost}",
              flush=True)

    def lb_and_direct(self, label: str, apps: list[str], cookies: list[str]) -> None:
        """round_robin through nginx, then every instance directly, on `/` with the same cookies."""
        self.sample(f"{label}: round_robin /", [f"{LB_URL}/"], cookies)
        self.sample(f"{label}: direct /", [f"http://{app}:5001/" for app in apps], cookies)

    def medians(self) -> dict[str, dict[str, Any]]:
        return {name: {
            "requests_per_second": round(statistics.median(r["requests_per_second"] for r in runs), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
            "errors": sum(r["errors"] for r in runs),
            **{key: round(statistics.median(r[key] for r in runs), 1)
               for key in ("nginx_us_per_request", "upstream_connects_per_1000") if all(key in r for r in runs)},
        } for name, runs in self.samples.items()}

    def report(self, **extra: Any) -> dict[str, Any]:
        return {"connections": self.connections, "seconds": self.seconds, **extra,
                "samples": self.samples, "medians": self.medians()}


# --- the sections -----------------------------------------------------------------------------

def request_path(cookies: list[str], rounds: int, seconds: int, connections: int) -> dict[str, Any]:
    sampler = Sampler(connections, seconds)
    direct = [f"http://{app}:5001" for app in APPS]
    current_strategy = "cookie"  # pinned_client_cookies() needed it
    for round_number in range(1, rounds + 1):
        stage(f"request path, round {round_number} of {rounds}: wrk -c{connections} -d{seconds}s per case")
        sampler.sample("direct /", [f"{u}/" for u in direct], cookies)
        sampler.sample("direct /health", [f"{u}/health" for u in direct], [])
        # Every other round backwards: a round starts with the strategy the last one ended with.
        for strategy in STRATEGIES[::-1] if round_number % 2 else STRATEGIES:
            if strategy != current_strategy:
                switch(strategy)
                current_strategy = strategy
            sampler.sample(f"{strategy} /", [f"{LB_URL}/"], cookies)
            sampler.sample(f"{strategy} /health", [f"{LB_URL}/health"], [])
            if strategy == "cookie":
                sampler.sample("cookie / (new clients)", [f"{LB_URL}/"], [])
    order = ["direct", *STRATEGIES]
    sampler.samples = dict(sorted(sampler.samples.items(), key=lambda item: order.index(item[0].split(" ")[0])))
    return sampler.report(rounds=rounds, settings=setting_label(shipped_settings()))


# The settings the backend comparison varies. Their shipped values are read from the roles'
# defaults (one source of truth); the lab runs them already, so they are measured first.
SETTINGS_BY_ROLE = {
    "flask_app": ["flask_app_worker_class", "flask_app_workers", "flask_app_threads"],
    "nginx_lb": ["nginx_lb_upstream_keepalive"],
}
# The other candidates. A candidate that changes gunicorn is deployed with the whole site.yml
# (instances restarted one at a time); one that only changes nginx, with the lb play alone.
OTHER_CANDIDATES: list[dict[str, Any]] = [
    {"flask_app_worker_class": "gthread", "flask_app_workers": 2, "flask_app_threads": 4,
     "nginx_lb_upstream_keepalive": 16},
    {"flask_app_worker_class": "gthread", "flask_app_workers": 2, "flask_app_threads": 4,
     "nginx_lb_upstream_keepalive": 0},
    {"flask_app_worker_class": "sync", "flask_app_workers": 2, "flask_app_threads": 1,
     "nginx_lb_upstream_keepalive": 0},
    {"flask_app_worker_class": "gthread", "flask_app_workers": 1, "flask_app_threads": 8,
     "nginx_lb_upstream_keepalive": 64},
]


def role_defaults(role: str) -> Path:
    return PROJECT_DIR / "roles" / role / "defaults" / "main.yml"


def shipped_settings() -> dict[str, Any]:
    """The compared settings as the roles ship them (defaults/main.yml)."""
    settings: dict[str, Any] = {}
    for role, names in SETTINGS_BY_ROLE.items():
        defaults = yaml.safe_load(role_defaults(role).read_text())
        settings.update({name: defaults[name] for name in names})
    return settings


def setting_label(settings: dict[str, Any]) -> str:
    """`gthread 2x4, keepalive 64` or `sync x2, no upstream keepalive`."""
    workers = settings["flask_app_workers"]
    shape = (f"{workers}x{settings['flask_app_threads']}" if settings["flask_app_worker_class"] == "gthread"
             else f"x{workers}")
    keepalive = settings["nginx_lb_upstream_keepalive"]
    return (f"{settings['flask_app_worker_class']} {shape}, "
            + (f"keepalive {keepalive}" if keepalive else "no upstream keepalive"))


def backend_candidates() -> list[dict[str, Any]]:
    """The shipped settings first, then every other candidate that differs from them."""
    shipped = shipped_settings()
    candidates = [shipped] + [c for c in OTHER_CANDIDATES if c != shipped]
    return [{"label": setting_label(c) + (" (shipped)" if c is shipped else ""), "vars": c} for c in candidates]


def backend_settings(cookies: list[str], rounds: int, seconds: int, connections: int) -> dict[str, Any]:
    sampler = Sampler(connections, seconds)
    deploy_seconds = {}
    candidates = backend_candidates()
    app_settings = {key: value for key, value in candidates[0]["vars"].items() if key.startswith("flask_app_")}
    for setting in candidates:
        stage(f"backend settings: {setting['label']}")
        wanted = {key: value for key, value in setting["vars"].items() if key.startswith("flask_app_")}
        scope = () if wanted != app_settings else ("--tags", "lb", "--limit", "lb")
        app_settings = wanted
        deploy_seconds[setting["label"]] = timed_playbook(
            *scope, "-e", "nginx_lb_strategy=round_robin", "-e", json.dumps(setting["vars"])).seconds
        for _ in range(rounds):
            sampler.lb_and_direct(setting["label"], APPS, cookies)
    # Three instances on two cores are not one instance with a host to itself: the last worker
    # shape still deployed and the shipped one again, each on app1 alone, the others idle.
    for setting in shapes_for_one_instance(candidates, last_deployed=candidates[-1]):
        stage(f"backend settings, one instance alone: {setting['label']}")
        if setting is not candidates[-1]:
            timed_playbook("-e", "nginx_lb_strategy=round_robin", "-e", json.dumps(setting["vars"]))
        for _ in range(rounds):
            sampler.sample(f"{setting['label']}: one instance alone /", [f"http://{APPS[0]}:5001/"], cookies)
    return sampler.report(rounds=rounds, settings=candidates, deploy_seconds=deploy_seconds)


def shapes_for_one_instance(candidates: list[dict[str, Any]], last_deployed: dict[str, Any]) -> list[dict[str, Any]]:
    """The deployed candidate first (no redeploy) and the shipped one, when their worker shapes differ."""
    def shape(candidate: dict[str, Any]) -> tuple:
        return tuple(sorted((k, v) for k, v in candidate["vars"].items() if k.startswith("flask_app_")))

    shipped = candidates[0]
    return [last_deployed, shipped] if shape(last_deployed) != shape(shipped) else [shipped]


def growth(cookies: list[str], scales: list[int], rounds: int, seconds: int, connections: int) -> dict[str, Any]:
    """Cold converge, no-op converge and round_robin/direct throughput with each number of app hosts."""
    sampler = Sampler(connections, seconds)
    results: dict[str, Any] = {}
    for scale in scales:
        stage(f"growth: {scale} app host(s), fresh lab hosts")
        cold = lab_up_cold(scale, strategy="round_robin")
        install_load_tools()
        noop = timed_playbook("-e", "nginx_lb_strategy=round_robin")
        apps = [f"stickylab-lab-app{n}" for n in range(1, scale + 1)]
        for _ in range(rounds):
            sampler.lb_and_direct(f"{scale} app hosts", apps, cookies)
        results[str(scale)] = {"cold_lab_up_seconds": cold, "noop_seconds": noop.seconds, "noop_changed": noop.changed}
    return {"scales": results, **sampler.report(rounds=rounds)}


def config_growth() -> dict[str, Any]:
    """tools/nginx_config.py's measure() for every size and strategy: one render each."""
    rows = []
    for strategy in CONFIG_GROWTH_STRATEGIES:
        for count in CONFIG_GROWTH_BACKENDS:
            stage(f"config growth: {strategy}, {count} backends (render, nginx -t x{NGINX_T_RUNS}, start for RSS)")
            with tempfile.TemporaryDirectory(prefix="stickylab-nginx-") as scratch:
                rows.append(nginx_config.measure(count, strategy, Path(scratch), nginx_t_runs=NGINX_T_RUNS))
    return {"nginx": host_nginx_version(), "nginx_t_runs": NGINX_T_RUNS, "rows": rows}


def host_nginx_version() -> str:
    said = subprocess.run([nginx_config.NGINX, "-v"], capture_output=True, text=True).stderr
    return said.strip().rsplit("/", 1)[-1]


def deployment(mitogen_dir: Path) -> dict[str, Any]:
    """Cold lab, no-op re-runs (as shipped, with Ansible's default remote_tmp and with Mitogen,
    interleaved; one without pipelining), a strategy switch and back."""
    results: dict[str, Any] = {}
    stage(f"deployment: {LAB_SCALE} app hosts, fresh lab hosts, cold site.yml")
    results["cold_lab_up_seconds"] = lab_up_cold(LAB_SCALE)
    mitogen = mitogen_environment(mitogen_dir)
    with tempfile.TemporaryDirectory(prefix="stickylab-mitogen-") as overlay:
        mitogen_inventories = write_connection_overlay(Path(overlay))
        stage("deployment: which process runs a module on lb1, as shipped and with Mitogen")
        shipped_parent = module_parent_process()
        mitogen_parent = module_parent_process(mitogen, mitogen_inventories)
        shipped_runs: list[PlaybookRun] = []
        mitogen_runs: list[PlaybookRun] = []
        default_tmp_runs: list[PlaybookRun] = []
        mitogen_failure = None
        for number in range(1, NOOP_RUNS + 1):
            stage(f"deployment: no-op site.yml {number} of {NOOP_RUNS}: as shipped, with Ansible's "
                  "default remote_tmp, with Mitogen")
            shipped_runs.append(timed_playbook())
            default_tmp_runs.append(timed_playbook(environment=DEFAULT_REMOTE_TMP))
            if mitogen_failure is None:
                try:
                    mitogen_runs.append(timed_playbook(environment=mitogen, inventories=mitogen_inventories))
                except PlaybookFailed as failure:
                    mitogen_failure = str(failure)
    results["noop_as_shipped"] = {**noop_summary(shipped_runs), "module_parent_process": shipped_parent}
    results["noop_mitogen"] = {**noop_summary(mitogen_runs), "module_parent_process": mitogen_parent,
                               "mitogen_version": importlib.metadata.version("mitogen"),
                               "environment": mitogen,
                               "failure": mitogen_failure}
    results["noop_default_remote_tmp"] = {**noop_summary(default_tmp_runs), "environment": DEFAULT_REMOTE_TMP}
    stage("deployment: no-op site.yml without pipelining")
    results["noop_without_pipelining"] = noop_summary([timed_playbook(environment={"ANSIBLE_PIPELINING": "False"})])
    stage("deployment: strategy switch (whole site.yml) and back (lb play only)")
    results["switch_to_ip_hash_seconds"] = timed_playbook("-e", "nginx_lb_strategy=ip_hash").seconds
    results["switch_back_lb_tag_seconds"] = switch("cookie")
    return results


# --- side by side with an earlier commit (--baseline) --------------------------------------------

class SideBySideFailed(Exception):
    """The earlier commit's lab or a no-op run of either side failed; the message says which."""


# The lab both sides are measured on; given on the earlier commit's make command line, so neither
# its Makefile's defaults nor this make's command-line variables (exported to recipes) decide it.
BASELINE_LAB = {"STRATEGY": "cookie", "SCALE": str(LAB_SCALE), "LBS": "1"}


def make_in(checkout: Path, target: str) -> None:
    """`make <target>` of another checkout, with its own Makefile, venv and lab tooling: no make
    variables of this one, and not this venv first on PATH."""
    own_venv = str(ANSIBLE_BIN)
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", *BASELINE_LAB)}
    environment["PATH"] = os.pathsep.join(p for p in environment.get("PATH", "").split(os.pathsep) if p != own_venv)
    result = subprocess.run(["make", "-C", str(checkout), target, *(f"{k}={v}" for k, v in BASELINE_LAB.items())],
                            capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SideBySideFailed(f"make -C {checkout} {target} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")


def lab_release() -> str:
    return docker_exec(LB, "sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME").strip()


def side_summary(runs: list[PlaybookRun]) -> dict[str, Any]:
    cpu = [run.busy_cpu_seconds for run in runs]
    return {**noop_summary(runs), "busy_cpu_seconds": cpu, "median_busy_cpu_seconds": round(statistics.median(cpu), 2)}


def side_run(side: str, **options: Any) -> PlaybookRun:
    """One no-op run of a side, which must be one: nothing changed, every lab host in the recap."""
    try:
        result = timed_playbook(**options)
    except PlaybookFailed as failure:
        raise SideBySideFailed(f"{side}: {failure}") from failure
    if result.changed or result.hosts != LAB_SCALE + 1:
        raise SideBySideFailed(f"{side}: not a no-op of the {LAB_SCALE + 1}-host lab "
                               f"(changed {result.changed}, {result.hosts} hosts in the recap)")
    return result


def side_by_side(baseline: str, baseline_environment: dict[str, str]) -> dict[str, Any]:
    """No-op site.yml of an earlier commit and of this checkout, each on a fresh lab of its own:
    the commit's `make lab` in a worktree of it, then this checkout's lab on the same Debian
    release. The labs share container names, so one at a time, in the order commit, checkout
    (twice the runs), commit: a drift of the machine's speed weighs on both sides alike. Every
    lab gets one warm-up run first, not counted."""
    runs: dict[str, list[PlaybookRun]] = {"baseline": [], "checkout": []}
    with tempfile.TemporaryDirectory(prefix="stickylab-baseline-") as parent:
        worktree = Path(parent) / "checkout"
        run(["git", "-C", str(PROJECT_DIR), "worktree", "add", "--detach", str(worktree), baseline])
        baseline_lab_up = False
        try:
            described = run(["git", "-C", str(worktree), "log", "-1", "--format=%h %s"]).stdout.strip()
            release = None
            for side, count in (("baseline", NOOP_RUNS), ("checkout", 2 * NOOP_RUNS), ("baseline", NOOP_RUNS)):
                if side == "baseline":
                    stage(f"side by side: `make lab` of {baseline} in its worktree, then {count} no-op runs")
                    lab_down()
                    baseline_lab_up = True
                    make_in(worktree, "lab")
                    release = lab_release()
                    options: dict[str, Any] = {"environment": baseline_environment, "checkout": worktree}
                else:
                    stage(f"side by side: this checkout's lab on {release}, then {count} no-op runs")
                    lab_up_cold(LAB_SCALE, release=release)
                    options = {}
                side_run(side, **options)  # warm-up
                runs[side] += [side_run(side, **options) for _ in range(count)]
                if side == "baseline":
                    make_in(worktree, "lab-down")
                    baseline_lab_up = False
        finally:
            if baseline_lab_up:  # a failure left it up: this checkout's lab comes back after
                subprocess.run(["make", "-C", str(worktree), "lab-down"], capture_output=True)
            subprocess.run(["git", "-C", str(PROJECT_DIR), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
            subprocess.run(["git", "-C", str(PROJECT_DIR), "worktree", "prune"], capture_output=True)
    checkout = run(["git", "-C", str(PROJECT_DIR), "log", "-1", "--format=%h %s"]).stdout.strip()
    return {"baseline": described, "baseline_environment": baseline_environment, "checkout": checkout,
            "release": release, "baseline_runs": side_summary(runs["baseline"]),
            "checkout_runs": side_summary(runs["checkout"])}


# --- ratios and targets -------------------------------------------------------------------------

def ratio(medians: dict[str, Any], a: str, b: str) -> float:
    return round(medians[a]["requests_per_second"] / medians[b]["requests_per_second"], 3)


def config_rows(growth_data: dict[str, Any], strategy: str) -> dict[int, dict[str, Any]]:
    """The config-growth rows of one strategy, by number of backends."""
    return {row["backends"]: row for row in growth_data["rows"] if row["strategy"] == strategy}


def lines_per_added_backend(rows: dict[int, dict[str, Any]]) -> dict[int, float]:
    """For each size after the smallest: lines added per backend since the size before it."""
    sizes = sorted(rows)
    return {larger: round((rows[larger]["lines"] - rows[smaller]["lines"]) / (larger - smaller), 3)
            for smaller, larger in zip(sizes, sizes[1:])}


def linearity(rows: dict[int, dict[str, Any]]) -> float:
    """Lines per added backend over the last step ÷ over the first: 1.0 when lines grow linearly."""
    steps = lines_per_added_backend(rows)
    first, last = steps[min(steps)], steps[max(steps)]
    return round(last / first, 3)


def target(text: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": text, "measured": measured, "met": met}


def side_by_side_ratios(sides: dict[str, Any]) -> tuple[float, float]:
    """(wall, busy CPU): this checkout's median ÷ the earlier commit's."""
    checkout, baseline = sides["checkout_runs"], sides["baseline_runs"]
    return (round(checkout["median_seconds"] / baseline["median_seconds"], 3),
            round(checkout["median_busy_cpu_seconds"] / baseline["median_busy_cpu_seconds"], 3))


def compute_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target whose figures this run measured."""
    targets = []
    path = data.get("request_path")
    if path:
        cookie_vs_rr = ratio(path["medians"], "cookie /", "round_robin /")
        rr_vs_direct = ratio(path["medians"], "round_robin /", "direct /")
        targets += [
            target("cookie ≥ 0.97 × round_robin (`/`, same cookies)", f"{cookie_vs_rr:.3f}", cookie_vs_rr >= 0.97),
            target("round_robin ≥ 0.85 × direct (`/`)", f"{rr_vs_direct:.3f}", rr_vs_direct >= 0.85),
        ]
    deploy = data.get("deployment")
    if deploy:
        shipped = deploy["noop_as_shipped"]
        host_tasks = max(shipped["host_tasks_per_run"])
        targets += [
            target(f"no-op `site.yml` changed = 0 (as shipped, {len(shipped['runs_seconds'])} runs)",
                   str(shipped["changed"]), shipped["changed"] == 0),
            target(f"no-op host-tasks ≤ 60 ({LAB_SCALE + 1}-host lab, as shipped)", str(host_tasks), host_tasks <= 60),
            target("cold lab ≤ 90 s", f"{deploy['cold_lab_up_seconds']} s", deploy["cold_lab_up_seconds"] <= 90),
        ]
    sides = data.get("side_by_side")
    if sides and not sides.get("failure"):
        wall, _ = side_by_side_ratios(sides)
        commit = sides["baseline"].split()[0]
        targets.append(target(f"no-op `site.yml` ≤ 0.5 × `{commit}`'s (side by side, medians of "
                              f"{len(sides['checkout_runs']['runs_seconds'])} and "
                              f"{len(sides['baseline_runs']['runs_seconds'])})", f"{wall:.3f}", wall <= 0.5))
    config = data.get("config_growth")
    if config:
        cookie = config_rows(config, "cookie")
        largest = cookie[max(cookie)]
        n = largest["backends"]
        rss_bytes = largest["master_rss_kib"] * 1024
        render_and_validate = round(largest["render_seconds"] + largest["nginx_t_seconds"], 2)
        straightness = linearity(cookie)
        steps = lines_per_added_backend(cookie)
        sizes = sorted(cookie)
        targets += [
            target(f"cookie, {n} backends: nginx.conf ≤ 1 MB", f"{largest['bytes']} bytes", largest["bytes"] <= MB),
            target(f"cookie, {n} backends: nginx -t ≤ 0.3 s (median of {config['nginx_t_runs']})",
                   f"{largest['nginx_t_seconds']:.3f} s", largest["nginx_t_seconds"] <= 0.3),
            target(f"cookie, {n} backends: nginx master RSS ≤ 64 MB", f"{rss_bytes / MB:.1f} MB", rss_bytes <= 64 * MB),
            target(f"cookie, {n} backends: render + nginx -t ≤ 20 s", f"{render_and_validate} s",
                   render_and_validate <= 20),
            target(f"cookie: nginx.conf lines linear in backends (lines per added backend {sizes[-2]}→{sizes[-1]} "
                   f"÷ {sizes[0]}→{sizes[1]} within 1 ± 0.10)",
                   f"{straightness:.3f} ({' → '.join(f'{steps[size]:.2f}' for size in sorted(steps))})",
                   abs(straightness - 1) <= 0.10),
        ]
    return targets


# --- the report ---------------------------------------------------------------------------------

def median_table(medians: dict[str, Any], columns: list[tuple[str, Any]]) -> list[str]:
    """A markdown table of wrk medians with extra ratio columns, each a (title, name → ratio) pair.

    Rows through nginx also show nginx's CPU time per request and its new upstream connections
    per 1000 requests, both counted inside lb1."""
    def cost(m: dict[str, Any], key: str) -> str:
        return f"{m[key]:.1f}" if key in m else ""

    lines = ["| case | req/s | p50 ms | p99 ms | errors | nginx µs/req | upstream connects /1000 req | "
             + " | ".join(t for t, _ in columns) + " |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(columns)]
    for name, m in medians.items():
        cells = [f"{column(name):.3f}" if column(name) is not None else "" for _, column in columns]
        lines.append(f"| {name} | {m['requests_per_second']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                     f"{m['errors']} | {cost(m, 'nginx_us_per_request')} | {cost(m, 'upstream_connects_per_1000')} | "
                     + " | ".join(cells) + " |")
    return lines


def lb_over_direct(medians: dict[str, Any]) -> Any:
    """For `<label>: round_robin /` rows, that row ÷ its `<label>: direct /` row."""
    def column(name: str) -> float | None:
        label, _, case = name.partition(": ")
        return ratio(medians, name, f"{label}: direct /") if case == "round_robin /" else None
    return column


def request_path_section(path: dict[str, Any]) -> list[str]:
    medians = path["medians"]

    def versus(base: str) -> Any:
        def column(name: str) -> float:
            endpoint = "/health" if name.endswith("/health") else "/"
            return ratio(medians, name, f"{base} {endpoint}")
        return column

    return [
        "## Request path",
        "",
        f"wrk in `lb1` against nginx on `lb1`'s loopback (`-c{path['connections']} -d{path['seconds']}s`, "
        f"{path['rounds']} interleaved rounds, medians), three app hosts with one gunicorn instance each, "
        f"the roles' shipped settings ({path.get('settings', '')}); each strategy deployed with "
        "`site.yml --tags lb --limit lb -e nginx_lb_strategy=<strategy>`. `/` carries the cookies of three "
        "returning clients (one pinned to each backend) for every strategy; `cookie / (new clients)` "
        "carries none. `direct`: one wrk per instance from `lb1`, the same total connections, no nginx.",
        "",
        *median_table(medians, [("÷ round_robin", versus("round_robin")), ("÷ direct", versus("direct"))]),
    ]


def targets_section(targets: list[dict[str, Any]]) -> list[str]:
    return [
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *[f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in targets],
    ]


def backend_settings_section(settings: dict[str, Any]) -> list[str]:
    return [
        "## Backend settings",
        "",
        "Each candidate deployed with `site.yml -e nginx_lb_strategy=round_robin -e '<vars>'` (the whole "
        "playbook when gunicorn's settings change; `--tags lb --limit lb` when only nginx's do), then "
        f"{settings['rounds']} rounds of round_robin through nginx and direct, `/` with the same cookies "
        f"(`-c{settings['connections']} -d{settings['seconds']}s`). `one instance alone`: wrk against app1 "
        "only.",
        "",
        *median_table(settings["medians"], [("lb ÷ direct", lb_over_direct(settings["medians"]))]),
    ]


def growth_section(grown: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """Rows per number of app hosts; the default lab's row from the other sections of this run."""
    rows = dict(grown["scales"])
    deploy, path = data.get("deployment"), data.get("request_path")
    if deploy:
        rows[str(LAB_SCALE)] = {"cold_lab_up_seconds": deploy["cold_lab_up_seconds"],
                                "noop_seconds": deploy["noop_as_shipped"]["median_seconds"]}
    lines = [
        "## Growth",
        "",
        "Fresh lab hosts for each size (`tools/labctl.py up --strategy round_robin --scale N`), a no-op "
        f"`site.yml -e nginx_lb_strategy=round_robin`, then {grown['rounds']} rounds of round_robin and "
        f"direct on `/`. The {LAB_SCALE}-host row: cold lab and no-op median from the deployment section, "
        "request rates from the request-path table.",
        "",
        "| app hosts | cold lab s | no-op `site.yml` s | round_robin req/s | direct req/s | round_robin ÷ direct |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for scale in sorted(rows, key=int):
        medians = grown["medians"]
        rr = medians.get(f"{scale} app hosts: round_robin /")
        direct = medians.get(f"{scale} app hosts: direct /")
        if int(scale) == LAB_SCALE and path:
            rr, direct = path["medians"]["round_robin /"], path["medians"]["direct /"]
        rates = (f"{rr['requests_per_second']:.0f} | {direct['requests_per_second']:.0f} | "
                 f"{rr['requests_per_second'] / direct['requests_per_second']:.3f}") if rr and direct else " | | "
        lines.append(f"| {scale} | {rows[scale]['cold_lab_up_seconds']} | {rows[scale]['noop_seconds']} | {rates} |")
    return lines


def config_growth_section(config: dict[str, Any]) -> list[str]:
    lines = [
        "## Config growth",
        "",
        "`tools/nginx_config.py` `measure()` on this machine (nginx "
        f"{config['nginx']}), once per row: N made-up backends, the nginx_lb role's templates with its "
        "defaults rendered by one `ansible-playbook tests/playbooks/render-nginx-conf.yml` run (render s: "
        f"that whole run), `nginx -t` {config['nginx_t_runs']} times (median), then nginx started on "
        "loopback ports for its master's resident memory. Lines per added backend: since the size "
        "before it.",
        "",
        "| strategy | backends | lines | bytes | lines per added backend | render s | nginx -t s | "
        "render + nginx -t s | master RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for strategy in dict.fromkeys(row["strategy"] for row in config["rows"]):
        rows = config_rows(config, strategy)
        steps = lines_per_added_backend(rows)
        for count in sorted(rows):
            row = rows[count]
            step = f"{steps[count]:.2f}" if count in steps else ""
            rss = f"{row['master_rss_kib'] * 1024 / MB:.1f}" if row.get("master_rss_kib") is not None else ""
            lines.append(f"| {strategy} | {count} | {row['lines']} | {row['bytes']} | {step} | "
                         f"{row['render_seconds']:.2f} | {row['nginx_t_seconds']:.3f} | "
                         f"{row['render_seconds'] + row['nginx_t_seconds']:.2f} | {rss} |")
    return lines


def noop_row(title: str, settings: str, noop: dict[str, Any], baseline: float | None) -> str:
    """One no-op configuration: its runs, median, ÷ the as-shipped median, changed, host-tasks."""
    parent = noop.get("module_parent_process")
    parent_cell = f"`{parent[:60]}`" if parent else ""
    if not noop["runs_seconds"]:
        return f"| {title} | {settings} | failed: see `failure` in benchmarks.json | | | | | {parent_cell} |"
    median = round(noop["median_seconds"], 2)
    versus = f"{median / baseline:.3f}" if baseline else ""
    failed = " (then a run failed: see benchmarks.json)" if noop.get("failure") else ""
    return (f"| {title} | {settings} | {', '.join(str(s) for s in noop['runs_seconds'])}{failed} | {median} | "
            f"{versus} | {noop['changed']} | {', '.join(str(n) for n in dict.fromkeys(noop['host_tasks_per_run']))} | "
            f"{parent_cell} |")


def deployment_section(deploy: dict[str, Any]) -> list[str]:
    shipped, mitogen = deploy["noop_as_shipped"], deploy["noop_mitogen"]
    baseline = shipped["median_seconds"]
    return [
        f"## Deployment ({LAB_SCALE + 1}-host container lab)",
        "",
        f"No-op `site.yml` on the running cookie lab: as shipped, with Ansible's default remote_tmp and "
        f"with Mitogen one after the other, "
        f"{NOOP_RUNS} times; then one run without pipelining. Changed and host-tasks (ok + skipped) "
        "summed over the hosts' recap lines. Module's parent process: the command line of the process "
        "that ran `ansible lb1 -m ansible.builtin.shell` with the same settings.",
        "",
        "| no-op `site.yml` | settings | runs s | median s | ÷ as shipped | changed | host-tasks | "
        "module's parent process on lb1 |",
        "|---|---|---|---:|---:|---:|---:|---|",
        noop_row("as shipped", "stock Ansible (`linear`), pipelining on (ansible.cfg), "
                 "`ansible_connection: community.docker.docker`", shipped, baseline),
        noop_row(f"Mitogen {mitogen['mitogen_version']}",
                 "`ANSIBLE_STRATEGY=mitogen_linear`, `ANSIBLE_STRATEGY_PLUGINS=<ansible_mitogen>/plugins/strategy`, "
                 "`-i inventories/lab -i <overlay>` whose group_vars/all.yml sets `ansible_connection: docker`",
                 mitogen, baseline),
        noop_row("Ansible's default remote_tmp", "as shipped, but `ANSIBLE_REMOTE_TEMP=~/.ansible/tmp`",
                 deploy["noop_default_remote_tmp"], baseline),
        noop_row("without pipelining", "stock Ansible, `ANSIBLE_PIPELINING=False`",
                 deploy["noop_without_pipelining"], baseline),
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| cold lab: `tools/labctl.py down`, then `tools/labctl.py up --strategy cookie --scale {LAB_SCALE}` "
        f"(containers, systemd, `site.yml`) | {deploy['cold_lab_up_seconds']} |",
        f"| `site.yml -e nginx_lb_strategy=ip_hash` on the cookie lab | {deploy['switch_to_ip_hash_seconds']} |",
        f"| `site.yml --tags lb --limit lb -e nginx_lb_strategy=cookie` (back) | {deploy['switch_back_lb_tag_seconds']} |",
    ]


def side_by_side_section(sides: dict[str, Any]) -> list[str]:
    commit = sides["baseline"].split()[0]
    if sides.get("failure"):
        return [f"## No-op side by side with `{commit}`", "", "Failed: see `side_by_side.failure` in benchmarks.json."]
    wall, cpu = side_by_side_ratios(sides)
    environment = " ".join(f"`{k}={v}`" for k, v in sides["baseline_environment"].items()) or "none"

    def row(title: str, runs: dict[str, Any]) -> str:
        return (f"| {title} | {', '.join(str(s) for s in runs['runs_seconds'])} | {round(runs['median_seconds'], 2)} | "
                f"{', '.join(str(c) for c in runs['busy_cpu_seconds'])} | {round(runs['median_busy_cpu_seconds'], 2)} | "
                f"{runs['changed']} | {', '.join(str(n) for n in dict.fromkeys(runs['host_tasks_per_run']))} |")

    return [
        f"## No-op side by side with `{commit}`",
        "",
        f"No-op `site.yml` of `{commit}` (a worktree of it, its own `make lab`: its venv, image and lab; "
        f"environment {environment}) and of this checkout (`{sides['checkout'].split()[0]}`), each on "
        f"its own fresh {LAB_SCALE + 1}-host lab of Debian {sides['release']}, one lab at a time: "
        f"`{commit}`'s, this checkout's (twice the runs), `{commit}`'s again. One warm-up run on each lab, "
        "not counted. Busy CPU is the whole machine's, the lab containers' included: every state of "
        "`/proc/stat` but idle and iowait (steal included).",
        "",
        "| no-op `site.yml` | runs s | median s | busy CPU per run, core-s | median core-s | changed | host-tasks |",
        "|---|---|---:|---|---:|---:|---:|",
        row(f"`{commit}`", sides["baseline_runs"]),
        row("this checkout", sides["checkout_runs"]),
        f"| this checkout ÷ `{commit}` | | {wall:.3f} | | {cpu:.3f} | | |",
    ]


def write_report(data: dict[str, Any], json_path: Path, markdown_path: Path) -> None:
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{data['command']}` ({data['finished']}, {data['wall_seconds'] / 60:.1f} minutes) on "
        f"{data['machine']}" + (f", nginx {data['lab_nginx']} in the lab" if data.get("lab_nginx") else "")
        + f". Every sample: `{json_path.name}`.",
    ]
    sections = [
        ("request_path", request_path_section),
        ("targets", targets_section),
        ("backend_settings", backend_settings_section),
        ("growth", lambda grown: growth_section(grown, data)),
        ("config_growth", config_growth_section),
        ("deployment", deployment_section),
        ("side_by_side", side_by_side_section),
    ]
    for key, section in sections:
        if data.get(key):
            lines += ["", *section(data[key])]
    markdown_path.write_text("\n".join(lines) + "\n")


def lab_sections(arguments: argparse.Namespace, mitogen_dir: Path | None) -> dict[str, Any]:
    """Every section measured on the container lab, in an order that rebuilds it last."""
    lab_nginx = docker_exec(LB, "sh", "-c", "nginx -v 2>&1").strip().rsplit("/", 1)[-1]
    sections: dict[str, Any] = {"lab_nginx": lab_nginx}
    load = (arguments.rounds, arguments.seconds, arguments.connections)
    install_load_tools()
    switch("cookie")
    cookies = pinned_client_cookies()
    sections["request_path"] = request_path(cookies, *load)
    if not arguments.skip_settings:
        sections["backend_settings"] = backend_settings(cookies, *load)
    if arguments.growth_scales:
        sections["growth"] = growth(cookies, arguments.growth_scales, *load)
    if arguments.baseline:
        try:
            sections["side_by_side"] = side_by_side(arguments.baseline, dict(arguments.baseline_env))
        except SideBySideFailed as failure:
            sections["side_by_side"] = {"baseline": arguments.baseline, "failure": str(failure)}
    if not arguments.skip_deployment and mitogen_dir is not None:
        # Last: it rebuilds the default lab and leaves it up, as `make lab` would.
        sections["deployment"] = deployment(mitogen_dir)
    elif arguments.baseline:
        lab_up_cold(LAB_SCALE)  # the default lab again, in place of the side by side's last
    return sections


def environment_setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per case (at most 30)")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--growth-scales", type=int, nargs="*", default=[1, 6],
                        help=f"app host counts to measure besides the default {LAB_SCALE} (none: skip)")
    parser.add_argument("--skip-settings", action="store_true", help="skip the backend-settings comparison")
    parser.add_argument("--skip-deployment", action="store_true")
    parser.add_argument("--only-config-growth", action="store_true",
                        help="measure the nginx.conf growth alone (no lab); the report holds that section only")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the no-op side by side with this earlier commit, on a lab of its own")
    parser.add_argument("--baseline-env", metavar="NAME=VALUE", action="append", default=[], type=environment_setting,
                        help="environment of the earlier commit's runs, e.g. ANSIBLE_STRATEGY=linear (repeatable)")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_DIR / "docs")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite benchmarks.md from the existing benchmarks.json (no measuring)")
    arguments = parser.parse_args(argv)
    json_path, markdown_path = arguments.output_dir / "benchmarks.json", arguments.output_dir / "benchmarks.md"
    if arguments.render_only:
        data = json.loads(json_path.read_text())
        data["targets"] = compute_targets(data)
        write_report(data, json_path, markdown_path)
        return 0
    if not 1 <= arguments.seconds <= 30 or not 1 <= arguments.rounds <= 9:
        parser.error("--seconds 1-30 and --rounds 1-9 keep the run bounded")
    if any(not 1 <= scale <= 9 or scale == LAB_SCALE for scale in arguments.growth_scales):
        parser.error(f"--growth-scales: 1-9 app hosts, not {LAB_SCALE} (measured anyway)")
    if arguments.baseline and arguments.only_config_growth:
        parser.error("--baseline needs the lab: leave out --only-config-growth")
    if arguments.baseline_env and not arguments.baseline:
        parser.error("--baseline-env is for the runs of --baseline REV")
    if arguments.baseline and subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "--verify", "--quiet",
                                              f"{arguments.baseline}^{{commit}}"], capture_output=True).returncode:
        parser.error(f"--baseline {arguments.baseline}: no such commit in {PROJECT_DIR}")
    mitogen_dir = mitogen_strategy_dir()
    with_lab = not arguments.only_config_growth
    if with_lab and not arguments.skip_deployment and mitogen_dir is None:
        parser.error("the deployment section needs Mitogen in this venv: "
                     f"{sys.executable} -m pip install mitogen==0.3.54 (make bench does it)")
    started = time.monotonic()
    data: dict[str, Any] = {
        "command": " ".join(["tools/bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "cpus": os.cpu_count(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
    }
    data["config_growth"] = config_growth()
    if with_lab:
        try:
            data.update(lab_sections(arguments, mitogen_dir))
        except PlaybookFailed as failure:
            sys.exit(str(failure))
    data["targets"] = compute_targets(data)
    data["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data["wall_seconds"] = round(time.monotonic() - started, 1)
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    write_report(data, json_path, markdown_path)
    stage(f"wrote {markdown_path} in {data['wall_seconds'] / 60:.1f} minutes")
    for each in data["targets"]:
        print(f"    {'met    ' if each['met'] else 'NOT MET'} {each['target']}: {each['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmarks on the container lab: what stickiness costs per request, what a deployment costs, how both grow.

    make bench        (brings the lab up if needed; about 15 minutes; loopback and lab traffic only)

1. Request path: wrk (Debian's, installed in lb1) against the lb on lb1's loopback for every
   strategy, and against the backends directly (one wrk per instance, the same total
   concurrency) as the ceiling; `/` with returning clients' cookies (the same three pinned
   clients for every strategy, so Flask does the same work) and `/health`; cookie also with new
   clients (no cookie). Several interleaved rounds; medians of requests/s and of p50/p99.
2. Backend settings: round_robin and direct under each candidate gunicorn worker class,
   workers x threads and nginx upstream keepalive, to choose the roles' defaults.
3. Growth: cold converge, no-op converge and throughput with 1 and 6 app hosts (3 is step 4).
4. Deployment: site.yml on fresh lab hosts (cold, image cached), a no-op re-run with each of
   Ansible's speed-ups taken away in turn, a strategy switch. Leaves the default 3-host lab up.

Writes docs/benchmarks.json (every run) and docs/benchmarks.md (medians, ratios, targets).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import yaml  # PyYAML, installed with Ansible in the project's venv

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOOLS_DIR = PROJECT_DIR / "tools"
LB = "stickylab-lab-lb1"
APPS = [f"stickylab-lab-app{n}" for n in (1, 2, 3)]
LAB_SCALE = len(APPS)
STRATEGIES = ["round_robin", "least_conn", "ip_hash", "consistent_hash", "cookie"]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
LAB_INVENTORY = str(PROJECT_DIR / "inventories" / "lab")
# nginx on lb1's loopback, as wrk in lb1 reaches it. The port is spelled out: the minimal lab
# image has no /etc/services for wrk to look "http" up in.
LB_URL = "http://127.0.0.1:80"

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


class PlaybookRun(NamedTuple):
    seconds: float
    changed: int  # sum of changed= over the recap
    host_tasks: int  # sum of ok= and skipped=: every task each host went through


def recap_totals(output: str) -> tuple[int, int]:
    """(changed, host tasks) summed over the PLAY RECAP lines of ansible-playbook's output."""
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)", output)
    return sum(int(c) for _, c, _ in recap), sum(int(ok) + int(skipped) for ok, _, skipped in recap)


def timed_playbook(*arguments: str, environment: dict[str, str] | None = None) -> PlaybookRun:
    """site.yml on the lab: its wall time and recap."""
    started = time.monotonic()
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", LAB_INVENTORY, "site.yml", *arguments],
                            cwd=PROJECT_DIR, capture_output=True, text=True,
                            env={**os.environ, "ANSIBLE_NOCOLOR": "1", **(environment or {})})
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"site.yml {' '.join(arguments)} failed:\n{result.stdout[-3000:]}")
    return PlaybookRun(round(seconds, 1), *recap_totals(result.stdout))


def lab_up_cold(scale: int, strategy: str = "cookie") -> float:
    """Seconds for `labctl up` on fresh hosts: containers started, systemd up, cold site.yml."""
    subprocess.run([sys.executable, str(TOOLS_DIR / "labctl.py"), "down"], check=True, capture_output=True)
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(TOOLS_DIR / "labctl.py"), "up", "--strategy", strategy,
                             "--scale", str(scale)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"labctl up --scale {scale} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return round(time.monotonic() - started, 1)


def switch(strategy: str) -> float:
    """Only nginx changes: the lb play on the lb hosts (the preflight play still checks everything)."""
    return timed_playbook("--tags", "lb", "--limit", "lb", "-e", f"strategy={strategy}")[0]


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
    stage("installing wrk in lb1 and copying the probe")
    run(["docker", "exec", "-e", "DEBIAN_FRONTEND=noninteractive", LB, "sh", "-c",
         "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)"])
    run(["docker", "cp", str(TOOLS_DIR / "sticky_probe.py"), f"{LB}:/root/sticky_probe.py"])
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
            *scope, "-e", "strategy=round_robin", "-e", json.dumps(setting["vars"]))[0]
        for _ in range(rounds):
            sampler.lb_and_direct(setting["label"], APPS, cookies)
    # Three instances on two cores say little about an instance with a host to itself: the last
    # worker shape still deployed and the shipped one again, each on app1 alone, the others idle.
    for setting in shapes_for_one_instance(candidates, last_deployed=candidates[-1]):
        stage(f"backend settings, one instance alone: {setting['label']}")
        if setting is not candidates[-1]:
            timed_playbook("-e", "strategy=round_robin", "-e", json.dumps(setting["vars"]))
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
        noop, changed, _ = timed_playbook("-e", "strategy=round_robin")
        apps = [f"stickylab-lab-app{n}" for n in range(1, scale + 1)]
        for _ in range(rounds):
            sampler.lb_and_direct(f"{scale} app hosts", apps, cookies)
        results[str(scale)] = {"cold_lab_up_seconds": cold, "noop_seconds": noop, "noop_changed": changed}
    return {"scales": results, **sampler.report(rounds=rounds)}


def deployment() -> dict[str, Any]:
    results: dict[str, Any] = {}
    stage(f"deployment: {LAB_SCALE} app hosts, fresh lab hosts (image cached), cold site.yml")
    results["cold_lab_up_seconds"] = lab_up_cold(LAB_SCALE)
    stage("deployment: no-op re-runs (3 as shipped), then with Ansible's speed-ups taken away one by one")
    noop_runs = [timed_playbook() for _ in range(3)]
    results["noop_runs_seconds"] = [run.seconds for run in noop_runs]
    results["noop_seconds"] = statistics.median(results["noop_runs_seconds"])
    results["noop_changed"] = sum(run.changed for run in noop_runs)
    results["noop_host_tasks"] = noop_runs[0].host_tasks
    stock = {"ANSIBLE_STRATEGY": "linear"}
    results["noop_without_mitogen_seconds"] = timed_playbook(environment=stock)[0]
    results["noop_without_mitogen_or_pipelining_seconds"] = timed_playbook(
        environment={**stock, "ANSIBLE_PIPELINING": "False"})[0]
    stage("deployment: strategy switch (whole site.yml) and back")
    results["switch_to_ip_hash_seconds"] = timed_playbook("-e", "strategy=ip_hash")[0]
    results["switch_back_lb_tag_seconds"] = switch("cookie")
    return results


def ratio(medians: dict[str, Any], a: str, b: str) -> float:
    return round(medians[a]["requests_per_second"] / medians[b]["requests_per_second"], 3)


def median_table(medians: dict[str, Any], columns: list[tuple[str, Any]]) -> list[str]:
    """A markdown table of wrk medians with extra ratio columns, each a (title, name → ratio) pair.

    Rows through nginx also show nginx's CPU time per request and its new upstream connections
    per 1000 requests (both read inside lb1, so they do not depend on the machine's load)."""
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


def compute_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    medians = data["request_path"]["medians"]
    cookie_vs_rr = ratio(medians, "cookie /", "round_robin /")
    lb_vs_direct = ratio(medians, "round_robin /", "direct /")
    targets = [
        {"target": "cookie ≥ 0.97 × round_robin (same cookies, `/`)", "measured": f"{cookie_vs_rr:.3f}",
         "met": cookie_vs_rr >= 0.97},
        {"target": "lb (round_robin) ≥ 0.85 × direct (`/`, request-path table)", "measured": f"{lb_vs_direct:.3f}",
         "met": lb_vs_direct >= 0.85},
    ]
    deploy = data.get("deployment") or {}
    if deploy:
        targets += [
            {"target": f"no-op re-run ≤ 10 s ({LAB_SCALE + 1}-host lab)", "measured": f"{deploy['noop_seconds']} s",
             "met": deploy["noop_seconds"] <= 10},
            {"target": "cold lab ≤ 90 s", "measured": f"{deploy['cold_lab_up_seconds']} s",
             "met": deploy["cold_lab_up_seconds"] <= 90},
        ]
    return targets


def write_report(data: dict[str, Any], json_path: Path, markdown_path: Path) -> None:
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    path = data["request_path"]
    medians = path["medians"]

    def versus(endpoint_base: str) -> Any:
        def column(name: str) -> float:
            endpoint = "/health" if name.endswith("/health") else "/"
            return ratio(medians, name, f"{endpoint_base} {endpoint}")
        return column

    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` ({data['finished']}, {data['wall_seconds'] / 60:.1f} minutes) on "
        f"{data['machine']}. Raw samples: `docs/benchmarks.json`. Every wrk figure is a median of "
        "interleaved rounds; these machines are noisy, so read the ratios, not the absolute rates.",
        "",
        "## Request path",
        "",
        f"wrk in `lb1` against nginx on `lb1`'s loopback (`-c{path['connections']} -d{path['seconds']}s`, "
        f"{path['rounds']} rounds), three app hosts with one gunicorn instance each and the roles' "
        f"shipped settings ({path.get('settings', 'see the roles defaults')}). `/` carries "
        "the cookies of three returning clients (one pinned to each backend) for every strategy, so "
        "Flask does identical work; `direct` is one wrk per instance from `lb1`, the same total "
        "concurrency, no nginx.",
        "",
        *median_table(medians, [("÷ round_robin", versus("round_robin")), ("÷ direct", versus("direct"))]),
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *[f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in data["targets"]],
    ]
    settings = data.get("backend_settings")
    if settings:
        lines += [
            "",
            "## Backend settings (how the shipped defaults were chosen)",
            "",
            "Each candidate deployed with `site.yml -e strategy=round_robin -e '<vars>'` (the whole "
            "playbook when gunicorn's settings change, instances restarted one at a time; `--tags lb "
            f"--limit lb` when only nginx's do), then {settings['rounds']} rounds of round_robin through nginx "
            f"and direct, `/` with the same cookies (`-c{settings['connections']} -d{settings['seconds']}s`).",
            "",
            *median_table(settings["medians"], [("lb ÷ direct", lb_over_direct(settings["medians"]))]),
        ]
    grown = data.get("growth")
    if grown:
        deploy = data.get("deployment") or {}
        rows = dict(grown["scales"])
        if deploy:
            rows[str(LAB_SCALE)] = {"cold_lab_up_seconds": deploy["cold_lab_up_seconds"],
                                    "noop_seconds": deploy["noop_seconds"], "noop_changed": deploy["noop_changed"]}
        lines += [
            "",
            "## Growth",
            "",
            f"Fresh lab hosts for each size (`make lab SCALE=N`: containers, systemd, cold `site.yml`), "
            f"a no-op re-run, then {grown['rounds']} rounds of round_robin and direct on `/`. The "
            f"{LAB_SCALE}-host row's deployment numbers come from the deployment section; its request "
            "rates from the request-path table.",
            "",
            "| app hosts | cold `make lab` s | no-op `site.yml` s | round_robin req/s | direct req/s | lb ÷ direct |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for scale in sorted(rows, key=int):
            row = rows[scale]
            rr = grown["medians"].get(f"{scale} app hosts: round_robin /") or (medians["round_robin /"] if int(scale) == LAB_SCALE else None)
            direct = grown["medians"].get(f"{scale} app hosts: direct /") or (medians["direct /"] if int(scale) == LAB_SCALE else None)
            rates = (f"{rr['requests_per_second']:.0f} | {direct['requests_per_second']:.0f} | "
                     f"{rr['requests_per_second'] / direct['requests_per_second']:.3f}") if rr and direct else " | | "
            lines.append(f"| {scale} | {row['cold_lab_up_seconds']} | {row['noop_seconds']} | {rates} |")
        lines += [
            "",
            "Share of clients that move when a fourth backend joins three (254 clients, one per /24; "
            "measured with `tools/sticky_probe.py --remap-baseline` by the `failover` scenario on "
            "every `make test`, which asserts the bounds): `ip_hash` 75.2 % (to every backend), "
            "`consistent_hash` 31.5 % (all to the new backend), `cookie` 0 %.",
        ]
    deploy = data.get("deployment")
    if deploy:
        lines += [
            "",
            f"## Deployment ({LAB_SCALE + 1}-host container lab, `docker exec` connection)",
            "",
            "| run | seconds |",
            "|---|---:|",
            f"| `make lab` on fresh hosts (containers started, systemd up, cold `site.yml`; image cached) | {deploy['cold_lab_up_seconds']} |",
            f"| no-op `site.yml`, as shipped: Mitogen + pipelining, median of {noop_runs(deploy)} "
            f"(changed={deploy['noop_changed']}, {deploy.get('noop_host_tasks', '?')} host-tasks a run) | {deploy['noop_seconds']} |",
            f"| no-op `site.yml` without Mitogen (`ANSIBLE_STRATEGY=linear`), pipelining on | {deploy['noop_without_mitogen_seconds']} |",
            f"| no-op `site.yml` without Mitogen and without pipelining | {deploy['noop_without_mitogen_or_pipelining_seconds']} |",
            f"| `site.yml -e strategy=ip_hash` on the running cookie lab | {deploy['switch_to_ip_hash_seconds']} |",
            f"| `site.yml --tags lb --limit lb -e strategy=cookie` (back) | {deploy['switch_back_lb_tag_seconds']} |",
        ]
    lines += ["", "## Reading", "", *data["reading"], ""]
    markdown_path.write_text("\n".join(lines))


def noop_runs(deploy: dict[str, Any]) -> str:
    """`3 runs: 7.4, 7.6, 7.5 s` (older reports measured one run)."""
    runs = deploy.get("noop_runs_seconds") or [deploy["noop_seconds"]]
    return f"{len(runs)} run{'s' if len(runs) > 1 else ''}: " + ", ".join(f"{r}" for r in runs) + " s"


def spread(samples: list[dict[str, Any]]) -> float:
    """(highest - lowest) / median of one case's request rates over its rounds, in %."""
    rates = [sample["requests_per_second"] for sample in samples]
    return round(100 * (max(rates) - min(rates)) / statistics.median(rates))


def nginx_share(row: dict[str, Any], cpus: int) -> str:
    """` nginx itself spent 92 µs of CPU per request: at 1192 req/s, 5 % of the machine's 2 CPUs.`"""
    if "nginx_us_per_request" not in row:
        return ""
    share = row["nginx_us_per_request"] * row["requests_per_second"] / 1e6 / cpus
    return (f" nginx itself spent {row['nginx_us_per_request']:.0f} µs of CPU per request: at "
            f"{row['requests_per_second']:.0f} req/s, {100 * share:.0f} % of the machine's "
            f"{cpus} CPUs, taken from the backends.")


def balancing_note(medians: dict[str, Any]) -> str:
    """When least_conn beat round_robin: part of the gap is where requests go, not nginx's cost."""
    if "least_conn /" not in medians or ratio(medians, "least_conn /", "round_robin /") <= 1:
        return ""
    return (f" least_conn, which sends each request to the instance with the fewest in flight, reached "
            f"{ratio(medians, 'least_conn /', 'direct /'):.3f} of direct: part of round_robin's gap is that "
            "it keeps sending to an instance that is momentarily behind on the shared cores.")


def backend_settings_reading(settings: dict[str, Any]) -> list[str]:
    """What the backend-settings table says, and why the shipped settings are the shipped ones."""
    m = settings["medians"]
    labels = [candidate["label"] for candidate in settings["settings"]]
    through_lb = {label: m[f"{label}: round_robin /"] for label in labels if f"{label}: round_robin /" in m}
    rate = {label: row["requests_per_second"] for label, row in through_lb.items()}
    best, worst = max(rate, key=rate.get), min(rate, key=rate.get)
    lines = [
        f"- Backend settings: through nginx the candidates ranged from {rate[worst]:.0f} req/s ({worst}) to "
        f"{rate[best]:.0f} ({best}), {100 * (1 - rate[worst] / rate[best]):.0f} % apart, of the order of this "
        "machine's run-to-run noise: one run does not rank them by rate."]
    if all("upstream_connects_per_1000" in row for row in through_lb.values()):
        connects = "; ".join(f"{label} {row['upstream_connects_per_1000']:.0f} new connections and "
                             f"{row['nginx_us_per_request']:.0f} µs" for label, row in through_lb.items())
        lines.append(
            "- Counted inside lb1: per 1000 requests through nginx, the new connections it opened to the "
            f"backends, and nginx's CPU time per request — {connects}. The first count does not depend on "
            "the machine's load (a reload empties nginx's keepalive cache, so a few connections are "
            "always new); the CPU time does, less than the rates but by some 10 %. A sync worker closes "
            "every connection after one request, so upstream keepalive cannot help it; with threaded "
            "workers nginx reuses a connection as long as its keepalive cache holds one per request in "
            "flight in that nginx worker, and every connection opened beyond it costs nginx and the "
            "backend a TCP handshake and teardown.")
    lines += worker_shape_reading(m, labels)
    lines.append(
        f"- The shipped settings ({labels[0].replace(' (shipped)', '')}) follow from those reasons rather "
        "than from the rate ranking: threaded workers so nginx can keep its upstream connections, two "
        "workers so one instance can use both cores where one worker is bound by Python's GIL, and an "
        "upstream keepalive cache larger than the concurrent requests one nginx worker carries here.")
    return lines


def worker_shape_reading(m: dict[str, Any], labels: list[str]) -> list[str]:
    """The shipped worker shape against another, with three instances on the cores and with one alone."""
    alone = {label: m[f"{label}: one instance alone /"]["requests_per_second"]
             for label in labels if f"{label}: one instance alone /" in m}
    other = next((label for label in alone if label != labels[0]), None)
    if labels[0] not in alone or other is None:
        return []
    shared = {label: m[f"{label}: direct /"]["requests_per_second"] for label in (labels[0], other)}
    winner_shared = max(shared, key=shared.get)
    winner_alone = max(alone, key=alone.get)
    def shape(label: str) -> str:  # "gthread 2x4, keepalive 64 (shipped)" -> "gthread 2x4"
        return label.split(",")[0].replace(" (shipped)", "")

    line = (f"- Worker shape: with three instances sharing the machine's cores, {shape(labels[0])} (shipped) "
            f"served {shared[labels[0]]:.0f} req/s directly and {shape(other)} {shared[other]:.0f}; one "
            f"instance with the cores to itself served {alone[labels[0]]:.0f} and {alone[other]:.0f}.")
    if winner_shared != winner_alone:
        line += (f" So {shape(winner_alone)} suits an instance that has a host's cores to itself, and "
                 f"{shape(winner_shared)} hosts that run more instances than they have cores (set "
                 "flask_app_workers and flask_app_threads for them).")
    return [line]


def reading(data: dict[str, Any]) -> list[str]:
    path = data["request_path"]
    medians = path["medians"]
    cookie_vs_rr = ratio(medians, "cookie /", "round_robin /")
    lb_vs_direct = ratio(medians, "round_robin /", "direct /")
    errors = sum(m["errors"] for m in medians.values())
    cookie_effect = (f"{100 * (1 - cookie_vs_rr):.1f} % below" if cookie_vs_rr < 1
                     else f"{100 * (cookie_vs_rr - 1):.1f} % above")
    noise = spread(path["samples"]["round_robin /"]) if "samples" in path else None
    lines = [
        f"- With identical client cookies the cookie strategy ran {cookie_effect} round_robin. The "
        "cookie maps are a few hash lookups per request; "
        + (f"round_robin `/` alone varied by {noise} % between rounds of this run, " if noise is not None else "")
        + "so on this machine a few percent either way is noise, not cost (compare `cookie / (new "
        "clients)`, which does the same map work plus a Set-Cookie).",
        f"- Through nginx (round_robin) the three instances served {100 * lb_vs_direct:.0f} % of "
        "what they served directly on `/`. The Python backends set the ceiling, not nginx (compare "
        "`/health`, where Flask does almost nothing); on two cores nginx, wrk and three gunicorn "
        "instances compete for the same CPUs, which is why one instance alone can beat three."
        + nginx_share(medians.get("round_robin /", {}), data.get("cpus") or 1)
        + balancing_note(medians),
        "- `ip_hash` and `consistent_hash` see a single client address here (wrk on loopback), so "
        "all their load goes to one backend: their rows show one instance, not the spread a real "
        "client population gets.",
        f"- {errors} requests failed across the request-path cases (non-2xx or socket errors, as wrk counts them).",
    ]
    settings = data.get("backend_settings")
    if settings:
        lines += backend_settings_reading(settings)
    grown = data.get("growth")
    if grown:
        lines.append(
            "- Growth: cold converge time grows with the number of app hosts (they are configured in "
            "parallel, but on two cores their pip installs and systemd starts compete), and so does a "
            "no-op run (each task waits for the slowest host). Throughput does not grow on one "
            "machine: every app host shares the same two cores.")
    deploy = data.get("deployment")
    if deploy:
        per_host_task = (f" ({deploy['noop_host_tasks']} host-tasks, "
                         f"{1000 * deploy['noop_seconds'] / deploy['noop_host_tasks']:.0f} ms each on average, "
                         "each host's first connection included)" if deploy.get("noop_host_tasks") else "")
        lines.append(
            f"- A no-op `site.yml` costs {deploy['noop_without_mitogen_or_pipelining_seconds']} s with stock "
            f"Ansible, {deploy['noop_without_mitogen_seconds']} s with pipelining and {deploy['noop_seconds']} s "
            f"with Mitogen on top{per_host_task}: without Mitogen every task starts a new Python on every host. "
            "What remains is Ansible's own cost on the controller (each task on each host runs in a "
            "worker process forked for it, which templates its arguments afresh) and each host's first "
            "Mitogen connection. The plays gather no facts, and apt is not opened when dpkg already "
            "has every package (roles/apt_packages).")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per case (at most 30)")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--growth-scales", type=int, nargs="*", default=[1, 6],
                        help=f"app host counts to measure besides the default {LAB_SCALE} (none: skip)")
    parser.add_argument("--skip-settings", action="store_true", help="skip the backend-settings comparison")
    parser.add_argument("--skip-deployment", action="store_true")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_DIR / "docs")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite benchmarks.md from the existing benchmarks.json (no measuring)")
    arguments = parser.parse_args(argv)
    if arguments.render_only:
        data = json.loads((arguments.output_dir / "benchmarks.json").read_text())
        data["targets"] = compute_targets(data)
        data["reading"] = reading(data)
        write_report(data, arguments.output_dir / "benchmarks.json", arguments.output_dir / "benchmarks.md")
        return 0
    if not 1 <= arguments.seconds <= 30 or not 1 <= arguments.rounds <= 9:
        parser.error("--seconds 1-30 and --rounds 1-9 keep the run bounded")
    if any(not 1 <= scale <= 9 or scale == LAB_SCALE for scale in arguments.growth_scales):
        parser.error(f"--growth-scales: 1-9 app hosts, not {LAB_SCALE} (measured anyway)")
    started = time.monotonic()
    data: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
                   f"nginx {docker_exec(LB, 'sh', '-c', 'nginx -v 2>&1').strip().split('/')[-1]}",
    }
    load = (arguments.rounds, arguments.seconds, arguments.connections)
    install_load_tools()
    switch("cookie")
    cookies = pinned_client_cookies()
    data["request_path"] = request_path(cookies, *load)
    if not arguments.skip_settings:
        data["backend_settings"] = backend_settings(cookies, *load)
    if arguments.growth_scales:
        data["growth"] = growth(cookies, arguments.growth_scales, *load)
    # Last: it rebuilds the default lab and leaves it up, as `make lab` would.
    data["deployment"] = {} if arguments.skip_deployment else deployment()
    data["targets"] = compute_targets(data)
    data["reading"] = reading(data)
    data["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    data["wall_seconds"] = round(time.monotonic() - started, 1)
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    write_report(data, arguments.output_dir / "benchmarks.json", arguments.output_dir / "benchmarks.md")
    stage(f"wrote {arguments.output_dir / 'benchmarks.md'} in {data['wall_seconds'] / 60:.1f} minutes")
    for target in data["targets"]:
        print(f"    {'met    ' if target['met'] else 'NOT MET'} {target['target']}: {target['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

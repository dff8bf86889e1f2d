#!/usr/bin/env python3
"""Run the Molecule scenarios of the test matrix, a few at a time, with a log per run.

Each run is a scenario (molecule/<scenario>/) on a Debian release from tools/lab-host.yml:
`multihost@bookworm`. MATRIX below lists what `make test` runs; a run is started with
STICKY_RELEASE set (create.yml picks that release's image, the container names carry it) and
an ephemeral directory of its own, so one scenario can run on two releases at once.

Runs are queued longest first (by EXPECTED_MINUTES, measured on a 2-core machine; 5 for a new
one); each lane takes the next run when it is free. Each run's full output goes to
.molecule-logs/<scenario>@<release>.log, every line prefixed with the time of day. This prints a
line per start and end, the whole log of a failed run, and a table of times at the end.
Exit status: 0 if every run passed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Debian 13: the all-in-one host, every strategy, and production's shape (the lb pair, several
# hosts). Debian 12: the all-in-one host and the multihost one, whose app2 runs Debian 13 all the
# same (molecule/multihost/molecule.yml): a fleet half-way through an upgrade. multihost@trixie
# passes too, but would take `make test` past its 20 minutes on two cores:
# `make molecule SCENARIOS=multihost`.
MATRIX = ["default@trixie", "strategies@trixie", "pair@trixie", "default@bookworm", "multihost@bookworm"]
# Minutes each run takes beside another one on a 2-core machine (medians of `.ci/run` logs);
# only used to order the queue.
EXPECTED_MINUTES = {"pair": 9.3, "strategies": 6.8, "default": 3.3, "multihost": 2.9}
print_lock = threading.Lock()


def say(message: str) -> None:
    with print_lock:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def scenarios() -> list[str]:
    return sorted(path.parent.name for path in (PROJECT_DIR / "molecule").glob("*/molecule.yml"))


def parse_run(run: str, default_release: str) -> tuple[str, str]:
    scenario, _, release = run.partition("@")
    return scenario, release or default_release


def queue_order(runs: list[str]) -> list[str]:
    """Longest first, so the short ones fill the gaps at the end."""
    return sorted(runs, key=lambda run: (-EXPECTED_MINUTES.get(run.partition("@")[0], 5.0), run))


def run_scenario(run: str, log_dir: Path) -> tuple[bool, float]:
    scenario, release = parse_run(run, "trixie")
    log_path = log_dir / f"{run}.log"
    ephemeral = Path.home() / ".cache" / "molecule" / "stickylab" / run
    ephemeral.mkdir(parents=True, exist_ok=True)
    # Molecule calls ansible-playbook by name: the venv this runs from comes first on PATH.
    venv_bin = str(Path(sys.executable).parent)
    environment = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
                   "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0",
                   "STICKY_RELEASE": release, "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral)}
    started = time.monotonic()
    with log_path.open("w", buffering=1) as log:  # line-buffered: `tail -f` shows progress
        process = subprocess.Popen([f"{venv_bin}/molecule", "test", "-s", scenario], cwd=PROJECT_DIR,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=environment)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(f"{time.strftime('%H:%M:%S')} {line}")
        passed = process.wait() == 0
    return passed, time.monotonic() - started


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def run_queue(queue: list[str], lock: threading.Lock, log_dir: Path,
              results: dict[str, tuple[bool, float]]) -> None:
    while True:
        with lock:
            if not queue:
                return
            run = queue.pop(0)
        say(f"start  {run}")
        passed, seconds = run_scenario(run, log_dir)
        results[run] = (passed, seconds)
        say(f"{'passed' if passed else 'FAILED'} {run} in {minutes(seconds)} (log: {log_dir / (run + '.log')})")


def time_table(runs: list[str], results: dict[str, tuple[bool, float]]) -> str:
    lines = ["| scenario | release | result | wall time |", "|---|---|---|---:|"]
    for run in runs:
        scenario, release = parse_run(run, "trixie")
        passed, seconds = results.get(run, (False, 0.0))
        lines.append(f"| {scenario} | {release} | {'passed' if passed else 'FAILED'} | {minutes(seconds)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--log-dir", type=Path, default=PROJECT_DIR / ".molecule-logs")
    parser.add_argument("runs", nargs="*", help="scenario[@release] (default: the whole MATRIX)")
    arguments = parser.parse_args(argv)
    runs = [f"{scenario}@{release}" for scenario, release in
            (parse_run(run, "trixie") for run in arguments.runs or MATRIX)]
    unknown = sorted({parse_run(run, "trixie")[0] for run in runs} - set(scenarios()))
    if unknown:
        parser.error(f"no such scenario: {', '.join(unknown)} (have: {', '.join(scenarios())})")
    arguments.log_dir.mkdir(parents=True, exist_ok=True)
    queue = queue_order(runs)
    say(f"{len(queue)} runs, {arguments.jobs} at a time: {', '.join(queue)}")
    results: dict[str, tuple[bool, float]] = {}
    started = time.monotonic()
    lock = threading.Lock()
    threads = [threading.Thread(target=run_queue, args=(queue, lock, arguments.log_dir, results))
               for _ in range(max(1, arguments.jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [run for run in runs if not results.get(run, (False, 0))[0]]
    for run in failed:
        if run in results:
            print(f"\n===== {run}: full log =====", flush=True)
            print((arguments.log_dir / f"{run}.log").read_text(), flush=True)
    print("\n" + time_table(runs, results), flush=True)
    say(f"{len(runs) - len(failed)} of {len(runs)} runs passed in {minutes(time.monotonic() - started)}"
        + (f"; failed or not run: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

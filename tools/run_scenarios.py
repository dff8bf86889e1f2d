#!/usr/bin/env python3
"""Run every Molecule scenario, a few at a time, with a timestamped log per scenario.

`molecule test --all` runs the scenarios one after another; much of their time is spent
waiting (package downloads, systemd, pauses that let nginx's fail_timeout pass), so running a
few at once finishes well under the sequential time even on two cores. Scenarios are found in
molecule/*/ and queued longest first (by the durations measured here, 5 minutes for a new one);
each runner takes the next one from the queue when it is free.

Each scenario's full output goes to .molecule-logs/<scenario>.log (every line prefixed with the
time of day). This prints one line per start and end, and the whole log of a failed scenario.
Exit status: 0 if every scenario passed.
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
# Minutes each scenario took alone on a 2-core machine (README, "Tests"); only used to balance.
MEASURED_MINUTES = {"multihost": 7.0, "failover": 5.0, "resilience": 4.0, "default": 3.0, "ip_hash": 2.7}
print_lock = threading.Lock()


def say(message: str) -> None:
    with print_lock:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def scenarios() -> list[str]:
    return sorted(path.parent.name for path in (PROJECT_DIR / "molecule").glob("*/molecule.yml"))


def queue_order(names: list[str]) -> list[str]:
    """Longest first, so the short ones fill the gaps at the end."""
    return sorted(names, key=lambda n: (-MEASURED_MINUTES.get(n, 5.0), n))


def run_scenario(name: str, log_dir: Path) -> tuple[bool, float]:
    log_path = log_dir / f"{name}.log"
    started = time.monotonic()
    environment = {**os.environ, "NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0"}
    with log_path.open("w", buffering=1) as log:  # line-buffered: `tail -f` shows progress
        process = subprocess.Popen(["molecule", "test", "-s", name], cwd=PROJECT_DIR,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=environment)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(f"{time.strftime('%H:%M:%S')} {line}")
        passed = process.wait() == 0
    return passed, time.monotonic() - started


def run_queue(queue: list[str], lock: threading.Lock, log_dir: Path,
              results: dict[str, tuple[bool, float]]) -> None:
    while True:
        with lock:
            if not queue:
                return
            name = queue.pop(0)
        say(f"start  {name}")
        passed, seconds = run_scenario(name, log_dir)
        results[name] = (passed, seconds)
        say(f"{'passed' if passed else 'FAILED'} {name} in {int(seconds // 60)} min {int(seconds % 60):02d} s "
            f"(log: {log_dir / (name + '.log')})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="scenarios running at once")
    parser.add_argument("--log-dir", type=Path, default=PROJECT_DIR / ".molecule-logs")
    parser.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    arguments = parser.parse_args(argv)
    names = arguments.names or scenarios()
    unknown = sorted(set(names) - set(scenarios()))
    if unknown:
        parser.error(f"no such scenario: {', '.join(unknown)} (have: {', '.join(scenarios())})")
    arguments.log_dir.mkdir(parents=True, exist_ok=True)
    queue = queue_order(names)
    say(f"{len(queue)} scenarios, {arguments.jobs} at a time: {', '.join(queue)}")
    results: dict[str, tuple[bool, float]] = {}
    started = time.monotonic()
    lock = threading.Lock()
    threads = [threading.Thread(target=run_queue, args=(queue, lock, arguments.log_dir, results))
               for _ in range(max(1, arguments.jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [name for name in names if not results.get(name, (False, 0))[0]]
    for name in failed:
        if name in results:
            print(f"\n===== {name}: full log =====", flush=True)
            print((arguments.log_dir / f"{name}.log").read_text(), flush=True)
    total = time.monotonic() - started
    say(f"{len(names) - len(failed)} of {len(names)} scenarios passed in {int(total // 60)} min "
        f"{int(total % 60):02d} s" + (f"; failed or not run: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

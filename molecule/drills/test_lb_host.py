"""The load balancer host itself: nginx's configuration is valid as a whole, and systemd
brings nginx back when its master process dies."""

from __future__ import annotations

import subprocess

import sticky_clients as sc
from conftest import run_systemctl, unit_properties, wait_until

# nginx.service restarts after RestartSec=1 (role nginx_lb); a bound, not a wait.
NGINX_BACK_SECONDS = 10.0


def test_the_complete_nginx_configuration_passes_nginx_t() -> None:
    done = subprocess.run(["/usr/sbin/nginx", "-t"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_killed_nginx_is_restarted_by_systemd(lb: sc.Target) -> None:
    restarts_before = int(unit_properties("nginx.service", "NRestarts")["NRestarts"])
    run_systemctl("kill", "nginx.service", "--signal=SIGKILL")
    back = wait_until(lambda: sc.fetch(lb, timeout=2).status == 200, NGINX_BACK_SECONDS)
    unit = unit_properties("nginx.service", "NRestarts", "ActiveState")
    assert back, f"nginx did not answer within {NGINX_BACK_SECONDS:.0f} s"
    assert int(unit["NRestarts"]) >= max(1, restarts_before + 1), unit
    assert unit["ActiveState"] == "active", unit

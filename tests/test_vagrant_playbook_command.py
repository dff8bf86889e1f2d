"""tools/vagrant-ansible-playbook: the inventory option Vagrant 2.3.4 passes reaches
ansible-playbook as -i, every other argument unchanged and in order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "vagrant-ansible-playbook"


def test_inventory_file_becomes_dash_i_and_the_rest_passes_unchanged(tmp_path: Path) -> None:
    fake = tmp_path / "ansible-playbook"
    fake.write_text('#!/bin/sh\nfor argument in "$@"; do echo "$argument"; done\n')
    fake.chmod(0o755)
    given = ["--connection=ssh", "--inventory-file=/x/vagrant_ansible_inventory", "--limit=all",
             "--extra-vars={\"nginx_lb_strategy\":\"cookie\"}", "site.yml"]
    done = subprocess.run([sys.executable, str(TOOL), *given], capture_output=True, text=True, check=True,
                          timeout=30, env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert done.stdout.splitlines() == ["--connection=ssh", "-i", "/x/vagrant_ansible_inventory", "--limit=all",
                                        "--extra-vars={\"nginx_lb_strategy\":\"cookie\"}", "site.yml"]

"""Shared helpers for the project-level tests (roles, playbooks, tools)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROJECT_DIR = Path(__file__).resolve().parent.parent


def load_module(relative_path: str, name: str) -> ModuleType:
    """Import a plugin or tool by its path (they are not installed as packages)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_DIR / relative_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

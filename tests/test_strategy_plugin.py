"""The strategy plugin ansible.cfg names: Mitogen when installed, Ansible's linear otherwise."""

from __future__ import annotations

import sys

import pytest
from ansible.plugins.strategy.linear import StrategyModule as Linear

from conftest import load_module

PLUGIN = "plugins/strategy/mitogen_linear.py"


def test_uses_mitogen_when_it_is_installed() -> None:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear

    plugin = load_module(PLUGIN, "stickylab_strategy_with_mitogen")
    assert issubclass(plugin.StrategyModule, MitogenLinear)


def test_falls_back_to_linear_without_mitogen(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import` raise ImportError, as if Mitogen were absent.
    monkeypatch.setitem(sys.modules, "ansible_mitogen.plugins.strategy.mitogen_linear", None)
    plugin = load_module(PLUGIN, "stickylab_strategy_without_mitogen")
    assert issubclass(plugin.StrategyModule, Linear)
    assert not any(cls.__module__.startswith("ansible_mitogen") for cls in plugin.StrategyModule.__mro__)


class FakePlay:
    def __init__(self, connection: str) -> None:
        self.connection = connection


class FakeIterator:
    def __init__(self, connection: str) -> None:
        self._play = FakePlay(connection)


@pytest.mark.parametrize(("connection", "expected"), [("local", "linear"), ("ssh", "mitogen"), ("docker", "mitogen")])
def test_controller_plays_skip_mitogen(monkeypatch: pytest.MonkeyPatch, connection: str, expected: str) -> None:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear

    plugin = load_module(PLUGIN, "stickylab_strategy_dispatch")
    calls: list[str] = []
    monkeypatch.setattr(Linear, "run", lambda self, iterator, play_context, *a, **k: calls.append("linear"))
    monkeypatch.setattr(MitogenLinear, "run", lambda self, iterator, play_context, *a, **k: calls.append("mitogen"))
    strategy = plugin.StrategyModule.__new__(plugin.StrategyModule)
    strategy.run(FakeIterator(connection), play_context=None)
    assert calls == [expected]


def test_jinja_plugins_are_loaded_before_the_workers_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear

    plugin = load_module(PLUGIN, "stickylab_strategy_preload")
    calls: list[str] = []
    monkeypatch.setattr(plugin, "load_jinja_plugins_before_forking", lambda: calls.append("preload"))
    monkeypatch.setattr(MitogenLinear, "run", lambda self, iterator, play_context, *a, **k: calls.append("mitogen"))
    strategy = plugin.StrategyModule.__new__(plugin.StrategyModule)
    strategy.run(FakeIterator("ssh"), play_context=None)
    assert calls == ["preload", "mitogen"]


def test_the_preload_fills_the_cache_workers_inherit() -> None:
    # ansible-core's Jinja2Loader keeps the builtin and legacy filters and tests it loaded here;
    # if a later ansible-core drops this cache, the preload no longer saves the workers anything.
    from ansible.plugins.loader import filter_loader, test_loader

    plugin = load_module(PLUGIN, "stickylab_strategy_cache")
    for loader in (filter_loader, test_loader):
        loader._cached_non_collection_wrappers.clear()  # as in a fresh controller process
    plugin.load_jinja_plugins_before_forking()
    for loader in (filter_loader, test_loader):
        assert loader._cached_non_collection_wrappers
    assert "to_json" in filter_loader._cached_non_collection_wrappers

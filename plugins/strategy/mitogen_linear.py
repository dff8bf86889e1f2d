# Ansible's linear strategy run through Mitogen when Mitogen is installed (`make venv` installs
# the pinned version from requirements-dev.txt), and Ansible's own linear strategy otherwise.
#
# Why: with the stock strategy every task starts a fresh Python on the host and unpacks the
# module there (~0.5 s a task on a 2-core machine, whatever the connection); Mitogen keeps one
# interpreter per host for the whole run and caches imported modules in it. On the 4-host
# container lab a no-op site.yml drops from ~50 s to ~20 s (docs/benchmarks.md).
#
# Mitogen replaces the `ssh`, `local` and `docker` connections only: inventories that want the
# speed-up use `ansible_connection: docker` (Ansible routes that name to community.docker.docker
# when Mitogen is absent), never the collection's full name.
from __future__ import annotations

DOCUMENTATION = """
    name: mitogen_linear
    short_description: Mitogen's linear strategy, or Ansible's when Mitogen is not installed
    description:
      - Runs tasks host by host in lock step like C(linear), through Mitogen's persistent
        interpreters when the C(ansible_mitogen) package is importable.
    author: stickylab
"""

from ansible.plugins.loader import filter_loader, test_loader
from ansible.plugins.strategy.linear import StrategyModule as _Linear
from ansible.utils.display import Display

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as _MitogenLinear
except ImportError:  # a controller without Mitogen still runs the playbooks, only slower
    _MitogenLinear = None


def load_jinja_plugins_before_forking() -> None:
    """Load every filter and test plugin once, in the controller process.

    Each task on each host runs in a worker forked from this process. A worker that meets a
    filter or test loads them all first (ansible-core's Jinja2Loader), and the worker dies with
    what it loaded: on the lab that is repeated some 150 times a run. Loaded here, before any
    fork, every worker inherits them: a no-op site.yml on the lab went from 9.2 s to 8.7 s.
    """
    for loader in (filter_loader, test_loader):
        for _ in loader.all():
            pass


if _MitogenLinear is None:
    class StrategyModule(_Linear):
        def __init__(self, *args, **kwargs):
            Display().warning(
                "Mitogen is not installed: running with Ansible's linear strategy "
                "(slower; `make venv` or `pip install mitogen` adds it)."
            )
            super().__init__(*args, **kwargs)

        def run(self, iterator, play_context, *args, **kwargs):
            load_jinja_plugins_before_forking()
            return super().run(iterator, play_context, *args, **kwargs)
else:
    class StrategyModule(_MitogenLinear):  # type: ignore[no-redef]
        def run(self, iterator, play_context, *args, **kwargs):
            load_jinja_plugins_before_forking()
            # Plays on the controller itself (`connection: local`, like Molecule's create and
            # destroy) gain nothing from Mitogen, and its async runner loses the results of
            # collection modules (community.docker.docker_container with `async` never
            # finishes): those plays run with Ansible's own linear strategy.
            if iterator._play.connection == "local":
                return _Linear.run(self, iterator, play_context, *args, **kwargs)
            return super().run(iterator, play_context, *args, **kwargs)

"""The role's nginx.conf, rendered here for every strategy at 3 and at 200 backends (one
ansible-playbook run), passes Debian's `nginx -t`, and grows linearly with the backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_module

nginx_config = load_module("tools/nginx_config.py", "nginx_config")

STRATEGIES = ["cookie", "ip_hash", "consistent_hash", "round_robin", "least_conn"]
# Every strategy at 3 and 200 backends; the growth is compared from 3 to 100 and from 100 to
# 200. (1000 backends: make bench.)
SIZES = {strategy: [3, 200] for strategy in STRATEGIES} | {"cookie": [3, 100, 200], "round_robin": [3, 100, 200]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    root = tmp_path_factory.mktemp("nginx")
    renders = [(root / f"{strategy}-{size}", size, strategy) for strategy in STRATEGIES for size in SIZES[strategy]]
    nginx_config.render_many(renders)
    return {(strategy, size): directory / "nginx.conf" for directory, size, strategy in renders}


@pytest.mark.parametrize("size", [3, 200])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_passes_nginx_t(rendered: dict[tuple[str, int], Path], strategy: str, size: int) -> None:
    passed, _, said = nginx_config.nginx_test(nginx_config.for_this_machine(rendered[strategy, size]))
    assert passed, said


@pytest.mark.parametrize("strategy", ["cookie", "round_robin"])
def test_the_configuration_grows_linearly_with_the_backends(rendered: dict[tuple[str, int], Path],
                                                            strategy: str) -> None:
    lines = {size: rendered[strategy, size].read_text().count("\n") for size in SIZES[strategy]}
    first, second = lines[100] - lines[3], lines[200] - lines[100]
    # The same number of lines for each backend added, and only a few of them.
    assert first / 97 == pytest.approx(second / 100, abs=0.1), lines
    assert second / 100 <= 12, lines


def test_every_backend_appears_once_in_the_cookie_map(rendered: dict[tuple[str, int], Path]) -> None:
    text = rendered["cookie", 200].read_text()
    cookies = [f"{number:016x}" for number in range(1, 201)]
    assert all(text.count(f"        {cookie} app") == 1 for cookie in cookies)

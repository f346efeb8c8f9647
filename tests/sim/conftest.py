"""The simulator's soak (`@pytest.mark.slow`) is left out of a default run; select it with
`-m slow` (or any -m expression naming it)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or ""):
        return
    soak = [i for i in items if i.get_closest_marker("slow") and HERE in i.path.parents]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [i for i in items if i not in soak]

"""Trainer tests need torch: they are marked ``torch`` and skipped where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.torch)


collect_ignore_glob: list[str] = []
try:
    import torch  # noqa: F401
except ImportError:
    collect_ignore_glob.append("*.py")

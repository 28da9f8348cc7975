"""The docs test runs the guides' examples: it needs torch, both plug-ins and the demo extra.

Its items are marked ``torch``; without torch (the torch-free floor) nothing here is collected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.torch)


collect_ignore_glob: list[str] = []
try:
    import torch  # noqa: F401
except ImportError:
    collect_ignore_glob.append("*.py")

"""Upstream parity: helios-ml's own plug-in tests, rewritten as what a user porting a plug-in
from helios-ml (1.4.1, the release the seed documents, and 2.0.0) observes with this trainer.

Each test is named after the upstream test it stands for, or after the upstream behaviour it
checks when upstream's trainer implies it without a test of its own. Where Helios deliberately
behaves otherwise, the test asserts upstream's behaviour and is an expected failure (strict)
whose reason points into docs/migrating.md.

Everything here needs torch (marked ``torch``; nothing is collected without it);
test_optuna.py also needs Optuna >= 4.0 and helios-optuna, else it is not collected and the
run's summary says why.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from support.optional import optuna_missing

HERE = Path(__file__).parent


TORCH_MISSING = importlib.util.find_spec("torch") is None
OPTUNA_MISSING = None if TORCH_MISSING else optuna_missing()

collect_ignore_glob: list[str] = []
if TORCH_MISSING:
    collect_ignore_glob.append("test_*.py")
elif OPTUNA_MISSING:
    collect_ignore_glob.append("test_optuna.py")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TORCH_MISSING:
        terminalreporter.write_line("tests/upstream: not collected: torch is not installed")
    elif OPTUNA_MISSING:
        terminalreporter.write_line(
            f"tests/upstream/test_optuna.py: not collected: {OPTUNA_MISSING}"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.torch)

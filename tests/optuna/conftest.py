"""helios-optuna tests: real Optuna on real SQLite files and a private PostgreSQL server
(tests/support/postgres.py), the installed helios-optuna.

They are marked ``torch``. Where torch, Optuna >= 4.0 or helios-optuna is missing, nothing here
is collected (as in tests/core/trainer) and the run's summary says why.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.optional import optuna_missing

HERE = Path(__file__).parent
TESTS = HERE.parent


def _missing() -> str | None:
    """Why these tests cannot run here, or None (found from metadata: nothing is imported)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    return optuna_missing()


MISSING = _missing()
collect_ignore_glob: list[str] = ["*.py"] if MISSING else []
sys.path.insert(0, str(HERE))  # optuna_job, for the tests and the processes they start


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MISSING:
        terminalreporter.write_line(f"tests/optuna: not collected: {MISSING}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.torch)


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; keep the test output to what fails."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(before)


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """A fresh SQLite study database in this test's folder."""
    return f"sqlite:///{tmp_path / 'study.db'}"


def _run_job(run_dir: Path, **config: Any) -> subprocess.CompletedProcess[str]:
    config = {"run_dir": str(run_dir), **config}
    path = os.pathsep.join(p for p in (str(HERE), str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "optuna_job", json.dumps(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
        check=False,
    )


def _evidence(run_dir: Path, rank: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / f"rank-{rank}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def run_job() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_job(run_dir, **config)``: ``optuna_job`` in a fresh interpreter, with ``-W error``
    (any warning fails it); a hang fails after 300 s."""
    return _run_job


@pytest.fixture
def evidence() -> Callable[..., dict[str, Any]]:
    """``evidence(run_dir, rank=0)``: what that rank of an ``optuna_job`` run wrote down."""
    return _evidence


@pytest.fixture
def plugin_env_core_version() -> str:
    """The installed helios-trainer's version: the real plug-in's range must admit it."""
    return importlib.metadata.version("helios-trainer")

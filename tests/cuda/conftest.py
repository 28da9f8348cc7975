"""helios-cuda tests: most need torch and the installed distribution; ``cuda`` ones a GPU."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

HERE = Path(__file__).parent
STATIC = {"test_packaging.py"}  # reads files only: runs everywhere


def _importable() -> bool:
    try:
        import torch  # noqa: F401

        import helios_cuda  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name in STATIC:
        return False
    if collection_path.name.startswith("test_") and not _importable():
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu = _importable() and __import__("torch").cuda.is_available()
    for item in items:
        path = Path(str(item.fspath))
        if HERE not in path.parents:
            continue
        if path.name not in STATIC:
            item.add_marker(pytest.mark.torch)
        if item.get_closest_marker("cuda") is not None and not gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture
def plugin_env_core_version() -> str:
    """The installed helios-trainer's version: the real plug-in's range must admit it."""
    return importlib.metadata.version("helios-trainer")

"""``helios demo`` tests need torch and the demo extra; they are marked ``torch``.

Without torch (the torch-free floor) nothing here is collected, as in tests/core/trainer. With
torch but without scikit-learn, matplotlib or helios-optuna, every test fails with the install
command: the session that runs them is meant to have the demo extra.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _missing() -> list[str]:
    missing = [
        dist
        for module, dist in (("sklearn", "scikit-learn"), ("matplotlib", "matplotlib"))
        if importlib.util.find_spec(module) is None
    ]
    try:
        importlib.metadata.distribution("helios-optuna")
    except importlib.metadata.PackageNotFoundError:
        missing.append("helios-optuna")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.torch)


@pytest.fixture(autouse=True)
def _demo_extra() -> None:
    missing = _missing()
    if missing:
        pytest.fail(
            f"the helios demo tests need {', '.join(missing)}: pip install './core[demo]' "
            "./plugins/optuna (from the repository root)",
            pytrace=False,
        )


collect_ignore_glob: list[str] = []
try:
    import torch  # noqa: F401
except ImportError:
    collect_ignore_glob.append("*.py")

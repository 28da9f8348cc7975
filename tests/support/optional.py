"""Why the Optuna tests cannot run here, read from installed metadata (nothing is imported)."""

from __future__ import annotations

import importlib.metadata

from packaging.version import Version


def optuna_missing() -> str | None:
    """The reason Optuna >= 4.0 or helios-optuna is missing, or None when both are there."""
    try:
        found = importlib.metadata.version("optuna")
    except importlib.metadata.PackageNotFoundError:
        return "optuna is not installed (pip install 'optuna>=4.0')"
    if Version(found) < Version("4.0"):
        return f"they need optuna>=4.0, found optuna {found} (pip install -U 'optuna>=4.0')"
    try:
        importlib.metadata.distribution("helios-optuna")
    except importlib.metadata.PackageNotFoundError:
        return "helios-optuna is not installed (pip install --no-deps -e plugins/optuna)"
    return None

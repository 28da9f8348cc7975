"""Helios: a small PyTorch training core with manifest-checked plug-ins.

Importing ``helios`` is cheap and torch-free; the trainer's names are handed on lazily.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Trainer": "helios.trainer",
    "TrainingState": "helios.trainer",
    "TrainingUnit": "helios.trainer",
    "Model": "helios.model",
    "DataModule": "helios.data",
    "DataLoaderParams": "helios.data",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("helios-trainer")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'helios' has no attribute {name!r}")

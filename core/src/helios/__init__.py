"""Helios: a small PyTorch training core with manifest-checked plug-ins.

Importing ``helios`` is cheap and torch-free; the trainer's names are handed on lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("helios-trainer")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'helios' has no attribute {name!r}")

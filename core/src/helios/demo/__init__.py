"""``helios demo``: tune a small digit classifier with helios-optuna, end to end.

Modules: :mod:`~helios.demo.data` (the data set and its split), :mod:`~helios.demo.model` (the
classifier and its search space), :mod:`~helios.demo.study` (the Optuna study: trials, pruning,
resume), :mod:`~helios.demo.plots` (the PNG pictures, written with :mod:`helios.atomic`) and
:mod:`~helios.demo.run` (the command).
Importing this package is cheap; the modules import torch, Optuna, scikit-learn or matplotlib.
"""

from __future__ import annotations

__all__ = ["DemoError"]


class DemoError(ValueError):
    """Bad input or state for ``helios demo``; the message names what was expected and the fix."""

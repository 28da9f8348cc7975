"""helios-optuna: hyper-parameter tuning of Helios trainings with Optuna.

``OptunaPlugin`` and ``attach_trial`` live in :mod:`helios_optuna.plugin`; they are handed on
lazily, so importing this package (or reading its manifest) imports neither torch nor Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helios_optuna.plugin import OptunaPlugin, attach_trial

__all__ = ["OptunaPlugin", "attach_trial"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from helios_optuna import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module 'helios_optuna' has no attribute {name!r}")

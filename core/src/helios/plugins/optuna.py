"""``helios.plugins.optuna``: the documented names of helios-optuna, as upstream helios-ml has them.

``OptunaPlugin`` and upstream's study helpers (``StudyArgs``, ``create_or_load_study``,
``create_study_starting_from_trial``, ``checkpoint_sampler``, ``restore_sampler``) live in the
separately installed distribution ``helios-optuna``. Naming one here goes through the
manifest-checked loader: the plug-in's manifest and requirements are checked before any of its
code (or Optuna) is imported, and a missing distribution raises
:class:`~helios.plugins.errors.PluginNotInstalledError` naming ``pip install helios-optuna``.
Importing this module itself is cheap and imports neither torch nor Optuna.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helios.plugins._host.first_party import FirstParty

__all__ = [  # noqa: F822 - provided by __getattr__ (PEP 562)
    "OptunaPlugin",
    "StudyArgs",
    "checkpoint_sampler",
    "create_or_load_study",
    "create_study_starting_from_trial",
    "restore_sampler",
]


def __getattr__(name: str) -> Any:
    from helios.plugins._host.first_party import documented_in, helper_of

    if name in documented_in(__name__):
        from helios.plugins.plugin import PLUGIN_REGISTRY

        return PLUGIN_REGISTRY.get(name)
    own = helper_of(__name__, name)
    if own is not None:
        return _checked_helper(own, name)
    raise AttributeError(
        f"module 'helios.plugins.optuna' has no attribute {name!r}; it hands on "
        f"{', '.join(__all__)} (the rest of helios-optuna is in helios_optuna)"
    )


def _checked_helper(own: FirstParty, name: str) -> Any:
    """``name`` from the plug-in's package, imported only once its checks passed."""
    from helios.plugins.errors import PluginNotApplicableError
    from helios.plugins.plugin import PLUGIN_REGISTRY

    checked = PLUGIN_REGISTRY.get(own.class_name)  # raises if not installed or not compatible
    verdict = getattr(checked, "verdict", None)
    if checked.__module__ == "helios.plugins._host.unavailable" and verdict is not None:
        raise PluginNotApplicableError(
            [verdict],
            headline=f"{__name__}.{name} cannot be used here: the plug-in {own.id!r} does not "
            "apply on this machine, so its code was never imported",
        )
    return getattr(importlib.import_module(own.package), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

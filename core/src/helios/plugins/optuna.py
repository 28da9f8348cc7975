"""``helios.plugins.optuna.OptunaPlugin``: the documented name of helios-optuna's plug-in.

The class lives in the separately installed distribution ``helios-optuna``. Importing it from
here goes through the manifest-checked loader: its manifest and requirements are checked before
any of its code (or Optuna) is imported, and a missing distribution raises
:class:`~helios.plugins.errors.PluginNotInstalledError` naming ``pip install helios-optuna``.
Importing this module itself is cheap and imports neither torch nor Optuna.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OptunaPlugin"]  # noqa: F822 - provided by __getattr__ (PEP 562)


def __getattr__(name: str) -> Any:
    from helios.plugins._host.first_party import documented_in

    if name in documented_in(__name__):
        from helios.plugins.plugin import PLUGIN_REGISTRY

        return PLUGIN_REGISTRY.get(name)
    raise AttributeError(
        f"module 'helios.plugins.optuna' has no attribute {name!r}; it hands on OptunaPlugin "
        "only (the rest of helios-optuna is in helios_optuna)"
    )


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Helios plug-ins: the documented API, handed on lazily so importing this package is cheap.

``helios.plugins.Plugin``, ``UniquePluginOverrides``, ``PLUGIN_REGISTRY`` and
``create_plugin`` come from :mod:`helios.plugins.plugin`; ``CUDAPlugin`` and ``OptunaPlugin``
resolve to the installed ``helios-cuda`` / ``helios-optuna`` distributions through the
manifest-checked loader (an error names the distribution to install when it is absent).
"""

from __future__ import annotations

import importlib
from typing import Any

from helios.plugins.errors import (
    ManifestError,
    PluginBrokenError,
    PluginError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotInstalledError,
    PluginSelectionError,
)

_LAZY = {
    "Plugin": "helios.plugins.plugin",
    "UniquePluginOverrides": "helios.plugins.plugin",
    "PLUGIN_REGISTRY": "helios.plugins.plugin",
    "GUARDED_HOOKS": "helios.plugins.plugin",
    "create_plugin": "helios.plugins.plugin",
    "build_report": "helios.plugins.loader",
    "load_plugins": "helios.plugins.loader",
    "Settings": "helios.plugins.settings",
}
_INSTALLED = ("CUDAPlugin", "OptunaPlugin")

__all__ = [
    "ManifestError",
    "PluginBrokenError",
    "PluginError",
    "PluginIncompatibleError",
    "PluginNotApplicableError",
    "PluginNotInstalledError",
    "PluginSelectionError",
    *_LAZY,
    *_INSTALLED,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _INSTALLED:
        from helios.plugins.plugin import PLUGIN_REGISTRY

        return PLUGIN_REGISTRY.get(name)
    raise AttributeError(f"module 'helios.plugins' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

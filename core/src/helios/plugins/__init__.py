"""Helios plug-ins: the documented API, handed on lazily so importing this package is cheap.

``helios.plugins.Plugin``, ``UniquePluginOverrides``, ``PLUGIN_REGISTRY`` and
``create_plugin`` come from :mod:`helios.plugins.plugin`; ``build_report``, ``load_plugins``
and ``probe_device`` act on the default :class:`PluginHost` (build your own to judge another
environment, or to keep a test's plug-ins to itself); ``load_manifest`` and ``parse_manifest``
read a manifest as the checks do (manifests/README.md). The first-party plug-in classes
(``CUDAPlugin``, ``OptunaPlugin``) resolve to the installed ``helios-cuda`` / ``helios-optuna``
distributions through the manifest-checked loader. Where such a plug-in does not apply (``CUDAPlugin`` without a GPU),
the name still resolves, without importing the plug-in, to a stand-in class that raises
:class:`PluginNotApplicableError` (a ``RuntimeError``) when constructed; when its distribution
is absent, :class:`PluginNotInstalledError` (an ``ImportError`` and a ``KeyError``) names it.
"""

from __future__ import annotations

import importlib
from typing import Any

from helios.plugins._host.first_party import FIRST_PARTY
from helios.plugins.errors import (
    ManifestError,
    PluginBrokenError,
    PluginConflictError,
    PluginError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotApplicableWarning,
    PluginNotInstalledError,
    PluginSelectionConflictError,
    PluginSelectionError,
)

_LAZY = {
    "Plugin": "helios.plugins.plugin",
    "UniquePluginOverrides": "helios.plugins.plugin",
    "PLUGIN_REGISTRY": "helios.plugins.plugin",
    "GUARDED_HOOKS": "helios.plugins.plugin",
    "create_plugin": "helios.plugins.plugin",
    "build_report": "helios.plugins._host.host",
    "load_plugins": "helios.plugins._host.host",
    "probe_device": "helios.plugins._host.host",
    "PluginHost": "helios.plugins._host.host",
    "Settings": "helios.plugins._host.settings",
    "load_manifest": "helios.plugins._host.manifest",
    "parse_manifest": "helios.plugins._host.manifest",
}
_INSTALLED = tuple(p.class_name for p in FIRST_PARTY)

__all__ = [
    "ManifestError",
    "PluginBrokenError",
    "PluginConflictError",
    "PluginError",
    "PluginIncompatibleError",
    "PluginNotApplicableError",
    "PluginNotApplicableWarning",
    "PluginNotInstalledError",
    "PluginSelectionConflictError",
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

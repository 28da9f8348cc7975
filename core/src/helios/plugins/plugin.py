"""The documented plug-in API: :class:`Plugin`, its unique overrides, the registry.

:class:`Plugin` and :class:`UniquePluginOverrides` are defined in :mod:`helios.plugins.base`.
:data:`PLUGIN_REGISTRY` and :func:`create_plugin` are faces over the process's default plug-in
host (:func:`helios.plugins._host.host.default_host`): whichever host is the default when they
are used answers. ``CUDAPlugin`` (as the seed documents it here) resolves the installed
helios-cuda. This module imports no torch, and none of the host's machinery, at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from helios.plugins.base import Plugin, UniquePluginOverrides, overridden_hooks
from helios.plugins.hooks import GUARDED_HOOKS
from helios.plugins.registry import PluginRegistry

if TYPE_CHECKING:
    from helios.plugins._host.host import PluginHost

__all__ = [
    "GUARDED_HOOKS",
    "PLUGIN_REGISTRY",
    "Plugin",
    "PluginRegistry",
    "UniquePluginOverrides",
    "create_plugin",
    "overridden_hooks",
]

_P = TypeVar("_P", bound="type[Plugin]")


def _host() -> PluginHost:
    from helios.plugins._host.host import default_host  # the host sits above this module

    return default_host()


class DefaultRegistry:
    """:data:`PLUGIN_REGISTRY`: the registry of the default plug-in host, looked up per call.

    It has the methods of :class:`PluginRegistry`; each one acts on the registry of whichever
    host is the default at that moment, so a test that makes its own host the default sees
    its own classes only.
    """

    def __call__(self, cls: _P) -> _P:
        return self.register(cls)

    def register(self, cls: _P, suffix: str | None = None) -> _P:
        """:meth:`PluginRegistry.register` on the default host's registry."""
        return _host().registry.register(cls, suffix)

    def unregister(self, name: str) -> None:
        """:meth:`PluginRegistry.unregister` on the default host's registry."""
        _host().registry.unregister(name)

    def get(self, name: str, suffix: str | None = None) -> type[Plugin]:
        """:meth:`PluginRegistry.get` on the default host's registry (installed plug-ins too)."""
        return _host().registry.get(name, suffix)

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in _host().registry

    def __iter__(self) -> Iterator[str]:
        return iter(_host().registry)

    def __len__(self) -> int:
        return len(_host().registry)

    def keys(self) -> list[str]:
        """The class names registered in the default host's registry, sorted."""
        return _host().registry.keys()

    def __repr__(self) -> str:
        return f"<PLUGIN_REGISTRY: {len(self)} class(es) registered in the default plug-in host>"


#: The registry of plug-in classes, looked up by class name. Installed plug-ins
#: (``helios-cuda``'s ``CUDAPlugin``, ``helios-optuna``'s ``OptunaPlugin``) are resolved on
#: first lookup through the manifest-checked loader.
PLUGIN_REGISTRY = DefaultRegistry()


def create_plugin(type_name: str, *args: Any, **kwargs: Any) -> Plugin:
    """Create the plug-in registered (or installed) under the class name ``type_name``."""
    return PLUGIN_REGISTRY.get(type_name)(*args, **kwargs)


def __getattr__(name: str) -> Any:
    """``helios.plugins.plugin.CUDAPlugin`` (as documented) resolves the installed helios-cuda."""
    from helios.plugins._host.first_party import documented_in

    if name in documented_in(__name__):
        return PLUGIN_REGISTRY.get(name)
    raise AttributeError(f"module 'helios.plugins.plugin' has no attribute {name!r}")

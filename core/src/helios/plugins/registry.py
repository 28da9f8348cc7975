"""The registry of plug-in classes, looked up by class name."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from helios.plugins.errors import PluginNotInstalledError

if TYPE_CHECKING:
    from helios.plugins.base import Plugin

__all__ = ["PluginRegistry", "Resolver"]

_P = TypeVar("_P", bound="type[Plugin]")

#: Finds a class nobody registered: ``resolve(name, registered)`` returns it or raises
#: :class:`~helios.plugins.errors.PluginNotInstalledError`. A plug-in host passes its loader.
Resolver = Callable[[str, Sequence[str]], "type[Plugin]"]


class PluginRegistry:
    """Maps class names to plug-in classes.

    Use an instance as a class decorator or call :meth:`register`. :meth:`get` falls back to
    ``resolve``: a plug-in host's registry resolves the installed plug-in distributions (their
    manifests are checked and, only if every check passes, the class is imported, verified and
    registered). A lookup of a name that nothing provides raises
    :class:`~helios.plugins.errors.PluginNotInstalledError`, a ``KeyError``.
    """

    def __init__(self, base: type, resolve: Resolver | None = None) -> None:
        self._base = base
        self._resolve = resolve
        self._classes: dict[str, type[Plugin]] = {}

    def __call__(self, cls: _P) -> _P:
        return self.register(cls)

    def register(self, cls: _P, suffix: str | None = None) -> _P:
        """Register ``cls`` under its class name (``NAME_SUFFIX`` with a ``suffix``); return it.

        Registering the same class under the same name again does nothing.

        :raises ValueError: another class is registered under that name already.
        """
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise TypeError(
                f"only subclasses of helios.plugins.Plugin can be registered, found {cls!r}"
            )
        name = _name(cls.__name__, suffix)
        known = self._classes.get(name)
        if known is not None and known is not cls:
            raise ValueError(
                f"a plug-in class named {name!r} is already registered "
                f"({known.__module__}.{known.__qualname__}); cannot also register "
                f"{cls.__module__}.{cls.__qualname__}: rename one of the two classes"
                + (", or register it with another suffix" if suffix is not None else "")
            )
        self._classes[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Forget the class registered under ``name`` (a no-op if there is none)."""
        self._classes.pop(name, None)

    def get(self, name: str, suffix: str | None = None) -> type[Plugin]:
        """The class registered under ``name``, else the installed plug-in of that class name;
        with a ``suffix``, else the class registered under ``NAME_SUFFIX`` (with a warning that
        names the class found instead).

        An installed plug-in that is not applicable here gives a stand-in class that raises
        ``PluginNotApplicableError`` when constructed (see :mod:`helios.plugins._host.unavailable`).

        :raises PluginNotInstalledError: (a ``KeyError``) no registered class and no installed
            distribution provides it; the message names the distribution to install when known.
        :raises PluginSelectionError: the installed plug-in failed its checks.
        """
        cls = self._classes.get(name)
        if cls is not None:
            return cls
        try:
            return self._resolved(name)
        except PluginNotInstalledError:
            suffixed = self._classes.get(_name(name, suffix)) if suffix is not None else None
            if suffixed is None:
                raise
            warnings.warn(
                f"no plug-in class {name!r} is registered or installed; found "
                f"{_name(name, suffix)!r} instead (suffix {suffix!r})",
                UserWarning,
                stacklevel=2,
            )
            return suffixed

    __getitem__ = get

    def _resolved(self, name: str) -> type[Plugin]:
        registered = sorted(self._classes)
        if self._resolve is not None:
            return self._resolve(name, registered)
        raise PluginNotInstalledError(
            f"no plug-in class named {name!r} is registered in this registry (registered: "
            f"{', '.join(registered) or 'none'}; it looks up no installed plug-ins). Fix: "
            "register the class with it, or look it up in helios.plugins.PLUGIN_REGISTRY"
        )

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is registered already (installed plug-ins are not imported)."""
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._classes))

    def __len__(self) -> int:
        return len(self._classes)

    def keys(self) -> list[str]:
        """The registered class names, sorted."""
        return sorted(self._classes)


def _name(name: str, suffix: str | None) -> str:
    """``NAME_SUFFIX``, as helios-ml's registry joins a name and a suffix."""
    return name if suffix is None else f"{name}_{suffix}"

"""The registry of plug-in classes, looked up by class name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from helios.plugins.plugin import Plugin

_P = TypeVar("_P", bound="type[Plugin]")


class PluginRegistry:
    """Maps class names to plug-in classes.

    Use an instance as a class decorator or call :meth:`register`. :meth:`get` falls back to
    the installed plug-in distributions: their manifests are checked and, only if every check
    passes, the class is imported, verified and registered.
    """

    def __init__(self, base: type) -> None:
        self._base = base
        self._classes: dict[str, type[Plugin]] = {}

    def __call__(self, cls: _P) -> _P:
        return self.register(cls)

    def register(self, cls: _P) -> _P:
        """Register ``cls`` under its class name and return it unchanged."""
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise TypeError(
                f"only subclasses of helios.plugins.Plugin can be registered, found {cls!r}"
            )
        name = cls.__name__
        known = self._classes.get(name)
        if known is not None and known is not cls:
            raise ValueError(
                f"a plug-in class named {name!r} is already registered "
                f"({known.__module__}.{known.__qualname__}); cannot also register "
                f"{cls.__module__}.{cls.__qualname__}: rename one of the two classes"
            )
        self._classes[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Forget the class registered under ``name`` (a no-op if there is none)."""
        self._classes.pop(name, None)

    def get(self, name: str) -> type[Plugin]:
        """The class registered under ``name``, else the installed plug-in of that class name.

        :raises PluginNotInstalledError: no registered class and no installed distribution
            provides it; the message names the distribution to install when it is known.
        :raises PluginSelectionError: the installed plug-in failed its checks.
        """
        cls = self._classes.get(name)
        if cls is None:
            from helios.plugins.loader import load_class  # lazy: keeps import light

            cls = load_class(name, registered=sorted(self._classes))
        return cls

    __getitem__ = get

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

"""Stand-ins for installed plug-in classes that do not apply on this machine.

``from helios.plugins import CUDAPlugin`` must work on a machine without a GPU, so that one
script serves CPU and GPU, yet the plug-in's code must not be imported where its checks say it
does not apply. Looking the class up there gives a stand-in: a :class:`Plugin` subclass with
the plug-in's class name, ``plugin_id`` and claimed overrides, which can be subclassed and
named in annotations, and which raises :class:`PluginNotApplicableError` (also a
``RuntimeError``) when constructed, naming why and the fix.
"""

from __future__ import annotations

from typing import Any, cast

from helios.plugins._host.verdicts import Verdict
from helios.plugins.base import Plugin, UniquePluginOverrides
from helios.plugins.errors import PluginNotApplicableError

__all__ = ["unavailable_class"]


def unavailable_class(class_name: str, verdict: Verdict) -> type[Plugin]:
    """A new stand-in for the class ``class_name`` of a plug-in whose ``verdict`` is not
    applicable (a plug-in host keeps one per distribution, so two lookups give one class)."""
    return _make(class_name, verdict)


def _make(class_name: str, verdict: Verdict) -> type[Plugin]:
    headline = (
        f"{class_name} cannot be created on this machine: the plug-in {verdict.id!r} does not "
        "apply here, so its code was never imported"
    )

    def refuse(cls: type[Plugin], *args: Any, **kwargs: Any) -> Plugin:
        raise PluginNotApplicableError([verdict], headline=headline)

    def setup(self: Plugin) -> None:
        """Never runs: the class cannot be constructed here."""

    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": class_name,
        "__doc__": (
            f"Stand-in for the plug-in {verdict.id!r} ({verdict.distribution} "
            f"{verdict.version}), which does not apply on this machine "
            f"({verdict.reason.value}); constructing it raises PluginNotApplicableError."
        ),
        "__new__": refuse,
        "setup": setup,
        "plugin_id": verdict.id,
        "declared_overrides": UniquePluginOverrides(**dict.fromkeys(verdict.overrides, True)),
        #: The loader's verdict: why the plug-in does not apply here.
        "verdict": verdict,
    }
    return cast("type[Plugin]", type(class_name, (Plugin,), namespace))

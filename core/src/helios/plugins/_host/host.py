"""The plug-in host: one object holding everything the plug-in machinery remembers.

A :class:`PluginHost` owns the discovery scan, the settings' source (an environment), the
device probe's answer, the plug-in classes it imported and its class registry. The module-level
faces (``helios.plugins.build_report``, ``load_plugins``, ``PLUGIN_REGISTRY``,
``create_plugin``, ``probe_device``) act on the *default* host, made on first use; a test (or a
tool judging another environment) builds its own host and either calls it directly or makes it
the default for a while with :meth:`PluginHost.as_default`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from helios.plugins._host import loader
from helios.plugins._host.discovery import Candidate, Discovery, scan
from helios.plugins._host.report import LoadReport
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Verdict
from helios.plugins._host.whatif import WhatIf
from helios.plugins.base import Plugin
from helios.plugins.device.probe import DeviceInfo, probe_machine
from helios.plugins.registry import PluginRegistry

__all__ = [
    "PluginHost",
    "build_report",
    "check_selection",
    "default_host",
    "discover",
    "load_plugins",
    "probe_device",
]


class PluginHost:
    """Discovery, settings, the device probe, loaded classes and the class registry of one
    plug-in environment.

    :param environ: where settings (``HELIOS_PLUGINS_*``) and the device probe's variables
        (``HELIOS_FAKE_DEVICE``, ``CUDA_VISIBLE_DEVICES``) come from; None reads
        ``os.environ`` at each use, so a change to it counts from the next decision on.

    The scan and the probe run once per host (``refresh=True`` runs them again); each plug-in
    is imported once per host; the registry (:attr:`registry`) resolves installed plug-ins
    through this host.
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ
        #: Classes registered by hand, and installed plug-ins resolved by class name.
        self.registry = PluginRegistry(Plugin, resolve=self.load_class)
        #: (distribution identity, plug-in id) -> the class imported, verified and registered.
        self.loaded: dict[tuple[str, str], type[Plugin]] = {}
        #: (distribution identity, class name, verdict) -> the stand-in of a plug-in that does
        #: not apply here, so that two lookups give the same class.
        self.stand_ins: dict[tuple[str, str, Verdict], type[Plugin]] = {}
        self._discovery: Discovery | None = None
        self._device: DeviceInfo | None = None

    def __repr__(self) -> str:
        scanned = (
            "not scanned"
            if self._discovery is None
            else (f"{len(self._discovery.candidates)} plug-in(s) found")
        )
        return (
            f"<PluginHost: {scanned}, {len(self.loaded)} loaded, {len(self.registry)} registered>"
        )

    # ------------------------------------------------------------------ what the host remembers
    def settings(self) -> Settings:
        """The selection settings from this host's environment, read now.

        :raises ValueError: ``HELIOS_PLUGINS_STRICT`` holds no yes/no value.
        """
        return Settings.from_env(self.environ)

    def scan(self, refresh: bool = False) -> Discovery:
        """The installed plug-ins and the scan's warnings, scanned once (``refresh``: again)."""
        if self._discovery is None or refresh:
            if refresh:
                importlib.invalidate_caches()
            self._discovery = scan()
        return self._discovery

    def discover(self, refresh: bool = False) -> tuple[Candidate, ...]:
        """The candidates of :meth:`scan` (its warnings are in the load report)."""
        return self.scan(refresh).candidates

    def probe_device(self, refresh: bool = False) -> DeviceInfo:
        """This machine's device, probed once (``refresh``: again); a failed probe is not kept.

        :raises ValueError: ``HELIOS_FAKE_DEVICE`` is set to an invalid value.
        """
        if self._device is None or refresh:
            self._device = probe_machine(self.environ)
        return self._device

    # ------------------------------------------------------------------ deciding and loading
    def build_report(
        self,
        ids: Sequence[str] | None = None,
        *,
        settings: Settings | None = None,
        device: DeviceInfo | None = None,
        refresh: bool = False,
        load: bool = False,
        what_if: WhatIf | None = None,
        wheels: Sequence[Candidate] = (),
    ) -> LoadReport:
        """Decide about every installed plug-in (or the selection ``ids``): see
        :func:`helios.plugins._host.loader.build_report`."""
        return loader.build_report(
            self,
            ids,
            settings=settings,
            device=device,
            refresh=refresh,
            load=load,
            what_if=what_if,
            wheels=wheels,
        )

    def check_selection(
        self,
        ids: Sequence[str],
        *,
        settings: Settings | None = None,
        device: DeviceInfo | None = None,
        skip_not_applicable: bool = False,
    ) -> loader.CheckedSelection:
        """Check the plug-ins ``ids`` together, importing none: see
        :func:`helios.plugins._host.loader.check_selection`."""
        return loader.check_selection(
            self, ids, settings=settings, device=device, skip_not_applicable=skip_not_applicable
        )

    def load_plugins(
        self,
        ids: Sequence[str],
        *,
        settings: Settings | None = None,
        device: DeviceInfo | None = None,
    ) -> dict[str, type[Plugin]]:
        """Check the plug-ins ``ids`` together, then import, verify and register them: see
        :func:`helios.plugins._host.loader.load_plugins`."""
        return loader.load_plugins(self, ids, settings=settings, device=device)

    def load_class(self, name: str, registered: Sequence[str] = ()) -> type[Plugin]:
        """The installed plug-in of class name ``name``, through the checked pipeline: see
        :func:`helios.plugins._host.loader.load_class`."""
        return loader.load_class(self, name, registered)

    def create_plugin(self, type_name: str, *args: Any, **kwargs: Any) -> Plugin:
        """Create the plug-in registered (or installed) here under the class name ``type_name``."""
        return self.registry.get(type_name)(*args, **kwargs)

    # ------------------------------------------------------------------ the default host
    @contextlib.contextmanager
    def as_default(self) -> Iterator[PluginHost]:
        """Make this host the default (what the module-level faces and the trainer use) until
        the block ends; then the previous default is back, whatever the block raised."""
        global _default
        previous, _default = _default, self
        try:
            yield self
        finally:
            _default = previous


_default: PluginHost | None = None


def default_host() -> PluginHost:
    """The host the module-level faces act on: made on first use, reading ``os.environ``."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default


# ---------------------------------------------------------------------- module-level faces


def build_report(
    ids: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
    refresh: bool = False,
    load: bool = False,
    what_if: WhatIf | None = None,
    wheels: Sequence[Candidate] = (),
) -> LoadReport:
    """:meth:`PluginHost.build_report` of the default host: the report on every installed
    plug-in (or the selection ``ids``); nothing is imported unless ``load`` is true.
    ``what_if`` and ``wheels``: judge another core, Python or device, and uninstalled wheels."""
    return default_host().build_report(
        ids,
        settings=settings,
        device=device,
        refresh=refresh,
        load=load,
        what_if=what_if,
        wheels=wheels,
    )


def check_selection(
    ids: Sequence[str],
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
    skip_not_applicable: bool = False,
) -> loader.CheckedSelection:
    """:meth:`PluginHost.check_selection` of the default host."""
    return default_host().check_selection(
        ids, settings=settings, device=device, skip_not_applicable=skip_not_applicable
    )


def load_plugins(
    ids: Sequence[str],
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
) -> dict[str, type[Plugin]]:
    """:meth:`PluginHost.load_plugins` of the default host: check the plug-ins ``ids``
    together, then import, verify and register them; id -> class, in the order asked."""
    return default_host().load_plugins(ids, settings=settings, device=device)


def probe_device(refresh: bool = False) -> DeviceInfo:
    """:meth:`PluginHost.probe_device` of the default host: this machine's device, probed once
    per host (``refresh=True`` probes again)."""
    return default_host().probe_device(refresh)


def discover(refresh: bool = False) -> tuple[Candidate, ...]:
    """:meth:`PluginHost.discover` of the default host: the installed plug-ins, never imported."""
    return default_host().discover(refresh)

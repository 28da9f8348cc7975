"""The plug-ins of one trainer: checks on registration, unique-override owners, and the
hook dispatch of a run (:class:`Dispatch`), built from :data:`helios.plugins.hooks.HOOKS`."""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from helios.plugins._host import claims
from helios.plugins._host.echo import quote
from helios.plugins._host.selection import PluginRequest, check_options, instantiate
from helios.plugins.errors import PluginConflictError, PluginIdTakenError
from helios.plugins.hooks import HOOKS, Phase
from helios.plugins.plugin import Plugin

if TYPE_CHECKING:
    from helios.model import Model
    from helios.plugins._host.verdicts import Verdict
    from helios.trainer import Trainer

__all__ = ["Dispatch", "PluginSet"]

Hook = Callable[..., Any]

#: The phases whose hooks the training, validation and testing loops call through a
#: :class:`Dispatch`; configuration and checkpoint hooks are called by :class:`PluginSet`.
_LOOP_PHASES = frozenset({Phase.TRAINING, Phase.VALIDATION, Phase.TESTING})


def _instantiate(request: PluginRequest, cls: type[Plugin]) -> Plugin:
    """``cls(**options)`` for a plug-in selected by id, after checking the options."""
    return instantiate(request, cls)


class PluginSet:
    """Registered plug-ins by id, with at most one owner per unique override."""

    def __init__(self) -> None:
        self.by_id: dict[str, Plugin] = {}
        self._owners: dict[str, Plugin] = {}
        self._configured: set[str] = set()
        self._set_up: set[str] = set()

    def add_installed(
        self, requests: Sequence[PluginRequest], strict: bool | None = None
    ) -> list[Verdict]:
        """Load installed plug-ins selected by id and add one of each, built from its options.

        Their manifests are checked together, and against the plug-ins registered already,
        before any of them is imported; their options are checked against their constructors
        before any of them is built. One that does not apply here is skipped, unless
        ``strict`` (None: ``HELIOS_PLUGINS_STRICT``) makes that an error.

        :returns: the verdicts of the plug-ins skipped, in the order asked.
        """
        from helios.plugins._host.host import check_selection
        from helios.plugins._host.settings import Settings

        settings = Settings.from_env()
        if strict is not None:
            settings = dataclasses.replace(settings, strict=strict)
        checked = check_selection(
            [r.plugin_id for r in requests], settings=settings, skip_not_applicable=True
        )
        for verdict in checked.verdicts:
            for flag in verdict.overrides:
                self._check_owner(
                    flag, f"{verdict.id!r} ({verdict.distribution} {verdict.version})"
                )
        classes = checked.load()
        chosen = [(r, classes[r.plugin_id]) for r in requests if r.plugin_id in classes]
        for request, cls in chosen:
            check_options(request, cls)
        for request, cls in chosen:
            self.add(_instantiate(request, cls))
        return list(checked.skipped)

    def add(self, plugin: Plugin) -> None:
        """Register ``plugin`` after checking it against the others and its own manifest."""
        if not isinstance(plugin, Plugin):
            raise TypeError(f"register_plugin() takes a helios.plugins.Plugin, found {plugin!r}")
        known = self.by_id.get(plugin.plugin_id)
        if known is plugin:
            return
        if known is not None:
            raise PluginIdTakenError(
                f"a plug-in with id {plugin.plugin_id!r} is registered already ({known!r}); "
                f"cannot also register {plugin!r}: register one of them"
            )
        _check_installed(type(plugin))
        _check_hooks(plugin)
        claimed = plugin.unique_overrides.claimed()
        cls = type(plugin)
        owner = f"plug-in {plugin.plugin_id!r} ({cls.__name__})"
        unclaimed = claims.unclaimed_hooks(owner, claims.overrides_of(cls), claimed)
        if unclaimed:
            raise PluginConflictError("; ".join(f.text for f in unclaimed))
        for flag in sorted(claimed):
            self._check_owner(flag, repr(plugin.plugin_id))
        self.by_id[plugin.plugin_id] = plugin
        for flag in claimed:
            self._owners[flag] = plugin

    def _check_owner(self, flag: str, newcomer: str) -> None:
        """Raise :class:`PluginConflictError` if another plug-in owns ``flag`` already."""
        owner = self._owners.get(flag)
        if owner is not None:
            raise PluginConflictError(
                claims.trainer_conflict(repr(owner.plugin_id), newcomer, flag)
            )

    def owner(self, flag: str) -> Plugin | None:
        """The plug-in that owns the unique override ``flag``, if any."""
        return self._owners.get(flag)

    def dispatch(self, model: Model) -> Dispatch:
        """The hooks of a run of ``model`` with these plug-ins, bound once (see
        :class:`Dispatch`)."""
        return Dispatch(self, model)

    def attach(
        self,
        trainer: Trainer,
        model: Model,
        configured_models: weakref.WeakKeyDictionary[Model, set[str]],
    ) -> None:
        """Configure each plug-in once per trainer and per model, place it, and set it up once."""
        for plugin_id, plugin in list(self.by_id.items()):
            if plugin_id not in self._configured:
                self._configured.add(plugin_id)
                plugin.configure_trainer(trainer)
        done = configured_models.setdefault(model, set())
        placement = trainer.placement()
        for plugin_id, plugin in self.by_id.items():
            if plugin_id not in done:
                done.add(plugin_id)
                plugin.configure_model(model)
            plugin.is_distributed = placement["is_distributed"]
            plugin.rank = placement["rank"]
            plugin.device = placement["device"]
            plugin.map_loc = placement["map_loc"]
            plugin.trainer = trainer
            if plugin_id not in self._set_up:
                self._set_up.add(plugin_id)
                plugin.setup()

    def state_dicts(self) -> dict[str, dict[str, Any]]:
        return {plugin_id: p.state_dict() for plugin_id, p in self.by_id.items()}

    def load_state_dicts(self, states: dict[str, dict[str, Any]]) -> None:
        for plugin_id, state in states.items():
            plugin = self.by_id.get(plugin_id)
            if plugin is None:
                name = quote(plugin_id, quote_char="'")  # read from a file: escaped and cut
                warnings.warn(
                    f"the checkpoint holds state for plug-in {name}, which this trainer does "
                    "not have; that state is ignored",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            plugin.load_state_dict(state)


class Dispatch:
    """What the loops of one run call for each hook, looked up once from the hook table.

    For a shared hook: the bound methods of the plug-ins whose class redefines it, in
    registration order, then the model's method of the same name when the model has one and
    redefines it. For an exclusive hook: its owner's method (the plug-in that claims the
    guarding flag), then the model's as above (only ``should_training_stop`` has one). A hook
    that nobody redefines is an empty tuple, so the loops call nothing for it: a plug-in that
    does not override a per-step hook costs nothing per step.
    """

    def __init__(self, plugins: PluginSet, model: Model) -> None:
        from helios.model import Model  # torch: only once a run starts

        self.calls: dict[str, tuple[Hook, ...]] = {}
        self._owners: dict[str, Hook] = {}
        for hook in HOOKS:
            if hook.phase not in _LOOP_PHASES:
                continue
            found: list[Hook] = []
            if hook.flag is None:
                found += (
                    getattr(p, hook.name)
                    for p in plugins.by_id.values()
                    if _redefines(p, Plugin, hook.name)
                )
            else:
                owner = plugins.owner(hook.flag)
                if owner is not None:
                    self._owners[hook.name] = getattr(owner, hook.name)
                    found.append(self._owners[hook.name])
            if hasattr(Model, hook.name) and _redefines(model, Model, hook.name):
                found.append(getattr(model, hook.name))
            self.calls[hook.name] = tuple(found)

    def owner(self, hook: str) -> Hook | None:
        """The bound method of the plug-in that owns the exclusive ``hook``, or None."""
        return self._owners.get(hook)

    def run(self, hook: str, *args: Any) -> None:
        """Call every method of ``hook`` with ``args`` (for hooks off the per-step path)."""
        for method in self.calls[hook]:
            method(*args)


def _redefines(obj: object, base: type, name: str) -> bool:
    """Whether ``obj`` has its own ``name``: set on the instance, or redefined by its class."""
    return name in getattr(obj, "__dict__", ()) or getattr(type(obj), name, None) is not getattr(
        base, name
    )


def _check_hooks(plugin: Plugin) -> None:
    """The hook rules of helios.plugins._host.hook_checks: a PluginError names what breaks them."""
    from helios.plugins._host.hook_checks import check_plugin_hooks

    check_plugin_hooks(plugin)


def _check_installed(cls: type[Plugin]) -> None:
    """If ``cls`` (or a base) comes from an installed plug-in distribution, run its checks."""
    from helios.plugins._host.host import discover, load_plugins

    paths = {f"{k.__module__}:{k.__qualname__}" for k in cls.__mro__}
    ids = [c.entry_name for c in discover() if c.entry_value.replace(" ", "") in paths]
    if ids:
        load_plugins(ids)

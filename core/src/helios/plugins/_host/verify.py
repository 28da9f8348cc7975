"""Import a plug-in that passed its checks and verify its class against the manifest."""

from __future__ import annotations

import importlib
import inspect
import traceback

from helios.plugins._host.checks import Failure
from helios.plugins._host.hook_checks import LISTED_PROBLEMS, class_problems
from helios.plugins._host.manifest import Manifest
from helios.plugins._host.verdicts import Reason
from helios.plugins.base import Plugin, overridden_hooks
from helios.plugins.hooks import GUARDED_HOOKS

__all__ = ["import_class", "verify_class"]


def _summarise(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frame, enough to find the fault."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def import_class(manifest: Manifest, distribution: str) -> type | Failure:
    """Import the manifest's class; an import that raises becomes an ``import-failed`` failure."""
    module_name, _, qualname = manifest.class_path.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (Exception, SystemExit) as exc:
        summary = _summarise(exc)
        return Failure(
            Reason.IMPORT_FAILED,
            f"importing {manifest.class_path} raised {summary}",
            required=f"{manifest.class_path} importable",
            found=summary,
            fix=f"fix the plug-in or reinstall it (pip install --force-reinstall {distribution}); "
            f"the installed manifest passed its checks",
        )
    if not isinstance(obj, type):
        return Failure(
            Reason.NOT_A_PLUGIN,
            f"{manifest.class_path} is {type(obj).__name__}, not a class",
            required="a subclass of helios.plugins.Plugin",
            found=type(obj).__name__,
            fix=f"point 'class' in {manifest.path} at the plug-in class",
        )
    return obj


def verify_class(cls: type, manifest: Manifest) -> Failure | None:
    """The class is a concrete Plugin whose id and unique overrides match the manifest, and
    whose hook-like methods are hooks that take the trainer's call."""
    name = manifest.class_path
    if not issubclass(cls, Plugin):
        return Failure(
            Reason.NOT_A_PLUGIN,
            f"{name} does not subclass helios.plugins.Plugin",
            required="a subclass of helios.plugins.Plugin",
            found=", ".join(b.__qualname__ for b in cls.__mro__[1:]) or "object",
            fix=f"derive {cls.__qualname__} from helios.plugins.Plugin",
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return Failure(
            Reason.NOT_A_PLUGIN,
            f"{name} is abstract: it does not implement {missing}",
            required="a concrete class",
            found=f"abstract methods: {missing}",
            fix=f"implement {missing} in {cls.__qualname__}",
        )
    class_id = getattr(cls, "plugin_id", None)
    if class_id != manifest.id:
        return Failure(
            Reason.ID_MISMATCH,
            f"{name}.plugin_id is {class_id!r} but the manifest's id is {manifest.id!r}",
            required=f"plugin_id = {manifest.id!r}",
            found=f"plugin_id = {class_id!r}",
            fix=f"set plugin_id = {manifest.id!r} on {cls.__qualname__}",
        )
    return _verify_overrides(cls, manifest) or _verify_hooks(cls)


def _verify_hooks(cls: type[Plugin]) -> Failure | None:
    """The rules of :mod:`helios.plugins._host.hook_checks`, every problem in one failure."""
    problems = class_problems(cls)
    if not problems:
        return None
    shown = problems[:LISTED_PROBLEMS]
    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return Failure(
        Reason.HOOK_MISMATCH,
        "; ".join(p.message for p in shown) + more,
        required="every public on_*, process_* or should_* method a hook that takes the "
        "trainer's call",
        found=", ".join(sorted({p.method for p in problems})[:LISTED_PROBLEMS]) + more,
        fix="; ".join(p.fix for p in shown),
    )


def _verify_overrides(cls: type[Plugin], manifest: Manifest) -> Failure | None:
    claimed = manifest.overrides.claimed()
    declared = cls.declared_overrides.claimed()
    defined = overridden_hooks(cls)

    def show(flags: frozenset[str]) -> str:
        return ", ".join(sorted(flags)) or "none"

    if declared != claimed:
        return Failure(
            Reason.OVERRIDES_MISMATCH,
            f"{cls.__qualname__}.declared_overrides claims {show(declared)} but the manifest's "
            f"[overrides] claims {show(claimed)}",
            required=show(claimed),
            found=show(declared),
            fix="make declared_overrides and [overrides] list the same flags",
        )
    unclaimed = defined - claimed
    if unclaimed:
        hooks = ", ".join(GUARDED_HOOKS[f] for f in sorted(unclaimed))
        return Failure(
            Reason.OVERRIDES_MISMATCH,
            f"{cls.__qualname__} overrides {hooks} without claiming {show(unclaimed)}",
            required=f"claims for {hooks}",
            found=f"claimed: {show(claimed)}",
            fix=f"claim {show(unclaimed)} in [overrides] and declared_overrides, or remove {hooks}",
        )
    unused = claimed - defined
    if unused:
        hooks = ", ".join(GUARDED_HOOKS[f] for f in sorted(unused))
        return Failure(
            Reason.OVERRIDES_MISMATCH,
            f"{cls.__qualname__} claims {show(unused)} but does not override {hooks}",
            required=f"an override of {hooks}",
            found="the base class's no-op",
            fix=f"implement {hooks}, or drop the claim of {show(unused)}",
        )
    return None

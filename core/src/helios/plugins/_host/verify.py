"""Import a plug-in that passed its checks and verify its class against the manifest."""

from __future__ import annotations

import importlib
import inspect
import os
import traceback
from dataclasses import replace

from helios.plugins._host import claims
from helios.plugins._host.bounded_read import FileRefused, read_regular_text
from helios.plugins._host.findings import Finding
from helios.plugins._host.hook_checks import LISTED_PROBLEMS, class_problems
from helios.plugins._host.manifest import MAX_MANIFEST_BYTES, Manifest
from helios.plugins._host.toml_source import key_lines
from helios.plugins._host.verdicts import Reason
from helios.plugins.base import Plugin

__all__ = ["import_class", "verify_class"]


def _inside(filename: str, package: str) -> bool:
    return os.path.realpath(filename).startswith(package + os.sep)


def _plugin_line(exc: BaseException, manifest: Manifest) -> tuple[str, int | None] | None:
    """Where in the plug-in's own package ``exc`` was raised: the file and line of the deepest
    traceback frame (or, for a SyntaxError, the line that does not parse) inside the folder
    of its manifest; None when no frame is the plug-in's."""
    package = os.path.realpath(os.path.dirname(manifest.path))
    if isinstance(exc, SyntaxError) and exc.filename and _inside(exc.filename, package):
        return exc.filename, exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(f.filename, package)]
    return (frames[-1].filename, frames[-1].lineno) if frames else None


def _class_line(manifest: Manifest) -> int | None:
    """The line of ``class`` in the manifest file, read again (bounded) for the message."""
    try:
        return key_lines(read_regular_text(manifest.path, MAX_MANIFEST_BYTES)).get("class")
    except (FileRefused, OSError, ValueError):
        return None


def _import_failed(exc: BaseException, manifest: Manifest, distribution: str) -> Finding:
    """``import-failed``, pointing at the plug-in's file and line: the deepest frame in its
    package, or the manifest's ``class`` when the module or class is not there at all."""
    error = f"{type(exc).__name__}: {exc}"
    at = _plugin_line(exc, manifest)
    if at is not None:
        file, line = at
        where = f"{file}:{line}" if line else file
        summary = f"{error} at {where}"
        fix = f"fix {where} in {distribution}, or reinstall it (pip install --force-reinstall {distribution})"
    else:
        file, line = manifest.path, _class_line(manifest)
        where = f"{file}:{line}" if line else file
        summary = f"{error} (the manifest's class, {where})"
        fix = (
            f"point class in {where} at the plug-in class, or reinstall the plug-in (pip install "
            f"--force-reinstall {distribution})"
        )
    return Finding(
        Reason.IMPORT_FAILED,
        f"importing {manifest.class_path} raised {summary}",
        file=file,
        key="class" if at is None else "",
        line=line,
        required=f"{manifest.class_path} importable",
        found=summary,
        fix=f"{fix}; the installed manifest passed its checks",
    )


def import_class(manifest: Manifest, distribution: str) -> type | Finding:
    """Import the manifest's class; an import that raises becomes an ``import-failed`` finding."""
    module_name, _, qualname = manifest.class_path.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (Exception, SystemExit) as exc:
        return _import_failed(exc, manifest, distribution)
    if not isinstance(obj, type):
        return Finding(
            Reason.NOT_A_PLUGIN,
            f"{manifest.class_path} is {type(obj).__name__}, not a class",
            required="a subclass of helios.plugins.Plugin",
            found=type(obj).__name__,
            fix=f"point 'class' in {manifest.path} at the plug-in class",
        )
    return obj


def verify_class(cls: type, manifest: Manifest) -> Finding | None:
    """The class is a concrete Plugin whose id and unique overrides match the manifest, and
    whose hook-like methods are hooks that take the trainer's call."""
    name = manifest.class_path
    if not issubclass(cls, Plugin):
        return Finding(
            Reason.NOT_A_PLUGIN,
            f"{name} does not subclass helios.plugins.Plugin",
            required="a subclass of helios.plugins.Plugin",
            found=", ".join(b.__qualname__ for b in cls.__mro__[1:]) or "object",
            fix=f"derive {cls.__qualname__} from helios.plugins.Plugin",
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return Finding(
            Reason.NOT_A_PLUGIN,
            f"{name} is abstract: it does not implement {missing}",
            required="a concrete class",
            found=f"abstract methods: {missing}",
            fix=f"implement {missing} in {cls.__qualname__}",
        )
    class_id = getattr(cls, "plugin_id", None)
    if class_id != manifest.id:
        return Finding(
            Reason.ID_MISMATCH,
            f"{name}.plugin_id is {class_id!r} but the manifest's id is {manifest.id!r}",
            required=f"plugin_id = {manifest.id!r}",
            found=f"plugin_id = {class_id!r}",
            fix=f"set plugin_id = {manifest.id!r} on {cls.__qualname__}",
        )
    return _verify_overrides(cls, manifest) or _verify_hooks(cls)


def _verify_hooks(cls: type[Plugin]) -> Finding | None:
    """The rules of :mod:`helios.plugins._host.hook_checks`, every problem in one failure."""
    problems = class_problems(cls)
    if not problems:
        return None
    shown = problems[:LISTED_PROBLEMS]
    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return Finding(
        Reason.HOOK_MISMATCH,
        "; ".join(p.message for p in shown) + more,
        required="every public on_*, process_* or should_* method a hook that takes the "
        "trainer's call",
        found=", ".join(sorted({p.method for p in problems})[:LISTED_PROBLEMS]) + more,
        fix="; ".join(p.fix for p in shown),
    )


def _verify_overrides(cls: type[Plugin], manifest: Manifest) -> Finding | None:
    """The claim rules of :mod:`helios.plugins._host.claims`, as one ``overrides-mismatch``."""
    claimed = manifest.overrides.claimed()
    owner = cls.__qualname__
    mismatch = claims.declared_mismatch(owner, cls.declared_overrides.claimed(), claimed)
    findings = (
        [mismatch] if mismatch else claims.claim_findings(owner, claims.overrides_of(cls), claimed)
    )
    if not findings:
        return None
    # the first kind of problem found, all of its instances: unclaimed hooks before unused claims
    same = [f for f in findings if f.code == findings[0].code]
    return replace(claims.joined(same), code=Reason.OVERRIDES_MISMATCH)

"""``helios plugins validate``: check a manifest file or a plug-in source tree, without import.

For a tree, the manifest is validated, then compared with the project's ``pyproject.toml``
(entry point, helios-trainer range) and with the plug-in class read through ``ast``: its
``plugin_id``, its ``declared_overrides``, the guarded hooks it defines, and the hook rules
of :mod:`~helios.plugins._host.hook_checks` (a hook-like method that is no hook, a hook that cannot
take the trainer's call). Methods inherited from bases in the same tree count
(:mod:`~helios.plugins.authoring.source_classes`).

Every file is read with :func:`~helios.plugins._host.bounded_read.read_regular_file` (a FIFO or a
device is refused, never opened for reading; at most :data:`MAX_PROJECT_FILE_BYTES` of a
``pyproject.toml`` or a source file), and whatever the files hold, each problem is one line.
"""

from __future__ import annotations

import ast
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from helios.plugins._host import claims, consistency
from helios.plugins._host.bounded_read import FileRefused, read_regular_file, read_regular_text
from helios.plugins._host.echo import shown
from helios.plugins._host.findings import Finding
from helios.plugins._host.hook_checks import LISTED_PROBLEMS, method_problems
from helios.plugins._host.manifest import (
    MANIFEST_FILENAME,
    Manifest,
    load_manifest,
    toml_type,
)
from helios.plugins._host.toml_source import TOMLLimitError, TOMLSyntaxError, parse_toml
from helios.plugins.authoring.source_classes import SourceClass, SourceTree, find_class, last_name
from helios.plugins.base import UniquePluginOverrides
from helios.plugins.errors import ManifestError

__all__ = ["MAX_PROJECT_FILE_BYTES", "Validation", "check_class", "validate_path"]

#: The largest ``pyproject.toml`` or plug-in source file ``validate`` reads, in bytes.
MAX_PROJECT_FILE_BYTES = 1024 * 1024


@dataclass
class Validation:
    """The outcome for one path given to ``helios plugins validate``."""

    path: str
    manifest: Manifest | None = None
    problems: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "id": self.manifest.id if self.manifest else None,
            "class": self.manifest.class_path if self.manifest else None,
            "problems": [p.to_json() for p in self.problems],
        }


def validate_path(path: Path) -> Validation:
    """Validate a manifest file, a package folder holding one, or a plug-in project tree."""
    result = Validation(str(path))
    is_dir = _is(path, stat.S_ISDIR)
    manifest_path = path  # a file, or anything else: load_manifest says what is wrong with it
    if is_dir:
        found = _find_manifest(path)
        if found is None:
            result.problems.append(
                Finding(
                    "manifest-missing",
                    f"no {MANIFEST_FILENAME} in this folder, in src/*/ or in */; a plug-in "
                    "ships it next to the __init__.py of its top-level package",
                    file=str(path),
                )
            )
            return result
        manifest_path = found
    try:
        result.manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        result.problems += [
            Finding(i.code, i.message, key=i.key, line=i.line, file=exc.path) for i in exc.issues
        ]
        return result
    if is_dir:
        result.problems += _check_project(path, manifest_path, result.manifest)
        result.problems += check_class(manifest_path.parent.parent, result.manifest)
    return result


def _is(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether ``path`` (symbolic links followed) is of ``kind``; False if it cannot be seen."""
    try:
        return kind(path.stat().st_mode)
    except (OSError, ValueError):  # missing, too long a name, a NUL byte, ...
        return False


def _find_manifest(root: Path) -> Path | None:
    for pattern in (MANIFEST_FILENAME, f"src/*/{MANIFEST_FILENAME}", f"*/{MANIFEST_FILENAME}"):
        hits = sorted(root.glob(pattern))
        if hits:
            return hits[0]
    return None


def _check_project(root: Path, manifest_path: Path, manifest: Manifest) -> list[Finding]:
    """The project's entry point, dependencies and Python range agree with the manifest
    (:mod:`~helios.plugins._host.consistency`)."""
    pyproject = next(
        (
            p / "pyproject.toml"
            for p in (root, *root.parents)
            if _is(p / "pyproject.toml", lambda mode: not stat.S_ISDIR(mode))
        ),
        None,
    )
    if pyproject is None or pyproject.parent not in (root, *manifest_path.parents):
        return []
    where = str(pyproject)
    try:
        document = parse_toml(read_regular_text(pyproject, MAX_PROJECT_FILE_BYTES))
    except FileRefused as exc:
        return [Finding("pyproject-unreadable", f"cannot read pyproject.toml: {exc}", file=where)]
    except TOMLLimitError as exc:
        return [Finding("pyproject-unreadable", exc.message, line=exc.line, file=where)]
    except TOMLSyntaxError as exc:
        return [
            Finding("pyproject-unreadable", f"not valid TOML: {exc}", line=exc.line, file=where)
        ]
    shape = _project_shape(document, where)
    if isinstance(shape, Finding):
        return [shape]
    return consistency.consistency_findings(
        consistency.Claimed.of(manifest),
        shape,
        classes=consistency.source_lookup([manifest_path.parent.parent]),
        core_version=_core_version(),
    )


def _core_version() -> str | None:
    """The helios-trainer at hand (this one), named in range messages to help decide."""
    import helios

    version: str = helios.__version__
    return version


def _project_shape(document: dict[str, Any], where: str) -> consistency.Declared | Finding:
    """What a parsed ``pyproject.toml`` declares (plug-in entry points, dependencies, Python
    range), or the first place where the file does not have the shape the packaging
    standards give it."""
    project = document.get("project", {})
    if not isinstance(project, dict):
        return _shape_problem(where, "project", "[project] must be a table", project)
    entry_points = project.get("entry-points", {})
    if not isinstance(entry_points, dict):
        return _shape_problem(
            where, "project.entry-points", "[project.entry-points] must be a table", entry_points
        )
    entries = entry_points.get("helios.plugins", {})
    key = 'project.entry-points."helios.plugins"'
    if not isinstance(entries, dict):
        return _shape_problem(where, key, f"[{key}] must be a table", entries)
    for name, value in entries.items():
        if not isinstance(value, str):
            return _shape_problem(
                where, f"{key}.{shown(name)}", "an entry point must be a string", value
            )
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list):
        return _shape_problem(
            where, "project.dependencies", "[project].dependencies must be an array", dependencies
        )
    for index, item in enumerate(dependencies):
        if not isinstance(item, str):
            return _shape_problem(
                where, f"project.dependencies[{index}]", "a dependency must be a string", item
            )
    python = project.get("requires-python")
    if python is not None and not isinstance(python, str):
        return _shape_problem(
            where, "project.requires-python", "[project].requires-python must be a string", python
        )
    return consistency.Declared(
        where, "pyproject", tuple(entries.items()), tuple(dependencies), python
    )


def _shape_problem(where: str, key: str, rule: str, value: object) -> Finding:
    return Finding(
        "pyproject-invalid",
        f"{rule} (PEP 621), found {toml_type(value)}; fix pyproject.toml",
        key=key,
        file=where,
    )


def _assigned(cls: ast.ClassDef, name: str) -> ast.expr | None:
    for node in cls.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
        ):
            return node.value
    return None


def _overrides_names(tree: ast.Module) -> set[str]:
    """Names under which the module can call ``UniquePluginOverrides`` (aliases included)."""
    names = {"UniquePluginOverrides"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names |= {
                a.asname for a in node.names if a.name == "UniquePluginOverrides" and a.asname
            }
    return names


def _declared_flags(value: ast.expr | None, callables: set[str]) -> frozenset[str] | None:
    """Flags set to True in a literal ``UniquePluginOverrides(...)`` call; None if unreadable."""
    if value is None:
        return frozenset()
    if not isinstance(value, ast.Call) or value.args:
        return None
    if last_name(value.func) not in callables:
        return None
    flags = set()
    for keyword in value.keywords:
        if not isinstance(keyword.value, ast.Constant) or not isinstance(keyword.value.value, bool):
            return None
        if keyword.value.value and keyword.arg in UniquePluginOverrides.names():
            flags.add(keyword.arg)
    return frozenset(flags)


def check_class(src: Path, manifest: Manifest) -> list[Finding]:
    """Compare the class (read with ``ast``, with the bases the tree defines) with the
    manifest's id and overrides, and apply the hook rules to its methods."""
    module, _, qualname = manifest.class_path.partition(":")
    source = SourceTree(src, MAX_PROJECT_FILE_BYTES)
    file = source.module_file(module)
    if file is None:
        return [
            Finding(
                "class-not-found",
                f"module {module!r} not found under {src}",
                key="class",
                file=manifest.path,
            )
        ]
    where = str(file)
    try:
        tree = ast.parse(read_regular_file(file, MAX_PROJECT_FILE_BYTES), filename=where)
    except FileRefused as exc:
        return [Finding("source-unreadable", f"cannot read the module: {exc}", file=where)]
    except SyntaxError as exc:
        return [Finding("syntax-error", f"cannot parse: {exc.msg}", line=exc.lineno, file=where)]
    except ValueError as exc:  # NUL bytes, on Python 3.10
        return [Finding("syntax-error", f"cannot parse: {exc}", file=where)]
    except (RecursionError, MemoryError) as exc:
        return [
            Finding(
                "syntax-error",
                f"cannot parse: the code is nested too deeply for Python's parser "
                f"({type(exc).__name__})",
                file=where,
            )
        ]
    cls = find_class(tree, qualname)
    if cls is None:
        return [
            Finding(
                "class-not-found",
                f"no class {qualname!r} defined at module level",
                key="class",
                file=where,
            )
        ]
    problems = []
    plugin_id = _assigned(cls, "plugin_id")
    found_id = plugin_id.value if isinstance(plugin_id, ast.Constant) else None
    if found_id != manifest.id:
        problems.append(
            Finding(
                "id-mismatch",
                f"{qualname}.plugin_id must be {manifest.id!r} (the manifest's id), found "
                f"{found_id!r}; set plugin_id = {manifest.id!r} in the class body",
                key="plugin_id",
                line=cls.lineno,
                file=where,
            )
        )
    claimed = manifest.overrides.claimed()
    declared = _declared_flags(_assigned(cls, "declared_overrides"), _overrides_names(tree))
    if declared is None:
        problems.append(
            Finding(
                "overrides-unreadable",
                f"{qualname}.declared_overrides must be a literal "
                "UniquePluginOverrides(flag=True, ...) so it can be checked without import",
                key="declared_overrides",
                line=cls.lineno,
                file=where,
            )
        )
    else:
        mismatch = claims.declared_mismatch(qualname, declared, claimed, where)
        if mismatch is not None:
            problems.append(replace(mismatch, line=cls.lineno))
    source.add(module, file, tree)
    found = source.methods(SourceClass(cls, module, file, tree), qualname)
    defined = found.methods
    overrides = [
        claims.Override(
            method.name, method.owner if method.inherited else None, method.path, method.line
        )
        for hook in claims.FLAG_OF
        if (method := defined.get(hook)) is not None
    ]
    problems += [  # a hook defined nowhere is missing only when every base was read
        replace(f, line=cls.lineno) if f.code == "hook-missing" else f
        for f in claims.claim_findings(
            qualname, overrides, claimed, complete=found.complete, file=where
        )
    ]
    methods = [m for m in defined.values() if m.params is not None]
    hook_problems = method_problems(
        qualname, [(m.name, m.params, m.owner if m.inherited else None) for m in methods]
    )
    at = {m.name: m for m in methods}
    problems += [
        Finding(
            p.code,
            p.message,
            file=at[p.method].path,
            key=shown(p.method),
            line=at[p.method].line,
            fix=p.fix,
        )
        for p in hook_problems[:LISTED_PROBLEMS]
    ]
    if len(hook_problems) > LISTED_PROBLEMS:
        rest = hook_problems[LISTED_PROBLEMS:]
        codes = " and ".join(sorted({p.code for p in rest}))
        problems.append(
            Finding(
                rest[0].code,
                f"and {len(rest):,} more {codes} problems in {qualname} (not listed); fix the "
                "ones above and validate again",
                line=at[rest[0].method].line,
                file=at[rest[0].method].path,
            )
        )
    return problems

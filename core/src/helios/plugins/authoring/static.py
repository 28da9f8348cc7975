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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helios.plugins._host.bounded_read import FileRefused, read_regular_file, read_regular_text
from helios.plugins._host.distinfo import ranges_on
from helios.plugins._host.echo import escape, quote, shown
from helios.plugins._host.hook_checks import LISTED_PROBLEMS, method_problems
from helios.plugins._host.manifest import (
    CORE_DISTRIBUTION,
    MANIFEST_FILENAME,
    Manifest,
    load_manifest,
    toml_type,
)
from helios.plugins._host.toml_source import TOMLLimitError, TOMLSyntaxError, parse_toml
from helios.plugins.authoring.source_classes import SourceClass, SourceTree, find_class, last_name
from helios.plugins.base import UniquePluginOverrides
from helios.plugins.errors import ManifestError
from helios.plugins.hooks import GUARDED_HOOKS

__all__ = ["MAX_PROJECT_FILE_BYTES", "Problem", "Validation", "validate_path"]

#: The largest ``pyproject.toml`` or plug-in source file ``validate`` reads, in bytes.
MAX_PROJECT_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One finding: the file and line, a stable code, the key or symbol, and the message."""

    path: str
    code: str
    message: str
    key: str = ""
    line: int | None = None

    def render(self) -> str:
        """``PATH:LINE: [KEY] message`` on one line, control characters escaped."""
        where = f"{escape(self.path)}:{self.line}" if self.line else escape(self.path)
        key = f" [{escape(self.key)}]" if self.key else ""
        return f"{where}:{key} {escape(self.message)}"


@dataclass
class Validation:
    """The outcome for one path given to ``helios plugins validate``."""

    path: str
    manifest: Manifest | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "id": self.manifest.id if self.manifest else None,
            "class": self.manifest.class_path if self.manifest else None,
            "problems": [p.__dict__ for p in self.problems],
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
                Problem(
                    str(path),
                    "manifest-missing",
                    f"no {MANIFEST_FILENAME} in this folder, in src/*/ or in */; a plug-in "
                    "ships it next to the __init__.py of its top-level package",
                )
            )
            return result
        manifest_path = found
    try:
        result.manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        result.problems += [
            Problem(exc.path, i.code, i.message, key=i.key, line=i.line) for i in exc.issues
        ]
        return result
    if is_dir:
        result.problems += _check_project(path, manifest_path, result.manifest)
        result.problems += _check_class(manifest_path.parent.parent, result.manifest)
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


def _check_project(root: Path, manifest_path: Path, manifest: Manifest) -> list[Problem]:
    """The project's entry point and core dependency agree with the manifest."""
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
        return [Problem(where, "pyproject-unreadable", f"cannot read pyproject.toml: {exc}")]
    except TOMLLimitError as exc:
        return [Problem(where, "pyproject-unreadable", exc.message, line=exc.line)]
    except TOMLSyntaxError as exc:
        return [Problem(where, "pyproject-unreadable", f"not valid TOML: {exc}", line=exc.line)]
    shape = _project_shape(document, where)
    if isinstance(shape, Problem):
        return [shape]
    entries, dependencies = shape
    problems = []
    want = {manifest.id: manifest.class_path}
    if {k: v.replace(" ", "") for k, v in entries.items()} != want:
        found = ", ".join(f"{shown(k)} = {quote(v)}" for k, v in list(entries.items())[:4])
        if len(entries) > 4:
            found += f", ... ({len(entries)} entries)"
        problems.append(
            Problem(
                where,
                "entry-point-mismatch",
                f'[project.entry-points."helios.plugins"] must be exactly '
                f'{manifest.id} = "{manifest.class_path}" (the manifest\'s id and class), '
                f"found {found or 'nothing'}",
                key='project.entry-points."helios.plugins"',
            )
        )
    ranges = ranges_on(CORE_DISTRIBUTION, dependencies)
    if ranges != [manifest.requires_helios]:
        found = ", ".join(f"{CORE_DISTRIBUTION}{r}" for r in ranges) or "no dependency on it"
        problems.append(
            Problem(
                where,
                "requires-dist-mismatch",
                f"[project].dependencies must require {CORE_DISTRIBUTION}"
                f"{manifest.requires_helios} (the manifest's requires.helios), found {found}",
                key="project.dependencies",
            )
        )
    return problems


def _project_shape(
    document: dict[str, Any], where: str
) -> tuple[dict[str, str], list[str]] | Problem:
    """The plug-in entry points and the dependencies of a parsed ``pyproject.toml``, or the
    first place where the file does not have the shape the packaging standards give it."""
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
    return entries, dependencies


def _shape_problem(where: str, key: str, rule: str, value: object) -> Problem:
    return Problem(
        where,
        "pyproject-invalid",
        f"{rule} (PEP 621), found {toml_type(value)}; fix pyproject.toml",
        key=key,
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


def _check_class(src: Path, manifest: Manifest) -> list[Problem]:
    """Compare the class (read with ``ast``, with the bases the tree defines) with the
    manifest's id and overrides, and apply the hook rules to its methods."""
    module, _, qualname = manifest.class_path.partition(":")
    source = SourceTree(src, MAX_PROJECT_FILE_BYTES)
    file = source.module_file(module)
    if file is None:
        return [
            Problem(
                manifest.path,
                "class-not-found",
                f"module {module!r} not found under {src}",
                key="class",
            )
        ]
    where = str(file)
    try:
        tree = ast.parse(read_regular_file(file, MAX_PROJECT_FILE_BYTES), filename=where)
    except FileRefused as exc:
        return [Problem(where, "source-unreadable", f"cannot read the module: {exc}")]
    except SyntaxError as exc:
        return [Problem(where, "syntax-error", f"cannot parse: {exc.msg}", line=exc.lineno)]
    except ValueError as exc:  # NUL bytes, on Python 3.10
        return [Problem(where, "syntax-error", f"cannot parse: {exc}")]
    except (RecursionError, MemoryError) as exc:
        return [
            Problem(
                where,
                "syntax-error",
                f"cannot parse: the code is nested too deeply for Python's parser "
                f"({type(exc).__name__})",
            )
        ]
    cls = find_class(tree, qualname)
    if cls is None:
        return [
            Problem(
                where,
                "class-not-found",
                f"no class {qualname!r} defined at module level",
                key="class",
            )
        ]
    problems = []
    plugin_id = _assigned(cls, "plugin_id")
    found_id = plugin_id.value if isinstance(plugin_id, ast.Constant) else None
    if found_id != manifest.id:
        problems.append(
            Problem(
                where,
                "id-mismatch",
                f"{qualname}.plugin_id must be {manifest.id!r} (the manifest's id), found "
                f"{found_id!r}; set plugin_id = {manifest.id!r} in the class body",
                key="plugin_id",
                line=cls.lineno,
            )
        )
    claimed = manifest.overrides.claimed()
    declared = _declared_flags(_assigned(cls, "declared_overrides"), _overrides_names(tree))
    if declared is None:
        problems.append(
            Problem(
                where,
                "overrides-unreadable",
                f"{qualname}.declared_overrides must be a literal "
                "UniquePluginOverrides(flag=True, ...) so it can be checked without import",
                key="declared_overrides",
                line=cls.lineno,
            )
        )
    elif declared != claimed:
        problems.append(
            Problem(
                where,
                "overrides-mismatch",
                f"{qualname}.declared_overrides claims "
                f"{_show(declared)} but the manifest's [overrides] claims {_show(claimed)}",
                key="declared_overrides",
                line=cls.lineno,
            )
        )
    source.add(module, file, tree)
    found = source.methods(SourceClass(cls, module, file, tree), qualname)
    defined = found.methods
    for flag, hook in GUARDED_HOOKS.items():
        method = defined.get(hook)
        if method is not None and flag not in claimed:
            how = f"inherits {hook} from {method.owner}" if method.inherited else f"defines {hook}"
            problems.append(
                Problem(
                    method.path,
                    "hook-unclaimed",
                    f"{qualname} {how} but the manifest does not claim {flag}; add {flag} = true "
                    "under [overrides]",
                    key=hook,
                    line=method.line,
                )
            )
    if found.complete:  # every base was read: a hook defined nowhere is missing
        for flag in sorted(claimed):
            hook = GUARDED_HOOKS[flag]
            if hook not in defined:
                problems.append(
                    Problem(
                        where,
                        "hook-missing",
                        f"the manifest claims {flag} but {qualname} does "
                        f"not define {hook}; implement it or drop the claim",
                        key=hook,
                        line=cls.lineno,
                    )
                )
    methods = [m for m in defined.values() if m.params is not None]
    hook_problems = method_problems(
        qualname, [(m.name, m.params, m.owner if m.inherited else None) for m in methods]
    )
    at = {m.name: m for m in methods}
    problems += [
        Problem(at[p.method].path, p.code, p.text, key=shown(p.method), line=at[p.method].line)
        for p in hook_problems[:LISTED_PROBLEMS]
    ]
    if len(hook_problems) > LISTED_PROBLEMS:
        rest = hook_problems[LISTED_PROBLEMS:]
        codes = " and ".join(sorted({p.code for p in rest}))
        problems.append(
            Problem(
                at[rest[0].method].path,
                rest[0].code,
                f"and {len(rest):,} more {codes} problems in {qualname} (not listed); fix the "
                "ones above and validate again",
                line=at[rest[0].method].line,
            )
        )
    return problems


def _show(flags: frozenset[str]) -> str:
    return ", ".join(sorted(flags)) or "none"

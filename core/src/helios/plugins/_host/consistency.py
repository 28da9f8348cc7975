"""Distribution consistency: what a plug-in's manifest says against what its distribution
declares (entry point, ``helios-trainer`` dependency, ``requires.packages``, ``requires.python``).

One home for the rule, used by ``helios plugins check`` (installed metadata), ``helios plugins
validate`` (a source tree's ``pyproject.toml``, or a built wheel's or sdist's metadata),
``python -m tools.release check`` and ``python -m tools.wheelhouse``.

A mismatch has two sides, and either may be the wrong one: a typo in the manifest's ``class``,
or an entry point left behind by a rename. So a finding shows both sides, and says which one
to change in each case: when the plug-in's source can be read (``validate``; ``check`` reads
the installed files, never imports them), whichever side names a class that does not exist
is the one to change; a range that admits no version at all is the one to change; otherwise
the fix names both edits and what decides between them.

Importing this module imports the standard library, ``packaging`` and nothing of helios but
:mod:`~helios.plugins._host.findings`, :mod:`~helios.plugins._host.echo` and
:mod:`~helios.plugins._host.bounded_read`, so the repository's tools can use it from the
source tree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from helios.plugins._host.bounded_read import FileRefused, read_regular_file
from helios.plugins._host.echo import literal, shown
from helios.plugins._host.findings import Finding
from helios.plugins._host.requirements import comparable_specifier

if TYPE_CHECKING:
    from helios.plugins._host.manifest import Manifest

__all__ = [
    "CORE",
    "JUDGED_CLAUSES",
    "Claimed",
    "ClassFacts",
    "ClassLookup",
    "Declared",
    "admits_nothing",
    "consistency_findings",
    "core_range",
    "entry_point",
    "packages",
    "python_range",
    "source_lookup",
]

CORE = "helios-trainer"
#: The largest module file :func:`source_lookup` reads, in bytes.
MAX_SOURCE_BYTES = 1024 * 1024

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Claimed:
    """What the manifest says (the values of a valid manifest, its file and key lines)."""

    file: str
    id: str
    class_path: str
    requires_helios: SpecifierSet
    requires_python: SpecifierSet | None = None
    packages: tuple[str, ...] = ()

    @classmethod
    def of(cls, manifest: Manifest) -> Claimed:
        return cls(
            manifest.path,
            manifest.id,
            manifest.class_path,
            manifest.requires_helios,
            manifest.requires_python,
            tuple(str(p) for p in manifest.packages),
        )


@dataclass(frozen=True)
class Declared:
    """What the distribution declares, from a ``pyproject.toml`` (``form="pyproject"``) or
    from built metadata (``form="metadata"``: a wheel's, an sdist's or an installed one)."""

    file: str
    form: Literal["pyproject", "metadata"]
    entry_points: tuple[tuple[str, str], ...]  # the helios.plugins group: (name, value)
    dependencies: tuple[str, ...]  # [project].dependencies, or the Requires-Dist lines
    requires_python: str | None = None

    def where(self, what: Literal["entry", "dependencies", "python"]) -> str:
        """How this source names an entry point, the dependencies or the Python range."""
        if self.form == "pyproject":
            return {
                "entry": '[project.entry-points."helios.plugins"]',
                "dependencies": "[project].dependencies",
                "python": "[project].requires-python",
            }[what]
        return {
            "entry": "the 'helios.plugins' entry point",
            "dependencies": "Requires-Dist",
            "python": "Requires-Python",
        }[what]

    def edit(self, what: Literal["entry", "dependencies", "python"]) -> str:
        """Where a person changes it: the pyproject.toml key (built metadata comes from there)."""
        key = {
            "entry": '[project.entry-points."helios.plugins"]',
            "dependencies": "[project].dependencies",
            "python": "[project].requires-python",
        }[what]
        return key if self.form == "pyproject" else f"{key} in pyproject.toml"

    @property
    def rebuild(self) -> str:
        """What follows an edit of pyproject.toml for this source to change."""
        return "" if self.form == "pyproject" else ", then rebuild and reinstall the plug-in"


@dataclass(frozen=True)
class ClassFacts:
    """A class found in a plug-in's source: its literal ``plugin_id`` (None if not literal)."""

    plugin_id: str | None


#: ``module:Qual.Name`` -> the facts of that class, or None when the source does not define it.
ClassLookup = Callable[[str], "ClassFacts | None"]


def source_lookup(roots: Sequence[Path]) -> ClassLookup:
    """A :data:`ClassLookup` reading modules under ``roots`` (folders holding top-level
    packages) with ``ast``; nothing is imported, every file is read bounded."""

    def lookup(class_path: str) -> ClassFacts | None:
        module, _, qualname = class_path.partition(":")
        parts = module.split(".")
        if not qualname or not all(p.isidentifier() for p in parts):
            return None
        for root in roots:
            for file in (
                root.joinpath(*parts).with_suffix(".py"),
                root.joinpath(*parts, "__init__.py"),
            ):
                try:
                    tree = ast.parse(read_regular_file(file, MAX_SOURCE_BYTES))
                except (FileRefused, SyntaxError, ValueError, RecursionError, MemoryError):
                    continue
                return _class_facts(tree, qualname)
        return None

    return lookup


def _class_facts(tree: ast.Module, qualname: str) -> ClassFacts | None:
    body: list[ast.stmt] = tree.body
    found: ast.ClassDef | None = None
    for name in qualname.split("."):
        found = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == name), None)
        if found is None:
            return None
        body = found.body
    assert found is not None
    plugin_id = None
    for node in found.body:
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        named = any(isinstance(t, ast.Name) and t.id == "plugin_id" for t in targets)
        if named and isinstance(value, ast.Constant) and isinstance(value.value, str):
            plugin_id = value.value
    return ClassFacts(plugin_id)


#: The most clauses a range may have for :func:`admits_nothing` to judge it (real ranges have
#: two or three); deciding costs the square of the clauses, so a longer range is not judged.
JUDGED_CLAUSES = 32


def admits_nothing(spec: SpecifierSet) -> bool:
    """Whether no version at all satisfies ``spec`` (``>=0.3,<0.2``): a range nobody can install.

    Tried: every version the range names, a version just above each, 0 and a huge one, all
    with pre-releases allowed; a range one of them satisfies is satisfiable. A range of more
    than :data:`JUDGED_CLAUSES` clauses is not judged (False): it comes from outside, and one
    of 100,000 clauses took hours.
    """
    if len(spec) > JUDGED_CLAUSES:
        return False
    tried: list[Version] = [Version("0"), Version("999999")]
    for item in spec:
        text = item.version.removesuffix(".*")
        try:
            version = Version(text)
        except ValueError:  # an arbitrary-equality string, or digits int() refuses
            return False  # not ours to judge
        release = ".".join(map(str, version.release))
        tried += [version, Version(f"{release}.0.1"), Version(f"{release}.post1")]
        if version.release[-1] > 0:
            lower = (*version.release[:-1], version.release[-1] - 1)
            tried.append(Version(".".join(map(str, lower)) + ".999"))
    return not any(spec.contains(v, prereleases=True) for v in tried)


def _ranges_on(name: str, lines: Iterable[str]) -> list[str]:
    """The requirement texts (after the name) of the unconditional ``lines`` on ``name``."""
    wanted = _canonical(name)
    found = []
    for line in lines:
        match = _NAME.match(line)
        if match is not None and _canonical(match.group(1)) == wanted:
            found.append(match.group(2).strip())
    return found


#: How many of a distribution's dependency lines a finding quotes before it counts the rest.
QUOTED_LINES = 4


def _some(texts: Sequence[str]) -> str:
    """The first :data:`QUOTED_LINES` of ``texts`` (each already cut), and how many more."""
    more = len(texts) - QUOTED_LINES
    listed = ", ".join(texts[:QUOTED_LINES])
    return f"{listed} and {more:,} more" if more > 0 else listed


def _spec(text: str) -> SpecifierSet | None:
    """The range ``text``; None when it is not one, or when a version in it cannot be compared
    (``==1000…`` of 5,000 digits: comparing would raise ``ValueError``)."""
    try:
        return comparable_specifier(text.removeprefix("(").removesuffix(")"))
    except InvalidSpecifier:
        return None


def entry_point(
    claimed: Claimed, declared: Declared, classes: ClassLookup | None = None
) -> Finding | None:
    """``entry-point-mismatch``: the distribution has one ``helios.plugins`` entry point,
    ``id = "class"`` as the manifest says."""
    where = declared.where("entry")
    entries = declared.entry_points
    want = f'{claimed.id} = "{shown(claimed.class_path)}"'
    if len(entries) > 1:
        shown_entries = "; ".join(f"{shown(n)} = {shown(v)}" for n, v in entries[:4])
        more = f"; ... ({len(entries)} entries)" if len(entries) > 4 else ""
        return Finding(
            "entry-point-mismatch",
            f"the distribution declares more than one 'helios.plugins' entry point "
            f"({shown_entries}{more}); one distribution ships one plug-in",
            file=declared.file,
            key=where,
            required="one entry point",
            found=f"{len(entries)} entry points",
            fix=f"keep one entry in {declared.edit('entry')} ({want}, as the manifest says)"
            f"{declared.rebuild}",
        )
    if not entries:
        return Finding(
            "entry-point-mismatch",
            f"the distribution declares no 'helios.plugins' entry point, so the core never "
            f"finds the plug-in (the manifest {claimed.file} says id = {literal(claimed.id)}, "
            f"class = {literal(claimed.class_path)})",
            file=declared.file,
            key=where,
            required=want,
            found="nothing",
            fix=f"declare {want} under {declared.edit('entry')}{declared.rebuild}",
        )
    name, value = entries[0]
    value = value.replace(" ", "")
    if (name, value) == (claimed.id, claimed.class_path):
        return None
    found = f"{shown(name)} = {shown(value)}"
    edits: list[str] = []
    if value != claimed.class_path:
        edits.append(_class_edit(claimed, declared, value, classes))
    if name != claimed.id:
        edits.append(_id_edit(claimed, declared, name, value, classes))
    return Finding(
        "entry-point-mismatch",
        f"the entry point '{found}' ({declared.file}) does not match the manifest's "
        f"id = {literal(claimed.id)}, class = {literal(claimed.class_path)} ({claimed.file})",
        file=declared.file,
        key=where,
        required=want,
        found=found,
        fix="; ".join(edits),
    )


def _class_edit(
    claimed: Claimed, declared: Declared, value: str, classes: ClassLookup | None
) -> str:
    """Which side to change when the entry point and the manifest name different classes."""
    where = declared.edit("entry")
    wanted, found = literal(claimed.class_path), literal(value)
    in_entry = f"make the entry point's value {wanted} in {where}{declared.rebuild}"
    in_manifest = f"set class = {found} in {claimed.file}"
    if classes is not None:
        manifest_has, entry_has = classes(claimed.class_path), classes(value)
        if manifest_has and not entry_has:
            return f"the manifest's class exists and the entry point's does not: {in_entry}"
        if entry_has and not manifest_has:
            return f"the entry point's class exists and the manifest's does not: {in_manifest}"
        if not entry_has and not manifest_has:
            return (
                f"neither {wanted} nor {found} is a class in the plug-in's "
                "source: point both at the plug-in class"
            )
    return f"if {wanted} is the plug-in class, {in_entry}; if {found} is, {in_manifest}"


def _id_edit(
    claimed: Claimed, declared: Declared, name: str, value: str, classes: ClassLookup | None
) -> str:
    """Which side to change when the entry point's name is not the manifest's id."""
    where = declared.edit("entry")
    wanted, found = literal(claimed.id), literal(name)
    in_entry = f"name the entry point {wanted} in {where}{declared.rebuild}"
    in_manifest = f"set id = {found} in {claimed.file}"
    facts = None
    if classes is not None:
        facts = classes(claimed.class_path) or classes(value)
    if facts is not None and facts.plugin_id == claimed.id:
        return f"the class's plugin_id is {wanted}, as the manifest says: {in_entry}"
    if facts is not None and facts.plugin_id == name:
        return (
            f"the class's plugin_id is {found}, as the entry point says: {in_manifest} "
            "(users select the plug-in by this id)"
        )
    return (
        f"the id users select is the class's plugin_id: if that is {wanted}, {in_entry}; "
        f"if it is {found}, {in_manifest}"
    )


def core_range(
    claimed: Claimed, declared: Declared, core_version: str | None = None
) -> Finding | None:
    """``requires-dist-mismatch``: the distribution depends on helios-trainer with exactly
    the manifest's ``requires.helios`` (pip installs the one, the core checks the other).

    :param core_version: the helios-trainer at hand, named in the message to help decide.
    """
    where = declared.where("dependencies")
    texts = _ranges_on(CORE, declared.dependencies)
    ranges = [s for s in map(_spec, texts) if s is not None]
    manifest_range = claimed.requires_helios
    if len(texts) == 1 and ranges == [manifest_range]:
        return None
    mine = shown(str(manifest_range))
    want = f"{CORE}{mine}"
    found = _some([shown(f"{CORE}{t}") for t in texts]) if texts else f"no dependency on {CORE}"
    base = Finding(
        "requires-dist-mismatch",
        f"{where} says {found} ({declared.file}) but the manifest's requires.helios is "
        f"{mine or 'any version'} ({claimed.file}): pip installs what "
        f"{where} says, the core checks requires.helios",
        file=declared.file,
        key=where,
        required=want,
        found=found,
    )
    manifest_empty = admits_nothing(manifest_range)
    in_deps = f"make {declared.edit('dependencies')} say '{want}'{declared.rebuild}"
    if len(ranges) != 1 or len(texts) != 1:
        if manifest_empty:
            return _with_fix(
                base,
                f"requires.helios {mine} admits no version at all: write the range "
                f"the plug-in works with in requires.helios, and the same in {declared.edit('dependencies')} (one "
                f"'{CORE}' line){declared.rebuild}",
            )
        return _with_fix(base, f"{in_deps} (one '{CORE}' line, the manifest's range)")
    declared_range = ranges[0]
    theirs = shown(str(declared_range))
    in_manifest = f"set requires.helios = {literal(str(declared_range))} in {claimed.file}"
    declared_empty = admits_nothing(declared_range)
    if manifest_empty and not declared_empty:
        return _with_fix(base, f"requires.helios {mine} admits no version at all: {in_manifest}")
    if declared_empty and not manifest_empty:
        return _with_fix(base, f"{where}'s range {theirs} admits no version at all: {in_deps}")
    if declared_empty and manifest_empty:
        return _with_fix(
            base,
            f"neither range admits any version: write the range the plug-in works with in "
            f"requires.helios and in {declared.edit('dependencies')}{declared.rebuild}",
        )
    hint = ""
    if core_version is not None:
        hint = _which_admits(core_version, manifest_range, declared_range, where)
    return _with_fix(
        base,
        f"write the helios-trainer versions the plug-in works with in both places{hint}: if "
        f"that is {mine}, {in_deps}; if it is {theirs}, {in_manifest}",
    )


def _which_admits(
    version: str, manifest_range: SpecifierSet, declared_range: SpecifierSet, where: str
) -> str:
    try:
        parsed = Version(version)
    except ValueError:
        return ""
    by_manifest = manifest_range.contains(parsed, prereleases=True)
    by_declared = declared_range.contains(parsed, prereleases=True)
    if by_manifest == by_declared:
        return ""
    says = "requires.helios" if by_manifest else where
    return f" ({CORE} {version}, the one at hand, is admitted by {says} only)"


def _with_fix(finding: Finding, fix: str) -> Finding:
    return replace(finding, fix=fix)


def packages(claimed: Claimed, declared: Declared) -> list[Finding]:
    """``packages-mismatch``: each requirement of ``requires.packages`` is a dependency of the
    distribution with the same range (pip installs the one, the core checks the other)."""
    where = declared.where("dependencies")
    findings = []
    for text in claimed.packages:
        match = _NAME.match(text)
        if match is None:
            continue
        name = match.group(1)
        asked = literal(text)
        wanted = _spec(match.group(2).partition(";")[0].strip())
        lines = [
            line
            for line in declared.dependencies
            if (m := _NAME.match(line)) is not None and _canonical(m.group(1)) == _canonical(name)
        ]
        if not lines:
            findings.append(
                Finding(
                    "packages-mismatch",
                    f"requires.packages asks for {asked} but {where} does not list {shown(name)}: pip "
                    "would not install it, and the core would report the plug-in "
                    "missing-package",
                    file=declared.file,
                    key=where,
                    required=shown(text),
                    found=f"no dependency on {shown(name)}",
                    fix=f"add {asked} to {declared.edit('dependencies')}{declared.rebuild}, or drop it from "
                    f"requires.packages in {claimed.file} if the plug-in does not need it",
                )
            )
            continue
        ranges = [_spec(_NAME.match(line).group(2).partition(";")[0].strip()) for line in lines]  # type: ignore[union-attr]
        if wanted is not None and wanted in ranges:
            continue
        found = _some([literal(line) for line in lines])
        findings.append(
            Finding(
                "packages-mismatch",
                f"requires.packages asks for {asked} but {where} says {found}: pip installs "
                "the one, the core checks the other",
                file=declared.file,
                key=where,
                required=shown(text),
                found=found,
                fix=f"write the {shown(name)} versions the plug-in works with in both places: if that "
                f"is {asked}, say so in {declared.edit('dependencies')}{declared.rebuild}; if it is {literal(lines[0])}, say "
                f"so in requires.packages in {claimed.file}",
            )
        )
    return findings


def python_range(claimed: Claimed, declared: Declared) -> Finding | None:
    """``python-mismatch``: a manifest's ``requires.python`` is the distribution's
    ``requires-python`` (pip refuses the install on another Python, the core the load)."""
    wanted = claimed.requires_python
    if wanted is None:
        return None
    where = declared.where("python")
    text = declared.requires_python
    found_spec = _spec(text) if text is not None else None
    if found_spec is not None and found_spec == wanted:
        return None
    found = literal(text) if text is not None else "nothing"
    mine = literal(str(wanted))
    if text is None:
        fix = f"add requires-python = {mine} to [project]{declared.rebuild}"
    else:
        fix = (
            f"write the Python versions the plug-in works with in both places: if that is "
            f"{mine}, say so in {declared.edit('python')}{declared.rebuild}; if it is {found}, set "
            f"requires.python = {found} in {claimed.file}"
        )
    return Finding(
        "python-mismatch",
        f"requires.python is {mine} but {where} says {found}: pip installs on the "
        "Pythons the one admits, the core loads on the Pythons the other admits",
        file=declared.file,
        key=where,
        required=shown(str(wanted)),
        found=found,
        fix=fix,
    )


def consistency_findings(
    claimed: Claimed,
    declared: Declared,
    *,
    classes: ClassLookup | None = None,
    core_version: str | None = None,
    full: bool = True,
) -> list[Finding]:
    """Every consistency finding, in this order: entry point, helios-trainer range, then
    (``full``, what ``validate`` checks) packages and Python range."""
    found = [
        entry_point(claimed, declared, classes),
        core_range(claimed, declared, core_version),
    ]
    findings = [f for f in found if f is not None]
    if full:
        findings += packages(claimed, declared)
        python = python_range(claimed, declared)
        if python is not None:
            findings.append(python)
    return findings

"""The dependency floors: every lower bound the distributions declare, as exact ``==`` pins.

    python -m tools.floors pins --python 3.11             # the pins, one per line
    python -m tools.floors check --python 3.11            # installed versions = the pins?

Sources, read from the repository's files (never written by hand): each distribution's
``[project].dependencies`` and every ``[project].optional-dependencies`` extra, its
``[build-system].requires``, and each plug-in manifest's ``requires.packages``. A requirement
whose marker is false on the given Python (``tomli>=1.1; python_version < '3.11'`` on 3.11) has
no floor there. Our own distributions (helios-trainer, helios-cuda, helios-optuna) are installed
from the working tree, not pinned: the compatibility matrix tests each plug-in against the oldest
helios-trainer release its range admits.

Every third-party requirement must have a lower bound (``>=``, ``~=``, ``==`` or ``===``), one
that its own specifier admits, and the same one wherever it is declared: the floors cell installs
one version of each, so a second, different floor could never be tested. The ``floors`` nox
session installs the pins and runs the tests there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tools.projects import (
    MANIFEST,
    REPO_ROOT,
    Project,
    TOMLDecodeError,
    all_projects,
    read_toml,
)

#: The most a pyproject.toml or manifest read here may hold (they are a few KB).
MAX_FILE_BYTES = 1 << 20
#: Specifier operators that name a version the requirement admits at its low end.
LOWER_BOUND_OPERATORS = (">=", "~=", "==", "===")


class FloorError(ValueError):
    """A declared requirement without a testable floor, or floors that disagree."""


#: Where in a project a requirement is declared (``Declared.section``).
DEPENDENCIES, EXTRA, BUILD, MANIFEST_PACKAGES = (
    "[project].dependencies",
    "[project.optional-dependencies]",
    "[build-system].requires",
    "requires.packages",
)


@dataclass(frozen=True)
class Declared:
    """One requirement line and where it is declared."""

    requirement: str
    file: str  # relative to the repository root: "core/pyproject.toml"
    section: str  # DEPENDENCIES, EXTRA, BUILD or MANIFEST_PACKAGES
    extra: str = ""  # the extra's name, for EXTRA

    @property
    def source(self) -> str:
        """``core/pyproject.toml [project.optional-dependencies] demo``."""
        return " ".join(s for s in (self.file, self.section, self.extra) if s)

    @property
    def build(self) -> bool:
        """A [build-system] requirement: its floor builds our distributions."""
        return self.section == BUILD


@dataclass(frozen=True)
class Floor:
    """The lower bound of one third-party distribution, and every declaration that gives it."""

    name: str  # canonical distribution name
    version: str  # as declared: "22" for packaging>=22
    declared: tuple[Declared, ...]

    @property
    def pin(self) -> str:
        """``packaging==22``: what the floors cell installs (``==22`` also matches ``22.0``)."""
        return f"{self.name}=={self.version}"

    @property
    def build(self) -> bool:
        """Only a build requirement: it goes into the build environments, not the venv."""
        return all(d.build for d in self.declared)

    def sources(self) -> str:
        return "; ".join(f"{d.requirement!r} in {d.source}" for d in self.declared)


def read_bounded(path: Path) -> str:
    """The text of ``path``, a regular file of at most :data:`MAX_FILE_BYTES`."""
    if not path.is_file():
        raise FloorError(f"{path}: expected a regular file, found none (or not a file)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FloorError(
            f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} a project file may hold here"
        )
    return path.read_text(encoding="utf-8")


def _toml(path: Path) -> dict[str, Any]:
    try:
        return read_toml(read_bounded(path))
    except TOMLDecodeError as exc:
        raise FloorError(f"{path}: not valid TOML ({exc})") from None


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FloorError(f"{where}: expected an array of requirement strings, found {value!r}")
    return list(value)


def project_declarations(project: Project) -> list[Declared]:
    """Every requirement ``project`` declares: dependencies, extras, build system, manifest."""
    rel = f"{project.folder}/pyproject.toml"
    data = _toml(project.pyproject)
    table = data.get("project", {})
    lines = _strings(table.get("dependencies", []), f"{rel} {DEPENDENCIES}")
    found = [Declared(line, rel, DEPENDENCIES) for line in lines]
    extras = table.get("optional-dependencies", {})
    if not isinstance(extras, dict):
        raise FloorError(f"{rel}: {EXTRA} must be a table, found {extras!r}")
    for extra, extra_lines in sorted(extras.items()):
        lines = _strings(extra_lines, f"{rel} {EXTRA} {extra}")
        found += [Declared(line, rel, EXTRA, extra) for line in lines]
    lines = _strings(data.get("build-system", {}).get("requires", []), f"{rel} {BUILD}")
    found += [Declared(line, rel, BUILD) for line in lines]
    if project.manifest_path is not None:
        manifest = _toml(project.manifest_path)
        where = f"{project.folder}/src/{project.package}/{MANIFEST}"
        packages = manifest.get("requires", {}).get("packages", [])
        lines = _strings(packages, f"{where} {MANIFEST_PACKAGES}")
        found += [Declared(line, where, MANIFEST_PACKAGES) for line in lines]
    return found


def marker_environment(python: str) -> dict[str, str]:
    """This machine's marker environment, as if the Python were ``python`` (``3.11``)."""
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(python_version=python, python_full_version=f"{python}.0", extra="")
    return env


def lower_bound(requirement: Requirement, declared: Declared) -> str:
    """The version at the low end of ``requirement``'s specifier; a FloorError if none."""
    where = f"{declared.requirement!r} in {declared.source}"
    if requirement.url:
        raise FloorError(f"{where}: a URL requirement has no version floor; name a version range")
    bounds = [s.version for s in requirement.specifier if s.operator in LOWER_BOUND_OPERATORS]
    if any(s.operator == ">" for s in requirement.specifier):
        raise FloorError(
            f"{where}: '>' names no version to install as the floor; write '>=' with the "
            "oldest version that works"
        )
    if not bounds:
        raise FloorError(
            f"{where}: no lower bound, so no floor to test; add the oldest version that works, "
            f"e.g. '{requirement.name}>=X' (the floors cell then installs X)"
        )
    try:
        floor = max(bounds, key=lambda v: Version(v.removesuffix(".*")))
    except InvalidVersion as exc:
        raise FloorError(f"{where}: {exc}") from None
    floor = floor.removesuffix(".*")
    if not requirement.specifier.contains(floor, prereleases=True):
        raise FloorError(
            f"{where}: its lower bound {floor} is excluded by the rest of the specifier; "
            "raise the lower bound to the oldest version it admits"
        )
    return floor


def declarations(root: Path) -> tuple[list[Declared], set[str]]:
    """Every declaration in the repository, and the names of our own distributions."""
    projects = all_projects(root)
    return [d for p in projects for d in project_declarations(p)], {p.name for p in projects}


def floors_of(root: Path = REPO_ROOT, python: str = "3.11") -> list[Floor]:
    """The third-party floors that apply on ``python``, sorted by name."""
    found, ours = declarations(root)
    env = marker_environment(python)
    by_name: dict[str, list[tuple[str, Declared]]] = {}
    for declared in found:
        try:
            requirement = Requirement(declared.requirement)
        except InvalidRequirement as exc:
            raise FloorError(f"{declared.source}: {declared.requirement!r}: {exc}") from None
        name = str(canonicalize_name(requirement.name))
        if name in ours:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue
        by_name.setdefault(name, []).append((lower_bound(requirement, declared), declared))
    result = []
    for name, entries in sorted(by_name.items()):
        versions = {Version(v) for v, _ in entries}
        if len(versions) > 1:
            listed = "; ".join(f"{d.requirement!r} in {d.source}" for _, d in entries)
            raise FloorError(
                f"{name}: different lower bounds ({listed}); the floors cell installs one "
                "version, so declare the same floor everywhere"
            )
        result.append(Floor(name, entries[0][0], tuple(d for _, d in entries)))
    return result


def unmet(wanted: Iterable[Floor], installed: Callable[[str], str | None]) -> list[str]:
    """One line per floor whose installed version (``installed(name)``) is not its pin."""
    problems = []
    for floor in wanted:
        found = installed(floor.name)
        if found is None:
            problems.append(f"{floor.name}: pinned {floor.pin}, found it not installed")
        elif not Requirement(floor.pin).specifier.contains(found, prereleases=True):
            # "==2.13" admits the local CPU build "2.13.0+cpu": the same release
            problems.append(f"{floor.name}: pinned {floor.pin}, found {floor.name} {found}")
    return problems


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def select(
    all_floors: Sequence[Floor], *, build: bool, only: str | None = None, skip: Iterable[str] = ()
) -> list[Floor]:
    """The build-only floors (``build=True``) or the others; ``only``: declared in that file's
    [project].dependencies (``core/pyproject.toml``: the core's own); less ``skip``."""
    dropped = {canonicalize_name(s) for s in skip}
    return [
        f
        for f in all_floors
        if f.name not in dropped
        and f.build == build
        and (only is None or any((d.file, d.section) == (only, DEPENDENCIES) for d in f.declared))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.floors", description=__doc__)
    parser.add_argument("command", choices=["pins", "check"])
    parser.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    parser.add_argument("--build", action="store_true", help="only the build-system floors")
    parser.add_argument(
        "--only", metavar="FILE", help="only FILE's [project].dependencies (core/pyproject.toml)"
    )
    parser.add_argument(
        "--skip", action="append", default=[], metavar="NAME", help="leave out NAME (repeatable)"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT)
    args = parser.parse_args(argv)
    try:
        chosen = select(
            floors_of(args.root, args.python), build=args.build, only=args.only, skip=args.skip
        )
    except FloorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "pins":
        print("\n".join(f.pin for f in chosen))
        return 0
    for floor in chosen:
        print(f"{floor.pin:<24} installed {installed_version(floor.name)}  ({floor.sources()})")
    problems = unmet(chosen, installed_version)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

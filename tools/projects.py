"""The distributions of this monorepo, read from their pyproject.toml and manifest files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: This repository's root (tools/ lives directly in it).
REPO_ROOT = Path(__file__).resolve().parents[1]
CORE = "helios-trainer"
CORE_FOLDER = "core"
PLUGINS_FOLDER = "plugins"
MANIFEST = "helios-plugin.toml"


@dataclass(frozen=True)
class Project:
    """One distribution in the repository: its folder and what its pyproject.toml declares."""

    root: Path  # the repository root
    folder: str  # relative to root, e.g. "plugins/cuda"
    name: str  # canonical distribution name
    version: str
    dependencies: tuple[str, ...]
    entry_points: dict[str, str]  # helios.plugins entry points: id -> "module:Class"
    package: str  # the top-level import package (src/<package>)

    @property
    def path(self) -> Path:
        return self.root / self.folder

    @property
    def dist_stem(self) -> str:
        """``helios_cuda-0.1.0``: how wheel and sdist file names of this version begin."""
        return f"{self.name.replace('-', '_')}-{self.version}"

    @property
    def pyproject(self) -> Path:
        return self.path / "pyproject.toml"

    @property
    def manifest_path(self) -> Path | None:
        path = self.path / "src" / self.package / MANIFEST
        return path if path.is_file() else None

    @property
    def test_folder(self) -> Path:
        """Its own tests/ (a scaffolded plug-in), else the monorepo's tests/<folder name>."""
        own = self.path / "tests"
        return own if own.is_dir() else self.root / "tests" / Path(self.folder).name

    def manifest(self) -> dict[str, Any]:
        if self.manifest_path is None:
            raise FileNotFoundError(f"{self.folder} has no src/{self.package}/{MANIFEST}")
        return tomllib.loads(self.manifest_path.read_text(encoding="utf-8"))

    def core_range(self) -> SpecifierSet | None:
        """The helios-trainer range of [project].dependencies, or None if it has none."""
        for line in self.dependencies:
            if requirement_name(line) == CORE:
                return Requirement(line).specifier
        return None


TOMLDecodeError = tomllib.TOMLDecodeError


def read_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def read_pyproject(text: str) -> dict[str, Any]:
    """The [project] table of a pyproject.toml text."""
    project = tomllib.loads(text).get("project")
    if not isinstance(project, dict):
        raise ValueError("pyproject.toml has no [project] table")
    return project


def load_project(root: Path, folder: str) -> Project:
    """The project in ``root/folder``; a ValueError names the file and what is missing."""
    path = root / folder / "pyproject.toml"
    project = read_pyproject(path.read_text(encoding="utf-8"))
    for key in ("name", "version"):
        if not isinstance(project.get(key), str):
            raise ValueError(f"{path}: [project].{key} must be a static string (no dynamic)")
    packages = sorted(p.parent.name for p in (root / folder / "src").glob("*/__init__.py"))
    if len(packages) != 1:
        raise ValueError(f"{root / folder / 'src'}: expected one import package, found {packages}")
    eps = project.get("entry-points", {}).get("helios.plugins", {})
    return Project(
        root=root,
        folder=folder,
        name=canonicalize_name(project["name"]),
        version=project["version"],
        dependencies=tuple(project.get("dependencies", [])),
        entry_points=dict(eps),
        package=packages[0],
    )


def requirement_name(requirement: str) -> str:
    """The canonical distribution name a PEP 508 requirement line asks for."""
    return canonicalize_name(Requirement(requirement).name)


def core_project(root: Path) -> Project:
    return load_project(root, CORE_FOLDER)


def plugin_projects(root: Path) -> list[Project]:
    """Every plug-in distribution under plugins/, sorted by folder."""
    folders = sorted(p.parent for p in (root / PLUGINS_FOLDER).glob("*/pyproject.toml"))
    return [load_project(root, f.relative_to(root).as_posix()) for f in folders]


def all_projects(root: Path) -> list[Project]:
    return [core_project(root), *plugin_projects(root)]


def find_project(root: Path, name: str) -> Project:
    """The project called ``name`` (distribution name or folder); a clear error otherwise."""
    wanted = canonicalize_name(name)
    projects = all_projects(root)
    for project in projects:
        folder = Path(project.folder)
        if wanted in (project.name, canonicalize_name(folder.name)) or Path(name) == folder:
            return project
    known = ", ".join(p.name for p in projects)
    raise ValueError(f"no distribution {name!r} in this repository; known: {known}")

"""The compatibility cells: each plug-in against the oldest and newest core its manifest admits.

The core versions on offer are the releases of helios-trainer found in history plus the working
tree (which stands for its own version: it is what the next release of that version will be).
The range is the manifest's ``requires.helios``, read as the core's checks read it (pre-releases
count when the range admits them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tools.projects import Project, core_project, plugin_projects
from tools.releases import Release, releases


@dataclass(frozen=True)
class CoreChoice:
    """A helios-trainer version to test against: a release in history or the working tree."""

    version: Version
    release: Release | None  # None: the working tree

    @property
    def source(self) -> str:
        return "working tree" if self.release is None else f"commit {self.release.commit[:12]}"


@dataclass(frozen=True)
class Cell:
    """One plug-in tested against one core version."""

    plugin: Project
    core: CoreChoice
    edges: tuple[str, ...]  # ("oldest",), ("newest",) or both when the range admits one

    @property
    def id(self) -> str:
        """The nox parameter id, e.g. ``cuda-core-0.1.0``."""
        return f"{self.plugin.folder.rsplit('/', 1)[-1]}-core-{self.core.version}"


def core_choices(root: Path) -> list[CoreChoice]:
    """Every core version on offer, oldest first; the tree replaces a release of its version."""
    tree = core_project(root)
    tree_version = Version(tree.version)
    choices = [CoreChoice(r.version, r) for r in releases(root, tree) if r.version != tree_version]
    choices.append(CoreChoice(tree_version, None))
    return sorted(choices, key=lambda c: c.version)


def admitted(spec: SpecifierSet, choices: list[CoreChoice]) -> list[CoreChoice]:
    return [c for c in choices if spec.contains(c.version, prereleases=True)]


def plugin_cells(plugin: Project, choices: list[CoreChoice]) -> list[Cell]:
    """The oldest and newest admitted core for ``plugin``; a ValueError when none is."""
    raw = plugin.manifest().get("requires", {}).get("helios")
    if not isinstance(raw, str):
        raise ValueError(f"{plugin.manifest_path}: requires.helios must be a version range")
    fits = admitted(SpecifierSet(raw), choices)
    if not fits:
        offered = ", ".join(str(c.version) for c in choices)
        raise ValueError(
            f"{plugin.manifest_path}: requires.helios = {raw!r} admits no helios-trainer "
            f"version in this repository (offered: {offered}); widen the range or release "
            "a matching core"
        )
    oldest, newest = fits[0], fits[-1]
    if oldest == newest:
        return [Cell(plugin, oldest, ("oldest", "newest"))]
    return [Cell(plugin, oldest, ("oldest",)), Cell(plugin, newest, ("newest",))]


#: The two ends of a plug-in's range a cell can stand for, one nox session each.
EDGES = ("oldest", "newest")


def edge_cell(root: Path, plugin: Project, edge: str) -> Cell:
    """The cell of ``plugin`` at ``edge`` of its range; reads the release history (git) now.

    When the range admits one core, both edges give the same cell (its ``edges`` name both).
    """
    if edge not in EDGES:
        raise ValueError(f"unknown edge {edge!r}: expected one of {', '.join(EDGES)}")
    (cell,) = (c for c in plugin_cells(plugin, core_choices(root)) if edge in c.edges)
    return cell


def compatibility_cells(root: Path) -> list[Cell]:
    """Every plug-in's cells, in plug-in folder order."""
    choices = core_choices(root)
    return [cell for plugin in plugin_projects(root) for cell in plugin_cells(plugin, choices)]

"""Discovery: installed plug-ins from the ``helios.plugins`` entry-point group, without import.

The scan runs once per process (:func:`discover` caches it; ``refresh=True`` scans again).
Manifests are located with a *top-level* ``find_spec``, which executes no package code.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from packaging.specifiers import SpecifierSet

from helios.plugins.distinfo import Headers, headers, ranges_on
from helios.plugins.manifest import CORE_DISTRIBUTION, MANIFEST_FILENAME

__all__ = ["ENTRY_POINT_GROUP", "Candidate", "discover"]

ENTRY_POINT_GROUP = "helios.plugins"


@dataclass(frozen=True, eq=False)
class Candidate:
    """One installed plug-in as its distribution advertises it; nothing of it is imported."""

    entry_name: str
    entry_value: str
    metadata: Headers = field(repr=False)
    other_entries: tuple[str, ...] = ()  # further entries of the same distribution (an error)

    @property
    def distribution(self) -> str:
        """The distribution's name as its metadata spells it."""
        return self.metadata.get("Name", ["?"])[0]

    @property
    def version(self) -> str:
        return self.metadata.get("Version", ["?"])[0]

    @property
    def package(self) -> str:
        """The top-level import package named by the entry point's value."""
        return self.entry_value.partition(":")[0].partition(".")[0].strip()

    @property
    def class_name(self) -> str:
        return self.entry_value.rpartition(":")[2].rpartition(".")[2].strip()

    @cached_property
    def core_requirement(self) -> SpecifierSet | None:
        """The helios-trainer range in the distribution's Requires-Dist, if it declares one."""
        ranges = ranges_on(CORE_DISTRIBUTION, self.metadata.get("Requires-Dist", []))
        return ranges[0] if ranges else None

    @cached_property
    def package_dirs(self) -> tuple[Path, ...]:
        """Where the top-level package lives, found without executing it."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return ()
        if spec is None or not spec.submodule_search_locations:
            return ()
        return tuple(Path(p) for p in spec.submodule_search_locations)

    @cached_property
    def manifest_path(self) -> Path | None:
        """The ``helios-plugin.toml`` next to the package's ``__init__.py``, if present."""
        for folder in self.package_dirs:
            candidate = folder / MANIFEST_FILENAME
            if candidate.is_file():
                return candidate
        return None


_CACHE: tuple[Candidate, ...] | None = None


def discover(refresh: bool = False) -> tuple[Candidate, ...]:
    """Every installed plug-in, one per distribution (canonical name), in ``sys.path`` order."""
    global _CACHE
    if _CACHE is None or refresh:
        if refresh:
            importlib.invalidate_caches()
        _CACHE = _scan()
    return _CACHE


def _scan() -> tuple[Candidate, ...]:
    # entry_points() already keeps only the first distribution of each normalised name on
    # sys.path (the one import would use); group the entries by that distribution.
    grouped: dict[int, tuple[md.Distribution, list[md.EntryPoint]]] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            grouped.setdefault(id(ep.dist), (ep.dist, []))[1].append(ep)
    found = []
    for dist, (first, *rest) in grouped.values():
        found.append(
            Candidate(
                entry_name=first.name,
                entry_value=first.value,
                metadata=headers(dist),  # read once per distribution
                other_entries=tuple(f"{ep.name} = {ep.value}" for ep in rest),
            )
        )
    return tuple(found)

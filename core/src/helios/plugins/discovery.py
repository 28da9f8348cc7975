"""Discovery: installed plug-ins from the ``helios.plugins`` entry-point group, without import.

The scan runs once per process (:func:`discover` caches it; ``refresh=True`` scans again).
Manifests are located with a *top-level* ``find_spec``, which executes no package code.
A plug-in is identified by its installed distribution (the metadata folder it was found in),
never by the ``Name`` its metadata claims: two folders may claim one name.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from packaging.specifiers import SpecifierSet

from helios.plugins.distinfo import Headers, headers, owned_files, ranges_on
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
    #: The distribution's metadata folder (``*.dist-info``); None when its finder has none.
    dist_info: Path | None = None
    #: Tells this distribution from every other one of the scan, whatever Name it claims.
    identity: str = ""

    @property
    def location(self) -> str:
        """Where the distribution is installed, for people: its dist-info folder, cut short."""
        if self.dist_info is None:
            return f"metadata not in a folder ({self.identity})"
        return _cut_path(str(self.dist_info))

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

    @property
    def shared_package(self) -> bool:
        """Whether the package is a namespace package spread over several folders."""
        return len(self.package_dirs) > 1

    @cached_property
    def manifest_path(self) -> Path | None:
        """The ``helios-plugin.toml`` next to the package's ``__init__.py``, if present.

        A namespace package may hold other distributions' manifests in its other folders;
        then only the one among this distribution's own installed files counts.
        """
        found = [
            d / MANIFEST_FILENAME for d in self.package_dirs if (d / MANIFEST_FILENAME).is_file()
        ]
        if not self.shared_package or not found:
            return found[0] if found else None
        own = owned_files(self.dist_info, found) if self.dist_info is not None else []
        return own[0] if own else None


_CACHE: tuple[Candidate, ...] | None = None


def discover(refresh: bool = False) -> tuple[Candidate, ...]:
    """Every installed plug-in, one per distribution, in ``sys.path`` order.

    Of metadata folders with one normalised name (``helios_cuda-0.1.0.dist-info``), only the
    first on ``sys.path`` counts, as for import; folders with different names are different
    distributions, whatever their METADATA calls them.
    """
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
    for number, (dist, (first, *rest)) in enumerate(grouped.values()):
        folder = _metadata_folder(dist)
        found.append(
            Candidate(
                entry_name=first.name,
                entry_value=first.value,
                metadata=headers(dist),  # read once per distribution
                other_entries=tuple(f"{ep.name} = {ep.value}" for ep in rest),
                dist_info=folder,
                identity=str(folder) if folder else f"{type(dist).__qualname__} #{number}",
            )
        )
    return tuple(found)


def _metadata_folder(dist: md.Distribution) -> Path | None:
    """The folder a distribution's metadata was read from (``PathDistribution`` keeps it)."""
    path = getattr(dist, "_path", None)
    return Path(path) if isinstance(path, Path) else None


_PATH_LIMIT = 160


def _cut_path(text: str) -> str:
    """A long path shortened from the left: its end (the folder's own name) is what tells."""
    return text if len(text) <= _PATH_LIMIT else "..." + text[-(_PATH_LIMIT - 3) :]

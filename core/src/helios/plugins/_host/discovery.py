"""Discovery: installed plug-ins from the ``helios.plugins`` entry-point group, without import.

:func:`scan` looks at what is installed now; a plug-in host
(:class:`~helios.plugins._host.host.PluginHost`) keeps its answer. Manifests are located with a *top-level* ``find_spec``, which executes no package code.
The copy a wheel also carries in its ``.dist-info/extra_metadata/`` is never read: the package
copy next to the code that will be imported is the one checked.
A plug-in is identified by its installed distribution (the metadata folder it was found in),
never by the ``Name`` its metadata claims: two folders may claim one name.

The scan reads each distribution's ``entry_points.txt`` itself (bounded, regular files only),
not through ``importlib.metadata.entry_points()``, so that one distribution whose file cannot
be read is skipped with a warning instead of stopping the scan (or blocking it, for a FIFO).
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from packaging.specifiers import SpecifierSet

from helios.plugins._host.bounded_read import read_regular_file
from helios.plugins._host.distinfo import (
    Headers,
    MetadataUnreadableError,
    canonical_name,
    cut_path,
    dedup_key,
    entry_points_of,
    folder_name,
    headers,
    metadata_folder,
    owned_files,
    ranges_on,
)
from helios.plugins._host.echo import escape, shown
from helios.plugins._host.manifest import (
    CORE_DISTRIBUTION,
    MANIFEST_FILENAME,
    MAX_MANIFEST_BYTES,
)

__all__ = ["ENTRY_POINT_GROUP", "Candidate", "Discovery", "scan"]

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
    #: Why its METADATA could not be read (then ``metadata`` is empty); None when it was.
    metadata_error: MetadataUnreadableError | None = field(default=None, repr=False)

    @property
    def location(self) -> str:
        """Where the distribution is installed, for people: its dist-info folder, cut short."""
        if self.dist_info is None:
            return f"metadata not in a folder ({self.identity})"
        return cut_path(str(self.dist_info))

    @property
    def distribution(self) -> str:
        """The distribution's name as its metadata spells it (as its folder does, without one)."""
        names = self.metadata.get("Name")
        if names:
            return names[0]
        named = folder_name(self.dist_info) if self.dist_info is not None else None
        return canonical_name(named[0]) if named else "?"

    @property
    def version(self) -> str:
        """The distribution's version as its metadata says (as its folder does, without one)."""
        versions = self.metadata.get("Version")
        if versions:
            return versions[0]
        named = folder_name(self.dist_info) if self.dist_info is not None else None
        return named[1] if named and named[1] else "?"

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

    def read_manifest(self, path: Path) -> bytes:
        """The bytes of the manifest at ``path`` (:attr:`manifest_path`): a regular file of at
        most :data:`~helios.plugins._host.manifest.MAX_MANIFEST_BYTES` (an uninstalled wheel's
        candidate reads its zip member instead)."""
        return read_regular_file(path, MAX_MANIFEST_BYTES)

    @cached_property
    def manifest_path(self) -> Path | None:
        """The ``helios-plugin.toml`` next to the package's ``__init__.py``, if present.

        Found with a top-level ``find_spec``, so it is the manifest of the code an import
        would run, even where another package of that name comes first on ``sys.path``. A
        namespace package may hold other distributions' manifests in its other folders; then
        only the one among this distribution's own installed files counts.
        """
        found = [
            d / MANIFEST_FILENAME for d in self.package_dirs if (d / MANIFEST_FILENAME).is_file()
        ]
        if not self.shared_package or not found:
            return found[0] if found else None
        own = owned_files(self.dist_info, found) if self.dist_info is not None else []
        return own[0] if own else None


@dataclass(frozen=True)
class Discovery:
    """One scan: the plug-ins found, and one warning per distribution that had to be skipped."""

    candidates: tuple[Candidate, ...]
    warnings: tuple[str, ...] = ()


def scan() -> Discovery:
    """Every installed plug-in, one per distribution, in ``sys.path`` order, and the warnings.

    Of metadata folders with one normalised name (``helios_cuda-0.1.0.dist-info``), only the
    first on ``sys.path`` counts, as for import and ``importlib.metadata.entry_points()``;
    folders with different names are different distributions, whatever their METADATA calls
    them. A distribution whose ``entry_points.txt`` cannot be read is skipped with a warning
    (it still shadows later folders of its name); one whose METADATA cannot be read is a
    candidate with its ``metadata_error``, for the loader to judge. Nothing is cached here.
    """
    return _scan()


def _scan() -> Discovery:
    seen: set[str] = set()
    found: list[Candidate] = []
    warnings: list[str] = []
    for number, dist in enumerate(md.distributions()):
        try:
            key = dedup_key(dist)  # from the folder's name: no file is read for it
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            entries = entry_points_of(dist, ENTRY_POINT_GROUP)
        except MetadataUnreadableError as exc:
            warnings.append(_skipped(dist, exc))
            continue
        if entries:
            found.append(_candidate(dist, entries, number))
    return Discovery(tuple(found), tuple(warnings))


def _candidate(dist: md.Distribution, entries: list[tuple[str, str]], number: int) -> Candidate:
    folder = metadata_folder(dist)
    metadata: Headers = {}
    error = None
    try:
        metadata = headers(dist)  # read once per distribution
    except MetadataUnreadableError as exc:
        error = exc
    (name, value), *rest = entries
    return Candidate(
        entry_name=name,
        entry_value=value,
        metadata=metadata,
        other_entries=tuple(f"{n} = {v}" for n, v in rest),
        dist_info=folder,
        identity=str(folder) if folder else f"{type(dist).__qualname__} #{number}",
        metadata_error=error,
    )


def _skipped(dist: md.Distribution, exc: MetadataUnreadableError) -> str:
    """The warning for a distribution the scan skips: what, why, and the fix."""
    folder = metadata_folder(dist)
    where = f"the folder {escape(cut_path(str(folder)))}" if folder else "it"
    how = f"pip install --force-reinstall {shown(exc.distribution)}" if exc.distribution else ""
    fix = f"{how}, or remove {where}" if how else f"reinstall that distribution, or remove {where}"
    return f"{exc}; the plug-ins of that distribution, if any, are not listed. Fix: {fix}"

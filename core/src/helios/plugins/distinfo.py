"""Cheap reads of installed distributions' metadata.

``importlib.metadata`` parses METADATA with the email package and ``packaging.requirements``
is slow to import; the loader needs only a few header fields and the core's range, so it
reads them directly.
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet

__all__ = [
    "Headers",
    "canonical_name",
    "headers",
    "installed_version",
    "owned_files",
    "ranges_on",
]

Headers = dict[str, list[str]]

_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def canonical_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name (``Helios_Trainer`` → ``helios-trainer``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def ranges_on(distribution: str, lines: Iterable[str]) -> list[SpecifierSet]:
    """The version ranges that unconditional PEP 508 ``lines`` put on ``distribution``.

    Lines with an environment marker or a URL are not plain ranges and are skipped.
    """
    found = []
    wanted = canonical_name(distribution)
    for line in lines:
        match = _LINE.match(line)
        if match is None or canonical_name(match.group(1)) != wanted:
            continue
        rest = match.group(2).strip()
        if ";" in rest or "@" in rest:
            continue
        try:
            found.append(SpecifierSet(rest.removeprefix("(").removesuffix(")")))
        except InvalidSpecifier:
            continue
    return found


def headers(dist: md.Distribution) -> Headers:
    """The header fields of a distribution's METADATA (or PKG-INFO), each as a list of values."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: Headers = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields.setdefault(name.strip(), []).append(value.strip())
    return fields


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return None
    return headers(dist).get("Version", [None])[0]


# A RECORD lists every installed file, a few MiB for the largest distributions known.
_RECORD_LIMIT = 64 * 1024 * 1024
_DIRECT_URL_LIMIT = 64 * 1024


def owned_files(dist_info: Path, paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` that belong to the distribution whose metadata is in ``dist_info``.

    A file is its own when its ``RECORD`` lists it (a wheel install), or when it lies in the
    project folder of an editable install (``direct_url.json``, PEP 610). Unreadable, oversized
    or malformed metadata proves nothing, so no file is owned through it.
    """
    listed = _recorded(dist_info, {path.name for path in paths})
    project = _editable_project(dist_info)
    owned = []
    for path in paths:
        real = Path(os.path.realpath(path))
        if real in listed or (project is not None and real.is_relative_to(project)):
            owned.append(path)
    return owned


def _read_small(path: Path, limit: int) -> str | None:
    """The text of ``path`` if it is a regular file of at most ``limit`` bytes, else None."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            return None
        with path.open(encoding="utf-8", errors="replace") as stream:
            return stream.read(limit)
    except OSError:
        return None


def _recorded(dist_info: Path, names: set[str]) -> set[Path]:
    """The real paths of the files named ``names`` that ``dist_info/RECORD`` lists."""
    text = _read_small(dist_info / "RECORD", _RECORD_LIMIT)
    if text is None:
        return set()
    lines = [line for line in text.splitlines() if any(name in line for name in names)]
    found = set()
    for row in csv.reader(lines):
        if row and Path(row[0]).name in names:
            found.add(Path(os.path.realpath(dist_info.parent / row[0])))
    return found


def _editable_project(dist_info: Path) -> Path | None:
    """The local project folder of an editable install, from its ``direct_url.json``."""
    text = _read_small(dist_info / "direct_url.json", _DIRECT_URL_LIMIT)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    dir_info, url = data.get("dir_info"), data.get("url")
    if not (isinstance(dir_info, dict) and dir_info.get("editable") is True):
        return None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    folder = unquote(parts.path)
    if os.name == "nt":  # file:///C:/project -> C:/project
        folder = folder.lstrip("/")
    return Path(os.path.realpath(folder)) if os.path.isabs(folder) else None

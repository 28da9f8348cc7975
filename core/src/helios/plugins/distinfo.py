"""Cheap reads of installed distributions' metadata.

``importlib.metadata`` parses METADATA with the email package and ``packaging.requirements``
is slow to import; the loader needs only a few header fields and the core's range, so it
reads them directly.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from collections.abc import Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet

__all__ = ["Headers", "canonical_name", "headers", "installed_version", "ranges_on"]

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

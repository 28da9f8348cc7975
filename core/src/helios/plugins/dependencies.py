"""Reading dependency lines cheaply, without ``packaging.requirements`` (slow to import)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet

__all__ = ["canonical_name", "ranges_on"]

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

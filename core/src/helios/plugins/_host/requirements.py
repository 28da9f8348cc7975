"""PEP 508 requirement strings for ``requires.packages``.

The plain form (``name[extras] specifiers``) is read with a regular expression and
``packaging.specifiers``; anything else (markers, URLs, odd spacing) goes to
``packaging.requirements``, whose import costs more than the rest of ``helios plugins check``.
A test holds the fast path to packaging's answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet

__all__ = [
    "InvalidRequirement",
    "PackageRequirement",
    "comparable_specifier",
    "parse_requirement",
    "unparsable_clause",
]

_PLAIN = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(?:\[(?P<extras>[A-Za-z0-9][A-Za-z0-9._-]*(?:,[A-Za-z0-9][A-Za-z0-9._-]*)*)\])?"
    r"(?P<spec>(?:(?:~=|==|!=|<=|>=|<|>|===)[A-Za-z0-9.*+!_-]+)(?:,(?:~=|==|!=|<=|>=|<|>|===)[A-Za-z0-9.*+!_-]+)*)?"
)


def unparsable_clause(spec: SpecifierSet) -> str | None:
    """The first clause of ``spec`` whose version Python cannot turn into a
    :class:`~packaging.version.Version` (``==1000…`` of 5,000 digits: ``int()`` refuses it), so
    that comparing with it would raise ``ValueError``; None when every one can be compared."""
    from packaging.version import Version

    for clause in spec:
        if clause.operator == "===":  # compared as a string
            continue
        try:
            Version(clause.version.removesuffix(".*"))
        except ValueError:
            return str(clause)
    return None


_CLAUSE = re.compile(r"(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;()]+)")


def _huge_clause(text: str) -> str | None:
    """The first clause written in ``text`` whose version cannot be turned into a
    :class:`~packaging.version.Version` (for when ``text`` could not even be parsed)."""
    from packaging.version import Version

    for operator, version in _CLAUSE.findall(text):
        if operator == "===":
            continue
        try:
            Version(version.removesuffix(".*"))
        except ValueError:
            return f"{operator}{version}"
    return None


def comparable_specifier(text: str) -> SpecifierSet:
    """``SpecifierSet(text)`` whose every version can be compared, else
    :class:`~packaging.specifiers.InvalidSpecifier` naming the clause that cannot.

    A version of 5,000 digits is refused by ``int()``: packaging 22 raises ``ValueError``
    while building the set, newer releases at the first comparison; both end here.
    """
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        raise
    except ValueError as exc:
        huge = _huge_clause(text)
        raise InvalidSpecifier(
            f"the version of {huge[:40]!r} cannot be compared" if huge else str(exc)
        ) from None
    huge = unparsable_clause(spec)
    if huge is not None:
        raise InvalidSpecifier(f"the version of {huge[:40]!r} cannot be compared")
    return spec


class InvalidRequirement(ValueError):
    """Not a PEP 508 requirement; the message says why."""


class PackageRequirement(NamedTuple):
    """One required distribution: its name, version range and environment marker (if any)."""

    name: str
    specifier: SpecifierSet
    extras: tuple[str, ...] = ()
    marker: str | None = None

    def __str__(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        marker = f"; {self.marker}" if self.marker else ""
        return f"{self.name}{extras}{self.specifier}{marker}"

    def applies(self, environment: Mapping[str, str] | None = None) -> bool:
        """Whether the marker holds here (no marker: always); extras count as not requested.

        ``environment`` replaces marker variables (a what-if's ``python_version``)."""
        if self.marker is None:
            return True
        from packaging.markers import Marker

        return Marker(self.marker).evaluate({**(environment or {}), "extra": ""})


def parse_plain(text: str) -> PackageRequirement | None:
    """The fast path: the plain form without spaces, markers or URLs; None for anything else."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        return None
    try:
        specifier = SpecifierSet(match.group("spec") or "")
    except ValueError:  # InvalidSpecifier, or packaging 22's int() refusing a huge version
        return None
    extras = tuple(sorted(set(match.group("extras").split(",")))) if match.group("extras") else ()
    return PackageRequirement(match.group("name"), specifier, extras)


#: Marker variables that are compared as versions, each set to a valid one: a marker is judged
#: by its own versions, not by this machine's (a kernel release such as ``6.1-aws`` is no PEP 440
#: version, and packaging 22 refuses to compare it).
_NEUTRAL = {
    "python_version": "3.0",
    "python_full_version": "3.0.0",
    "implementation_version": "3.0.0",
    "platform_release": "0",
    "platform_version": "0",
}


def parse_requirement(text: str) -> PackageRequirement:
    """Parse a PEP 508 string; :class:`InvalidRequirement` if it is not one."""
    plain = parse_plain(text)
    if plain is not None:
        return _comparable(plain)
    from packaging import requirements, specifiers

    try:
        req = requirements.Requirement(text)
    except (requirements.InvalidRequirement, specifiers.InvalidSpecifier) as exc:
        # packaging 22 to 24 (at least) let InvalidSpecifier out for "optuna===,optuna"
        raise InvalidRequirement(str(exc)) from None
    except ValueError as exc:  # packaging 22: a version int() refuses, while parsing
        huge = _huge_clause(text)
        raise InvalidRequirement(
            f"the version of {huge[:40]!r} cannot be compared" if huge else str(exc)
        ) from None
    marker = str(req.marker) if req.marker is not None else None
    parsed = PackageRequirement(req.name, req.specifier, tuple(sorted(req.extras)), marker)
    try:  # a version in the marker that cannot be compared raises here, once
        parsed.applies(_NEUTRAL)
    except ValueError:
        raise InvalidRequirement("its marker names a version that cannot be compared") from None
    return _comparable(parsed)


def _comparable(req: PackageRequirement) -> PackageRequirement:
    bad = unparsable_clause(req.specifier)
    if bad is not None:
        raise InvalidRequirement(f"the version of {bad[:40]!r} cannot be compared")
    return req

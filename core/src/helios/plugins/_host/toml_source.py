"""TOML parsing that keeps line numbers: the standard parser reports none for keys.

:func:`parse_toml` checks the bounds of :mod:`helios.plugins._host.toml_limits` before the parser
sees the text, so no text makes it recurse without end or build huge integers.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from helios.plugins._host.toml_limits import TOMLLimitError, check_limits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["KeyLines", "TOMLLimitError", "TOMLSyntaxError", "key_lines", "parse_toml"]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_PART = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_KEY_LINE = re.compile(rf"^\s*({_DOTTED})\s*=")
_TABLE_LINE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_PART_RE = re.compile(_PART)
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


class TOMLSyntaxError(ValueError):
    """The text is not TOML 1.0; ``line`` is where the parser stopped, when it says."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def parse_toml(text: str) -> dict[str, Any]:
    """Parse ``text`` as TOML; syntax errors become :class:`TOMLSyntaxError` with a line.

    :raises TOMLLimitError: the text exceeds a bound (nesting, digits, key parts); it was not
        parsed.
    """
    check_limits(text)
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _AT_LINE.search(message)
        line = int(found.group(1)) if found else getattr(exc, "lineno", None)
        return_msg = _AT_LINE.sub("", message).strip()
        raise TOMLSyntaxError(return_msg, line) from None


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART_RE.findall(dotted))


class _Node:
    """One key part: the line it first appears on (0: not placed) and the parts below it."""

    __slots__ = ("children", "line")

    def __init__(self) -> None:
        self.line = 0
        self.children: dict[str, _Node] = {}

    def walk(self, parts: tuple[str, ...], number: int | None) -> _Node:
        """The node at ``parts`` below this one, made if missing; ``number`` set on the way."""
        node = self
        for part in parts:
            node = node.children.setdefault(part, _Node())
            if number is not None and not node.line:
                node.line = number
        return node


class KeyLines:
    """Where each dotted key (``requires.helios``) and table header first appears (1-based).

    A line scanner, not a parser: good enough to point a person at the right line of a
    well-formed file; keys it cannot place are simply absent. Built in time and memory linear
    in the text: prefixes are kept as a tree of parts, never as joined strings.
    """

    def __init__(self, text: str) -> None:
        self._root = _Node()
        table = self._root
        for number, line in enumerate(text.split("\n"), start=1):
            header = _TABLE_LINE.match(line)
            if header:
                table = self._root.walk(_split(header.group(1)), None)
                table.line = table.line or number
                continue
            key = _KEY_LINE.match(line)
            if key:
                table.walk(_split(key.group(1)), number)

    def get(self, dotted: str) -> int | None:
        """The line of ``dotted`` (parts joined by ``.``), or None if it was not placed."""
        node: _Node | None = self._root
        for part in dotted.split("."):
            node = node.children.get(part) if node is not None else None
        return (node.line or None) if node is not None else None


def key_lines(text: str) -> KeyLines:
    """The :class:`KeyLines` of ``text``."""
    return KeyLines(text)

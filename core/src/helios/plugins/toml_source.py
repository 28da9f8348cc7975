"""TOML parsing that keeps line numbers: the standard parser reports none for keys."""

from __future__ import annotations

import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["TOMLSyntaxError", "key_lines", "parse_toml"]

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
    """Parse ``text`` as TOML; syntax errors become :class:`TOMLSyntaxError` with a line."""
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


def key_lines(text: str) -> dict[str, int]:
    """Map each dotted key (``requires.helios``) and table header to its first line (1-based).

    A line scanner, not a parser: good enough to point a person at the right line of a
    well-formed file; keys it cannot place are simply absent.
    """
    lines: dict[str, int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.split("\n"), start=1):
        header = _TABLE_LINE.match(line)
        if header:
            table = _split(header.group(1))
            lines.setdefault(".".join(table), number)
            continue
        key = _KEY_LINE.match(line)
        if key:
            parts = table + _split(key.group(1))
            for end in range(len(table) + 1, len(parts) + 1):
                lines.setdefault(".".join(parts[:end]), number)
    return lines

"""Echoing text read from outside (manifests, metadata, file names) in messages, safely.

Whatever a manifest holds, a message shows at most :data:`ECHO_LIMIT` characters of it, with
every character that is not printable (controls such as ESC or CR, line and paragraph
separators, format characters) written as a Python escape, so nothing reaches a terminal raw.
"""

from __future__ import annotations

__all__ = ["ECHO_LIMIT", "escape", "literal", "quote", "shown"]

#: How many characters of an outside value a message shows before cutting it.
ECHO_LIMIT = 80


def _escaped(char: str, quote_char: str) -> str:
    if char == "\\" and quote_char:
        return "\\\\"
    if char == quote_char:
        return "\\" + char
    if char.isprintable():
        return char
    return repr(char)[1:-1]  # '\x1b', '\r', '\u2028', '\U000e0001'


def _render(text: str, limit: int | None, quote_char: str, keep: str) -> str:
    plain = text.isprintable() and not (quote_char and ("\\" in text or quote_char in text))
    if plain and (limit is None or len(text) <= limit):
        return f"{quote_char}{text}{quote_char}"
    out: list[str] = []
    width = 0
    for char in text:
        if limit is not None and width >= limit:
            return f"{quote_char}{''.join(out)}{quote_char}... ({len(text):,} characters)"
        piece = char if char in keep else _escaped(char, quote_char)
        out.append(piece)
        width += len(piece)
    return f"{quote_char}{''.join(out)}{quote_char}"


def escape(text: str, keep: str = "") -> str:
    """``text`` with every non-printable character escaped, except those in ``keep``."""
    return _render(text, None, "", keep)


def shown(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` escaped and cut to about ``limit`` characters, saying how long it was."""
    return _render(text, limit, "", "")


def quote(text: str, limit: int = ECHO_LIMIT, quote_char: str = '"') -> str:
    """``text`` in quotes, escaped (the quote and backslashes too) and cut like :func:`shown`:
    ``"abc"``, ``"\\x1b[31m"``, ``"aaa..."... (5,000 characters)``."""
    return _render(text, limit, quote_char, "")


def literal(text: str, limit: int = ECHO_LIMIT) -> str:
    """:func:`quote` with the quotes ``repr`` would choose (single, unless ``text`` holds a
    single quote and no double one): what ``{text!r}`` shows, escaped and cut."""
    quote_char = '"' if "'" in text and '"' not in text else "'"
    return quote(text, limit, quote_char)

"""Bounds a TOML text must keep before it is handed to the parser.

tomllib recurses once per nested array or inline table (a ~1 KB text of ``[[[[…`` raises
``RecursionError``), turns every integer into a Python ``int`` (more than 4,300 digits raise
``ValueError``; a hex literal of a million digits takes seconds and cannot be printed), and
spends time and memory quadratic in the parts of a dotted key. :func:`check_limits` refuses such
a text first, with one linear pass of a small tokenizer that knows TOML's four kinds of string
and its comments, so what it counts is what the parser would see.
"""

from __future__ import annotations

import re

__all__ = [
    "LIMIT_CODES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_KEY_PARTS",
    "TOMLLimitError",
    "check_limits",
]

#: Arrays and inline tables nested deeper than this are refused (a manifest needs 2).
MAX_DEPTH = 32
#: A number (or a bare key starting with a digit) longer than this is refused; the longest
#: TOML integer is a 64-digit binary literal.
MAX_DIGITS = 100
#: A dotted key (or table header) with more parts than this is refused (a manifest needs 2).
MAX_KEY_PARTS = 32
#: The issue code of each bound.
LIMIT_CODES = ("too-deep", "too-many-digits", "too-many-key-parts")

_TOKEN = re.compile(
    r"""(?P<string>\"\"\"|'''|"|')"""
    r"|(?P<comment>\#[^\n]*)"
    r"|(?P<bare>[A-Za-z0-9_+\-:]+)"
    r"|(?P<dot>\.)"
    r"|(?P<open>[\[{])"
    r"|(?P<close>[\]}])"
    r"|(?P<space>[ \t]+)"
    r"""|(?P<other>[^"'\#A-Za-z0-9_+\-:.\[\]{} \t]+)"""
)
# Where each kind of string ends; an unterminated one runs to the end of its line (one-line
# strings) or of the text. Escapes are a backslash and any one character, as TOML reads them;
# a lone backslash may end the text.
_STRING_END = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\\?\Z)', re.S),
    "'": re.compile(r"[^'\n]*(?:'|(?=\n)|\Z)"),
    '"""': re.compile(r'(?:[^"\\]|\\.|"{1,2}(?!"))*(?:"""(?:""?)?|\\?\Z)', re.S),
    "'''": re.compile(r"(?:[^']|'{1,2}(?!'))*(?:'''(?:''?)?|\Z)"),
}


class TOMLLimitError(ValueError):
    """The text exceeds one of the bounds; ``code`` names it, ``line`` is where (1-based)."""

    def __init__(self, code: str, message: str, line: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


def _error(text: str, at: int, code: str, message: str) -> TOMLLimitError:
    return TOMLLimitError(code, message, text.count("\n", 0, at) + 1)


def check_limits(text: str) -> None:
    """Raise :class:`TOMLLimitError` at the first bound ``text`` exceeds; linear in its length."""
    depth = 0
    parts = 0  # parts of the dotted key (or value) being read
    after_dot = False
    pos = 0
    end = len(text)
    while pos < end:
        token = _TOKEN.match(text, pos)
        if token is None:  # pragma: no cover - the pattern matches every character
            raise AssertionError(f"tokenizer stuck at {pos}")
        kind = token.lastgroup
        start, pos = token.start(), token.end()
        if kind == "string" or kind == "bare":
            parts = parts + 1 if after_dot else 1
            after_dot = False
            if parts > MAX_KEY_PARTS:
                raise _error(
                    text,
                    start,
                    "too-many-key-parts",
                    f"a dotted key of more than {MAX_KEY_PARTS} parts; keys of at most "
                    f"{MAX_KEY_PARTS} parts are read",
                )
            if kind == "string":
                ended = _STRING_END[token.group()].match(text, pos)
                pos = end if ended is None else ended.end()  # unmatched: runs to the end
            elif token.group().lstrip("+-")[:1].isdigit():
                digits = sum(c.isalnum() for c in token.group())
                if digits > MAX_DIGITS:
                    raise _error(
                        text,
                        start,
                        "too-many-digits",
                        f"a number of {digits:,} digits; numbers have at most {MAX_DIGITS} "
                        "digits (the largest TOML integer has 19 in decimal)",
                    )
        elif kind == "dot":
            after_dot = True
        elif kind != "space":
            parts, after_dot = 0, False
            if kind == "open":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _error(
                        text,
                        start,
                        "too-deep",
                        f"arrays and inline tables nested more than {MAX_DEPTH} levels deep; "
                        f"at most {MAX_DEPTH} levels are read",
                    )
            elif kind == "close":
                depth = max(depth - 1, 0)

"""Echoing outside text in messages: escaped, cut, never raw."""

from __future__ import annotations

import pytest

from helios.plugins._host.echo import ECHO_LIMIT, escape, literal, quote, shown


def test_printable_text_is_unchanged() -> None:
    assert shown("Café — 調整 🔬") == "Café — 調整 🔬"
    assert escape("plain") == "plain"


@pytest.mark.parametrize(
    ("char", "written"),
    [
        ("\x1b", "\\x1b"),
        ("\r", "\\r"),
        ("\n", "\\n"),
        ("\x00", "\\x00"),
        ("\x85", "\\x85"),
        ("\u2028", "\\u2028"),
        ("\u202e", "\\u202e"),  # right-to-left override
        ("\u200d", "\\u200d"),  # zero-width joiner: every format character is escaped
        ("\U000e0001", "\\U000e0001"),  # a tag character
    ],
)
def test_non_printable_characters_are_escaped(char: str, written: str) -> None:
    assert shown(f"a{char}b") == f"a{written}b"
    assert escape(f"a{char}b") == f"a{written}b"


def test_escape_keeps_what_it_is_told_to() -> None:
    assert escape("one\ntwo\rthree", keep="\n") == "one\ntwo\\rthree"


def test_long_text_is_cut_with_its_length() -> None:
    assert ECHO_LIMIT == 80
    assert shown("x" * 81) == "x" * 80 + "... (81 characters)"
    assert shown("x" * 80) == "x" * 80
    assert shown("y" * 5000, limit=3) == "yyy... (5,000 characters)"


def test_the_cut_counts_escapes() -> None:
    """Escapes widen the text: the cut applies to what is shown."""
    assert shown("\x1b" * 100, limit=8) == "\\x1b\\x1b... (100 characters)"


def test_quote_escapes_its_quote_and_backslashes() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("it's", quote_char="'") == "'it\\'s'"
    assert quote("\x1b[2J") == '"\\x1b[2J"'
    assert quote("z" * 90) == '"' + "z" * 80 + '"... (90 characters)'


@pytest.mark.parametrize(
    "text",
    ["abc", "it's", 'say "hi"', "both ' and \"", "back\\slash", "", "é ü"],
)
def test_literal_is_repr_for_short_printable_text(text: str) -> None:
    assert literal(text) == repr(text)


def test_literal_escapes_and_cuts() -> None:
    assert literal("a\x1b[2J'") == '"a\\x1b[2J\'"'
    assert literal("x" * 100) == "'" + "x" * 80 + "'... (100 characters)"

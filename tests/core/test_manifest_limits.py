"""The bounds a manifest is held to before it is parsed, and the bounded file reader."""

from __future__ import annotations

import os
import socket
import sys
import tracemalloc
from pathlib import Path

import pytest

from helios.plugins._host.bounded_read import FileRefused, read_regular_file
from helios.plugins._host.manifest import MANIFEST_FILENAME, MAX_MANIFEST_BYTES, load_manifest
from helios.plugins._host.manifest import parse_manifest as parse
from helios.plugins._host.toml_limits import MAX_DEPTH, MAX_DIGITS, MAX_KEY_PARTS, check_limits
from helios.plugins._host.toml_source import KeyLines, TOMLLimitError, parse_toml
from helios.plugins.errors import ManifestError, ManifestIssue
from support.intlimit import needs_int_limit

MINIMAL = """\
manifest-version = 1
id = "example"
class = "helios_example.plugin:ExamplePlugin"

[requires]
helios = ">=0.1,<0.2"
"""
DEEP = "arrays and inline tables nested more than 32 levels deep; at most 32 levels are read"
PARTS = "a dotted key of more than 32 parts; keys of at most 32 parts are read"


def issues(text: str) -> list[ManifestIssue]:
    with pytest.raises(ManifestError) as caught:
        parse(text, "m.toml", package="helios_example")
    return list(caught.value.issues)


def digits(count: int) -> str:
    return (
        f"a number of {count:,} digits; numbers have at most {MAX_DIGITS} digits (the largest "
        "TOML integer has 19 in decimal)"
    )


def test_the_limits_are_generous_and_fixed() -> None:
    assert (MAX_MANIFEST_BYTES, MAX_DEPTH, MAX_DIGITS, MAX_KEY_PARTS) == (65_536, 32, 100, 32)


# --- nesting ------------------------------------------------------------------------------


def test_a_thousand_nested_arrays_are_one_issue() -> None:
    text = MINIMAL + "x = " + "[" * 1000 + "]" * 1000 + "\n"
    assert issues(text) == [ManifestIssue("too-deep", "", DEEP, 7)]


def test_inline_tables_and_arrays_nest_together() -> None:
    text = MINIMAL + "x = " + "{a = [" * 17 + "1" + "]}" * 17 + "\n"
    assert issues(text) == [ManifestIssue("too-deep", "", DEEP, 7)]


def test_nesting_at_the_limit_is_parsed() -> None:
    text = MINIMAL + "x = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert [(i.code, i.key) for i in issues(text)] == [("unknown-key", "requires.x")]


def test_an_array_spanning_lines_reports_the_line_it_got_too_deep() -> None:
    text = MINIMAL + "x = [\n" + "[\n" * MAX_DEPTH + "]\n" * (MAX_DEPTH + 1)
    assert issues(text) == [ManifestIssue("too-deep", "", DEEP, 7 + MAX_DEPTH)]


@pytest.mark.parametrize(
    "value",
    [
        '"' + "[" * 100 + '"',
        "'" + "{" * 100 + "'",
        '"""\n' + "[" * 100 + '\n"""',
        "'''" + "[" * 100 + "'''",
        '"\\"' + "[" * 100 + '"',
        "1 # " + "[" * 100,
    ],
    ids=["basic", "literal", "multi-line-basic", "multi-line-literal", "escaped-quote", "comment"],
)
def test_brackets_in_strings_and_comments_do_not_nest(value: str) -> None:
    assert [(i.code, i.key) for i in issues(MINIMAL + f"note = {value}\n")] == [
        ("unknown-key", "requires.note")
    ]


@pytest.mark.parametrize(
    "before",
    [
        "note = 'C:\\'",  # a literal string ends at its quote: a backslash escapes nothing
        'note = "a\\\\"',  # an escaped backslash, then the closing quote
        'note = """a""""',  # a multi-line string closed by four quotes (one is content)
        "note = '''a'''''",  # the same with apostrophes (two are content)
        'note = """a\\""""',  # an escaped quote, then the closing delimiter
    ],
)
def test_the_scan_sees_where_each_string_ends(before: str) -> None:
    text = MINIMAL + before + "\nx = " + "[" * 1000 + "]" * 1000 + "\n"
    assert issues(text) == [ManifestIssue("too-deep", "", DEEP, 8)]


# --- digits -------------------------------------------------------------------------------


def test_an_integer_of_4301_digits_is_one_issue() -> None:
    text = MINIMAL.replace("manifest-version = 1", "manifest-version = " + "9" * 4301)
    assert issues(text) == [ManifestIssue("too-many-digits", "", digits(4301), 1)]


def test_a_hex_integer_of_5000_digits_is_one_issue() -> None:
    text = MINIMAL + "[device]\nmin-devices = 0x" + "f" * 5000 + "\n"
    assert issues(text) == [ManifestIssue("too-many-digits", "", digits(5002), 8)]


def test_a_long_fraction_counts_too() -> None:
    text = MINIMAL + "x = 1." + "5" * 101 + "\n"
    assert issues(text) == [ManifestIssue("too-many-digits", "", digits(101), 7)]


def test_a_number_at_the_limit_is_parsed_and_echoed_cut() -> None:
    number = "1" + "0" * (MAX_DIGITS - 1)
    (issue,) = issues(MINIMAL.replace("manifest-version = 1", f"manifest-version = {number}"))
    assert issue == ManifestIssue(
        "version-too-new",
        "manifest-version",
        "this helios-trainer understands manifest-version up to 1, found "
        f"{number[:80]}... (100 characters); upgrade helios-trainer (pip install -U "
        "helios-trainer)",
        1,
    )


def test_digits_in_strings_and_underscores_do_not_count() -> None:
    text = MINIMAL + f'[device]\naccelerator = "cuda"\nmin-devices = 1{"_0" * 5}\n'
    assert parse(text + f"[overrides]\n# {'9' * 5000}\n").device.min_devices == 100_000
    summary = parse(MINIMAL.replace("[requires]", f'summary = "{"9" * 5000}"\n[requires]'))
    assert summary.summary == "9" * 5000


# --- dotted keys --------------------------------------------------------------------------


def test_a_key_of_20000_parts_is_one_issue() -> None:
    text = MINIMAL + "a" + ".a" * 20_000 + " = 1\n"
    assert issues(text) == [ManifestIssue("too-many-key-parts", "", PARTS, 7)]


@pytest.mark.parametrize(
    "key",
    [
        ".".join(f"k{i}" for i in range(MAX_KEY_PARTS + 1)),
        " . ".join(f'"k{i}"' for i in range(MAX_KEY_PARTS + 1)),
        "[" + ".".join(["t"] * (MAX_KEY_PARTS + 1)) + "]\nx",
    ],
    ids=["bare", "quoted-with-spaces", "table-header"],
)
def test_every_way_to_write_a_long_key(key: str) -> None:
    assert issues(MINIMAL + key + " = 1\n") == [ManifestIssue("too-many-key-parts", "", PARTS, 7)]


def test_a_key_at_the_limit_is_parsed() -> None:
    key = ".".join(["a"] * MAX_KEY_PARTS)
    assert [(i.code, i.key) for i in issues(MINIMAL + key + " = 1\n")] == [
        ("unknown-key", "requires.a")
    ]


def test_a_key_of_100000_parts_is_refused_by_the_scan_alone() -> None:
    with pytest.raises(TOMLLimitError) as caught:
        check_limits("a" + ".a" * 100_000 + " = 1\n")
    assert (caught.value.code, caught.value.line) == ("too-many-key-parts", 1)


def test_parse_toml_holds_every_text_to_the_bounds() -> None:
    """pyproject.toml files go through parse_toml too."""
    with pytest.raises(TOMLLimitError) as caught:
        parse_toml("[tool.x]\ny = " + "[" * 500 + "]" * 500)
    assert (caught.value.code, caught.value.message, caught.value.line) == ("too-deep", DEEP, 2)


def test_key_lines_grow_linearly() -> None:
    """The old scanner stored every prefix of a dotted key as a string (quadratic memory)."""
    text = "a" + ".a" * 5000 + " = 1\n"
    tracemalloc.start()
    try:
        lines = KeyLines(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500 * len(text), peak
    assert lines.get(".".join(["a"] * 5001)) == 1
    assert lines.get("a.b") is None


# --- size ---------------------------------------------------------------------------------


def test_a_text_over_the_size_limit() -> None:
    text = "#" * (MAX_MANIFEST_BYTES + 1)
    assert issues(text) == [
        ManifestIssue(
            "too-large",
            "",
            "the manifest holds 65,537 characters; at most 65,536 are read (a manifest needs "
            "about 1 KB)",
        )
    ]


def test_a_text_at_the_size_limit_is_parsed() -> None:
    padding = "#" * (MAX_MANIFEST_BYTES - len(MINIMAL) - 1) + "\n"
    assert parse(MINIMAL + padding).id == "example"


def test_a_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    path.write_text("#" * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.issues == (
        ManifestIssue(
            "too-large", "", "the file holds 65,537 bytes; at most 65,536 bytes are read"
        ),
    )


def test_a_sparse_file_of_64_gib_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    with path.open("wb") as handle:
        try:
            handle.truncate(64 << 30)
        except OSError as exc:  # pragma: no cover - a file system without sparse files
            pytest.skip(f"cannot make a sparse file here: {exc}")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert [i.message for i in caught.value.issues] == [
        "the file holds 68,719,476,736 bytes; at most 65,536 bytes are read"
    ]


def test_a_reader_returning_too_much() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(Path("x.toml"), read=lambda _: b" " * (MAX_MANIFEST_BYTES + 10))
    assert [i.message for i in caught.value.issues] == [
        "the manifest holds 65,546 bytes; at most 65,536 are read (a manifest needs about 1 KB)"
    ]


# --- the bounded reader -------------------------------------------------------------------


def refused(path: Path | str, limit: int = 100) -> tuple[str, str]:
    with pytest.raises(FileRefused) as caught:
        read_regular_file(path, limit)
    return caught.value.code, caught.value.message


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, 100) == b"x" * 100
    assert refused(path, 99) == ("too-large", "the file holds 100 bytes; at most 99 bytes are read")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert refused(fifo) == (
        "not-a-file",
        "not a regular file but a FIFO (named pipe); only regular files are read",
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_link_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    link = tmp_path / MANIFEST_FILENAME
    link.symlink_to("/dev/zero")
    with pytest.raises(ManifestError) as caught:
        load_manifest(link)
    assert caught.value.issues == (
        ManifestIssue(
            "not-a-file",
            "",
            "not a regular file but a character device; only regular files are read",
        ),
    )


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_a_socket_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s"
    monkeypatch.chdir(tmp_path)  # a socket's path is at most 107 bytes: bind by a relative name
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("s")
        assert refused(path) == (
            "not-a-file",
            "not a regular file but a socket; only regular files are read",
        )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
def test_a_file_whose_size_lies_is_cut_one_byte_past_the_limit() -> None:
    assert os.stat("/proc/self/status").st_size == 0
    assert refused("/proc/self/status", 10) == (
        "too-large",
        "the file holds more than 10 bytes; at most 10 bytes are read",
    )


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    code, message = refused(tmp_path / "nothing")
    assert (code, message) == ("unreadable", f"cannot read the file: {os.strerror(2)}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_a_name_too_long_is_unreadable(tmp_path: Path) -> None:
    code, message = refused(tmp_path / ("n" * 300))
    assert (code, message) == ("unreadable", "cannot read the file: File name too long")


@pytest.mark.parametrize("opener", ['"', '"""', "'", "'''"])
@pytest.mark.parametrize("body", ["\\", '0.1\\"\\', "x\\\\\\"])
def test_a_string_cut_off_after_a_backslash_is_an_issue_not_a_crash(opener: str, body: str) -> None:
    """Found by the fuzz test: the pre-scan asserted on a backslash ending the text."""
    check_limits(f"helios = {opener}{body}")  # within every bound: TOML itself refuses it
    with pytest.raises(ManifestError) as caught:
        parse(f"manifest-version = 1\n[requires]\nhelios = {opener}{body}", "m.toml")
    assert [issue.code for issue in caught.value.issues] == ["toml-syntax"]


BIG_VERSION = "1" + "0" * 5_000  # int() refuses it: comparing with it raises ValueError


@needs_int_limit
@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        (
            f'helios = "=={BIG_VERSION}"',
            "requires.helios",
            "expected a PEP 440 version specifier such as '>=0.1,<0.2', found "
            f'"=={BIG_VERSION[:78]}"... (5,003 characters) (the version of '
            f"'=={BIG_VERSION[:38]}' cannot be compared)",
        ),
        (
            f'helios = ">=0.1,<0.2"\npackages = ["weird>={BIG_VERSION}"]',
            "requires.packages[0]",
            "expected a PEP 508 requirement such as 'optuna>=4.0', found "
            f'"weird>={BIG_VERSION[:73]}"... (5,008 characters) (the version of '
            f"'>={BIG_VERSION[:38]}' cannot be compared)",
        ),
        (
            f'helios = ">=0.1,<0.2"\npackages = ["weird; python_version == \'{BIG_VERSION}\'"]',
            "requires.packages[0]",
            "expected a PEP 508 requirement such as 'optuna>=4.0', found "
            f'"weird; python_version == \'{BIG_VERSION[:54]}"... (5,028 characters) (its marker '
            "names a version that cannot be compared)",
        ),
    ],
    ids=["range", "requirement", "marker"],
)
def test_a_version_too_long_to_compare_is_refused(line: str, key: str, expected: str) -> None:
    """A string value is no TOML number, but a version of 5,000 digits raised ValueError in
    every later comparison: the plug-in was 'check-crashed' instead of invalid."""
    text = 'manifest-version = 1\nid = "x"\nclass = "helios_x.plugin:XPlugin"\n[requires]\n'
    with pytest.raises(ManifestError) as caught:
        parse(text + line + "\n", "m.toml", "helios_x")
    assert [(i.code, i.key, i.message) for i in caught.value.issues] == [
        ("bad-specifier" if key == "requires.helios" else "bad-requirement", key, expected)
    ]

"""Unit tests of helios.plugins._host.manifest beyond the example corpus."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from helios.plugins._host.manifest import (
    MANIFEST_FILENAME,
    DeviceRequirement,
    Manifest,
    load_manifest,
    parse_manifest,
)
from helios.plugins.errors import ManifestError, ManifestIssue, PluginError
from helios.plugins.plugin import UniquePluginOverrides

HEAD = """\
manifest-version = 1
id = "example"
class = "helios_example.plugin:ExamplePlugin"
"""
MINIMAL = HEAD + '\n[requires]\nhelios = ">=0.1,<0.2"\n'


def issues_of(text: str, package: str | None = "helios_example") -> list[ManifestIssue]:
    """The issues ``text`` raises; fails the test if it is valid."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "m.toml", package=package)
    return list(caught.value.issues)


def triples(text: str, package: str | None = "helios_example") -> list[tuple[str, str, int | None]]:
    return [(i.code, i.key, i.line) for i in issues_of(text, package)]


def write_package(root: Path, name: str, text: str, *, init: bool = True) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if init:
        (folder / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    path = folder / MANIFEST_FILENAME
    path.write_text(text, encoding="utf-8")
    return path


# --- exact messages -----------------------------------------------------------------------


def test_unknown_key_message_and_line() -> None:
    (issue,) = issues_of(MINIMAL + "\n[device]\naccelerator = 'cpu'\ngpus = 2\n")
    assert issue == ManifestIssue(
        "unknown-key",
        "device.gpus",
        "unknown key 'gpus'; allowed here: accelerator, cuda, compute-capability, min-devices "
        "(check the spelling, or upgrade helios-trainer if the key is newer)",
        10,
    )
    assert issue.render("m.toml").startswith("m.toml:10: [device.gpus] unknown key 'gpus';")


def test_error_text_names_file_count_and_every_issue() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(HEAD + 'sumary = "x"\n', "pkg/helios-plugin.toml", package="helios_example")
    error = caught.value
    assert isinstance(error, PluginError)
    assert isinstance(error, ValueError)
    assert error.path == "pkg/helios-plugin.toml"
    lines = str(error).splitlines()
    assert lines[0] == "invalid plug-in manifest pkg/helios-plugin.toml (2 problem(s)):"
    assert lines[1].startswith("  pkg/helios-plugin.toml:4: [sumary] unknown key 'sumary'")
    assert lines[2] == (
        "  pkg/helios-plugin.toml: [requires] required table [requires] with key 'helios' "
        "is missing"
    )


def test_version_too_new_message_and_nothing_else() -> None:
    text = "manifest-version = 2\nid = 'Not An Id'\nnew-key = 1\n[hooks]\nx = 1\n"
    (issue,) = issues_of(text)
    assert issue == ManifestIssue(
        "version-too-new",
        "manifest-version",
        "this helios-trainer understands manifest-version up to 1, found 2; upgrade "
        "helios-trainer (pip install -U helios-trainer)",
        1,
    )


def test_bad_specifier_message() -> None:
    (issue,) = issues_of(HEAD + "[requires]\nhelios = '0.1'\n")
    assert (issue.code, issue.key, issue.line) == ("bad-specifier", "requires.helios", 5)
    assert issue.message.startswith(
        "expected a PEP 440 version specifier such as '>=0.1,<0.2', found \"0.1\" ("
    )


@pytest.mark.parametrize("text", ["===", ">=0.1,===", "=== "])
def test_an_operator_without_a_version_is_refused_whatever_packaging_says(text: str) -> None:
    """packaging 22 to 24 parse "===" alone (an arbitrary-equality with no version); the
    manifest check refuses it with every packaging, as the JSON schema does."""
    (issue,) = issues_of(HEAD + f"[requires]\nhelios = '{text}'\n")
    assert (issue.code, issue.key, issue.message) == (
        "bad-specifier",
        "requires.helios",
        f"expected a PEP 440 version specifier such as '>=0.1,<0.2', found \"{text}\" "
        "(Invalid specifier: '===')",
    )


@pytest.mark.parametrize(
    ("key", "example"),
    [
        ("requires.helios", ">=0.1,<0.2"),
        ("requires.python", ">=3.10"),
        ("device.cuda", ">=12.1"),
        ("device.compute-capability", ">=8.0"),
    ],
)
def test_empty_specifier_message(key: str, example: str) -> None:
    values = {
        "requires.helios": ">=0.1",
        "requires.python": ">=3.10",
        "device.accelerator": "cuda",
        key: " ",
    }
    lines = [f'{k} = "{v}"' for k, v in values.items()]
    (issue,) = issues_of(HEAD + "\n".join(lines) + "\n")
    line = 4 + lines.index(f'{key} = " "')
    assert issue == ManifestIssue(
        "bad-specifier", key, f"must not be empty; write a range such as {example!r}", line
    )


def test_class_outside_package_names_the_package() -> None:
    text = MINIMAL.replace("helios_example.plugin:", "other_pkg.sub:")
    (issue,) = issues_of(text)
    assert issue == ManifestIssue(
        "class-outside-package",
        "class",
        "the class must live in the plug-in's own top-level package 'helios_example' "
        "(the folder holding this manifest), found module 'other_pkg.sub'; move the class "
        "into helios_example/ or the manifest next to other_pkg/__init__.py",
        3,
    )


def test_class_anywhere_when_package_unknown() -> None:
    text = MINIMAL.replace("helios_example.plugin:", "other_pkg.sub:")
    assert parse_manifest(text).package == "other_pkg"


@pytest.mark.parametrize(
    "value",
    [
        "helios_example.plugin",
        "helios_example.plugin:",
        ":ExamplePlugin",
        "helios_example..plugin:ExamplePlugin",
        "helios_example.plugin:Example-Plugin",
        "helios_example.plugin:A:B",
        "helios_example.import:ExamplePlugin",
        "helios_example.plugin:ExamplePlugin\n",
        "helios-example.plugin:ExamplePlugin",
    ],
)
def test_bad_class(value: str) -> None:
    (issue,) = issues_of(
        MINIMAL.replace('"helios_example.plugin:ExamplePlugin"', json.dumps(value))
    )
    assert (issue.code, issue.key) == ("bad-class", "class")
    assert issue.message.startswith(
        "expected 'package.module:ClassName' made of Python identifiers"
    )


@pytest.mark.parametrize("value", ["Example", "1st", "_x", "a-b", "a" * 65, "", "ex\\n"])
def test_bad_id(value: str) -> None:
    (issue,) = issues_of(MINIMAL.replace('id = "example"', f'id = "{value}"'))
    assert (issue.code, issue.key, issue.line) == ("bad-id", "id", 2)


def test_id_of_64_characters_is_fine() -> None:
    assert parse_manifest(MINIMAL.replace('"example"', '"' + "a" * 64 + '"')).id == "a" * 64


def test_wrong_type_says_what_was_found() -> None:
    text = MINIMAL.replace("manifest-version = 1", "manifest-version = 1.0") + (
        "[overrides]\ntraining_batch = 1\n"
    )
    issues = issues_of(text)
    assert [(i.code, i.key, i.line) for i in issues] == [
        ("wrong-type", "manifest-version", 1),
        ("wrong-type", "overrides.training_batch", 8),
    ]
    assert issues[0].message == "expected an integer, found a float 1.0"
    assert issues[1].message == "expected a boolean, found an integer 1"


def test_booleans_are_not_integers() -> None:
    text = MINIMAL + '[device]\naccelerator = "cuda"\nmin-devices = true\n'
    assert triples(text) == [("wrong-type", "device.min-devices", 9)]


# --- line numbers -------------------------------------------------------------------------


def test_lines_in_tables() -> None:
    text = HEAD + (
        "\n[requires]\n"  # 5
        'helios = ">=0.1"\n'  # 6
        'python = "3"\n'  # 7
        "packages = [\n"  # 8
        '  "ok>=1",\n'
        '  "helios-trainer",\n'
        "]\n"
        "\n[device]\n"  # 13
        'accelerator = "cpu"\n'  # 14
        "min-devices = 0\n"  # 15
    )
    assert triples(text) == [
        ("bad-specifier", "requires.python", 7),
        ("core-in-packages", "requires.packages[1]", 8),
        ("bad-value", "device.min-devices", 15),
        ("needs-cuda-accelerator", "device.min-devices", 15),
    ]


def test_lines_with_dotted_keys() -> None:
    text = HEAD + (
        'requires.helios = ">=0.1"\n'  # 4
        'device.accelerator = "tpu"\n'  # 5
        'requires.python = ""\n'  # 6
        "overrides.testing_batch = 'yes'\n"  # 7
    )
    assert triples(text) == [
        ("bad-specifier", "requires.python", 6),
        ("wrong-type", "overrides.testing_batch", 7),
        ("bad-value", "device.accelerator", 5),
    ]


def test_lines_with_inline_tables_point_at_the_table() -> None:
    text = HEAD + 'requires = { helios = ">=0.1", extra = 1 }\n'
    assert triples(text) == [("unknown-key", "requires.extra", 4)]


def test_missing_keys_have_no_line_unless_their_table_has_one() -> None:
    text = 'id = "example"\n[requires]\npython = ">=3.10"\n'
    assert triples(text) == [
        ("missing-key", "manifest-version", None),
        ("missing-key", "class", None),
        ("missing-key", "requires.helios", 2),
    ]


def test_toml_syntax_error_has_a_line() -> None:
    (issue,) = issues_of(MINIMAL + "[device\n")
    assert (issue.code, issue.key, issue.line) == ("toml-syntax", "", 7)
    assert issue.message.startswith("not valid TOML: ")
    assert "line" not in issue.message


# --- regressions of validator fixes ---------------------------------------------------------


def test_non_table_requires_is_one_issue() -> None:
    assert triples(HEAD + 'requires = ">=0.1"\n') == [("wrong-type", "requires", 4)]


def test_invalid_accelerator_does_not_blame_cuda_keys() -> None:
    text = MINIMAL + '[device]\naccelerator = "gpu"\ncuda = ">=12.1"\n'
    assert triples(text) == [("bad-value", "device.accelerator", 8)]


def test_cuda_keys_without_cuda_accelerator_name_it() -> None:
    (issue,) = issues_of(MINIMAL + '[device]\naccelerator = "cpu"\ncuda = ">=12.1"\n')
    assert issue.message == (
        'only meaningful with accelerator = "cuda", found accelerator = "cpu"; '
        'set accelerator = "cuda" or drop this key'
    )


# --- the Manifest object ------------------------------------------------------------------


def test_defaults() -> None:
    manifest = parse_manifest(MINIMAL)
    assert manifest == Manifest(
        manifest_version=1,
        id="example",
        class_path="helios_example.plugin:ExamplePlugin",
        requires_helios=SpecifierSet(">=0.1,<0.2"),
    )
    assert manifest.summary == ""
    assert manifest.requires_python is None
    assert manifest.packages == ()
    assert manifest.overrides == UniquePluginOverrides()
    assert manifest.overrides.claimed() == frozenset()
    assert manifest.device == DeviceRequirement("any", None, None, 1)
    assert manifest.path == "<string>"


def test_properties_of_a_nested_class() -> None:
    text = MINIMAL.replace("helios_example.plugin:ExamplePlugin", "helios_example.a.b:Outer.Inner")
    manifest = parse_manifest(text, "x.toml", package="helios_example")
    assert manifest.module == "helios_example.a.b"
    assert manifest.class_name == "Inner"
    assert manifest.package == "helios_example"
    assert manifest.path == "x.toml"


def test_every_key_is_read() -> None:
    text = HEAD + (
        'summary = "Tunes things"\n'
        "[requires]\n"
        'helios = ">=0.1,<0.2"\n'
        'python = ">=3.10"\n'
        'packages = ["optuna>=4.0", "rich[jupyter]; python_version < \'3.14\'"]\n'
        "[overrides]\n"
        "should_training_stop = true\n"
        "training_batch = false\n"
        "[device]\n"
        'accelerator = "cuda"\n'
        'cuda = ">=12.1"\n'
        'compute-capability = ">=8.0"\n'
        "min-devices = 2\n"
    )
    manifest = parse_manifest(text)
    assert manifest.summary == "Tunes things"
    assert manifest.requires_python == SpecifierSet(">=3.10")
    assert [str(r) for r in manifest.packages] == [
        "optuna>=4.0",
        'rich[jupyter]; python_version < "3.14"',
    ]
    assert manifest.overrides.claimed() == frozenset({"should_training_stop"})
    assert manifest.device == DeviceRequirement(
        "cuda", SpecifierSet(">=12.1"), SpecifierSet(">=8.0"), 2
    )


def test_duplicate_package_names_are_normalised() -> None:
    text = MINIMAL + 'packages = ["Optuna>=4", "optuna<5", "sqlalchemy", "SQLAlchemy"]\n'
    issues = issues_of(text)
    assert [(i.code, i.key) for i in issues] == [
        ("duplicate-package", "requires.packages[1]"),
        ("duplicate-package", "requires.packages[3]"),
    ]
    assert issues[0].message == (
        "'optuna' is already required by requires.packages[0]; merge the two into one requirement"
    )


@pytest.mark.parametrize("name", ["helios-trainer", "Helios_Trainer>=0.1", "helios.trainer"])
def test_core_in_packages(name: str) -> None:
    assert triples(MINIMAL + f'packages = ["{name}"]\n') == [
        ("core-in-packages", "requires.packages[0]", 7)
    ]


def test_prerelease_policy_of_the_readme() -> None:
    """The README's examples, as the compatibility checks apply them to a manifest's range."""
    helios = parse_manifest(MINIMAL).requires_helios
    assert helios.contains("0.1.1rc1", prereleases=True)
    assert not SpecifierSet("<0.2").contains("0.2.0rc1", prereleases=True)
    assert not helios.contains("0.2.0rc1", prereleases=True)
    assert SpecifierSet(">=0.2.0rc1,<0.3").contains("0.2.0rc1", prereleases=True)


# --- load_manifest ------------------------------------------------------------------------


def test_load_infers_the_package_from_its_folder(tmp_path: Path) -> None:
    path = write_package(tmp_path, "helios_example", MINIMAL)
    manifest = load_manifest(path)
    assert manifest.package == "helios_example"
    assert manifest.path == str(path)


def test_load_checks_the_class_against_the_folder(tmp_path: Path) -> None:
    path = write_package(tmp_path, "other_pkg", MINIMAL)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    ((code, message),) = [(i.code, i.message) for i in caught.value.issues]
    assert code == "class-outside-package"
    assert "top-level package 'other_pkg'" in message
    assert caught.value.path == str(path)


def test_load_with_a_relative_path_from_inside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_package(tmp_path, "helios_example", MINIMAL)
    monkeypatch.chdir(path.parent)
    assert load_manifest(Path(MANIFEST_FILENAME)).package == "helios_example"
    other = MINIMAL.replace("helios_example.plugin:", "other_pkg.plugin:").encode()
    with pytest.raises(ManifestError, match="top-level package 'helios_example'"):
        load_manifest(Path(MANIFEST_FILENAME), read=lambda _: other)
    write_package(tmp_path, "elsewhere", MINIMAL)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_manifest(Path("../helios_example") / MANIFEST_FILENAME).package == "helios_example"


def test_load_without_init_does_not_infer(tmp_path: Path) -> None:
    text = MINIMAL.replace("helios_example.plugin:", "anything.plugin:")
    path = write_package(tmp_path, "helios_example", text, init=False)
    assert load_manifest(path).package == "anything"


def test_explicit_package_wins(tmp_path: Path) -> None:
    path = write_package(tmp_path, "folder_name", MINIMAL)
    assert load_manifest(path, package="helios_example").package == "helios_example"


def test_load_missing_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (issue,) = caught.value.issues
    assert (issue.code, issue.key, issue.line) == ("unreadable", "", None)
    assert issue.message == f"cannot read the file: {os.strerror(errno.ENOENT)}"
    assert str(caught.value).endswith(f"  {path}: {issue.message}")


def test_load_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert caught.value.issues == (
        ManifestIssue(
            "not-a-file", "", "not a regular file but a directory; only regular files are read"
        ),
    )


def test_load_uses_the_given_reader(tmp_path: Path) -> None:
    def denied(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / MANIFEST_FILENAME, read=denied)
    (issue,) = caught.value.issues
    assert issue == ManifestIssue("unreadable", "", "cannot read the file: Permission denied")
    manifest = load_manifest(tmp_path / "any.toml", read=lambda _: MINIMAL.encode())
    assert manifest.id == "example"


def test_load_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_FILENAME
    path.write_bytes(MINIMAL.encode() + b'summary = "caf\xe9"\n')
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, package="helios_example")
    (issue,) = caught.value.issues
    offset = len(MINIMAL.encode()) + len(b'summary = "caf')
    assert issue == ManifestIssue(
        "toml-syntax", "", f"not UTF-8 text (byte {offset}); TOML files must be UTF-8"
    )


def test_load_accepts_utf8_text(tmp_path: Path) -> None:
    text = HEAD + 'summary = "Café — ☕"\nrequires.helios = ">=0.1"\n'
    path = write_package(tmp_path, "helios_example", text)
    assert load_manifest(path).summary == "Café — ☕"


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029"])
def test_line_numbers_after_a_unicode_line_separator(separator: str) -> None:
    text = f"# a comment with a{separator}separator\n" + MINIMAL + "extra = 1\n"
    assert triples(text) == [("unknown-key", "requires.extra", 8)]


# --- one line of text, and nothing raw from the file ----------------------------------------

SUMMARY_BREAKS = {
    "\r": "U+000D (carriage return)",
    "\t": "U+0009 (tab)",
    "\x1b": "U+001B (escape)",
    "\x85": "U+0085 (next line)",
    "\x00": "U+0000 (a control character)",
    "\u2028": "U+2028 (line separator)",
    "\u2029": "U+2029 (paragraph separator)",
}


@pytest.mark.parametrize("char", SUMMARY_BREAKS, ids=[f"U+{ord(c):04X}" for c in SUMMARY_BREAKS])
def test_summary_is_one_line_of_text(char: str) -> None:
    summary = json.dumps(f"one{char}two", ensure_ascii=True)  # a TOML basic string
    (issue,) = issues_of(HEAD + f"summary = {summary}\n" + '[requires]\nhelios = ">=0.1"\n')
    assert issue == ManifestIssue(
        "bad-value",
        "summary",
        "expected one line of text without control characters, found "
        f"{SUMMARY_BREAKS[char]} at character 4",
        4,
    )


def test_summary_may_hold_any_printable_text() -> None:
    summary = "Tuning — 調整 👩‍🔬 (zero-width joiner kept)"
    assert parse_manifest(HEAD + f'summary = "{summary}"\nrequires.helios = ">=0.1"\n').summary == (
        summary
    )


def test_an_id_with_terminal_escapes_is_echoed_escaped() -> None:
    text = MINIMAL.replace('id = "example"', 'id = "\\u001b]0;owned\\u0007\\u001b[2J"')
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "m.toml", package="helios_example")
    (issue,) = caught.value.issues
    assert issue.message == (
        "expected a lowercase identifier (a letter, then letters, digits or '_', at most 64 "
        "characters) such as 'my_plugin', found \"\\x1b]0;owned\\x07\\x1b[2J\""
    )
    assert all(line.isprintable() for line in str(caught.value).split("\n"))


def test_a_long_value_is_cut_with_its_length() -> None:
    (issue,) = issues_of(MINIMAL.replace('id = "example"', f'id = "{"X" * 5000}"'))
    assert issue.message.endswith(f'found "{"X" * 80}"... (5,000 characters)')


def test_a_key_with_control_characters_is_escaped() -> None:
    (issue,) = issues_of(MINIMAL + '"\\u001b[31mred" = 1\n')
    # the line scanner does not decode escapes in quoted keys: the table's line is shown
    assert (issue.code, issue.key, issue.line) == ("unknown-key", "requires.\\x1b[31mred", 5)
    assert issue.message.startswith("unknown key '\\x1b[31mred'; allowed here: helios, ")


def test_a_table_where_a_string_belongs_is_described_not_printed() -> None:
    (issue,) = issues_of(MINIMAL.replace('id = "example"', "id = { a = [1, 2], b = 3 }"))
    assert issue.message == "expected a string, found a table of 2 key(s)"


def test_a_parser_complaint_is_one_line() -> None:
    (issue,) = issues_of(MINIMAL + 'packages = ["bad req"]\n')
    assert issue.code == "bad-requirement"
    assert issue.message.startswith(
        "expected a PEP 508 requirement such as 'optuna>=4.0', found \"bad req\" (Expected "
    )
    assert issue.message.isprintable()

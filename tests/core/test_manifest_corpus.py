"""The example manifests in manifests/examples hold the validator and the JSON Schema to account.

Every invalid example states in its header the issues it must produce and whether the JSON
Schema rejects it; every valid example must pass both.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import jsonschema
import pytest

from helios.plugins._host import manifest as manifest_module
from helios.plugins._host.bounded_read import READ_CODES
from helios.plugins._host.manifest import (
    ACCELERATORS,
    ID_PATTERN,
    Manifest,
    parse_manifest,
)
from helios.plugins._host.toml_limits import LIMIT_CODES
from helios.plugins.errors import ManifestError
from helios.plugins.plugin import UniquePluginOverrides

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
SCHEMA_PATH = MANIFESTS / "helios-plugin.schema.json"
VALID = sorted((MANIFESTS / "examples" / "valid").glob("*.toml"))
INVALID = sorted((MANIFESTS / "examples" / "invalid").glob("*.toml"))
PACKAGE = "helios_example"
#: Codes no example can show: what the file is (missing, a FIFO) or its size (more than 64 KiB,
#: too big to keep here). test_manifest.py and test_manifest_limits.py test them instead.
NOT_FROM_CONTENT = frozenset({"unreadable", "not-a-file", "too-large"})

_EXPECT = re.compile(r"^# expect: (?P<code>[a-z-]+) (?P<key>\S+) line (?P<line>\d+|-)$")
_SCHEMA = re.compile(r"^# schema: (?P<verdict>rejects|accepts)(?:  # (?P<why>\S.*))?$")

Triple: TypeAlias = tuple[str, str, int | None]


@dataclass(frozen=True)
class Contract:
    """What an invalid example's header promises."""

    issues: list[Triple]
    schema_rejects: bool


def _header(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def read_contract(path: Path) -> Contract:
    """Parse the ``# expect:`` and ``# schema:`` header of an invalid example."""
    issues: list[Triple] = []
    verdicts: list[bool] = []
    for line in _header(path.read_text(encoding="utf-8")):
        if line.startswith("# expect:"):
            found = _EXPECT.match(line)
            assert found, f"{path.name}: malformed header line {line!r}"
            key = "" if found["key"] == "-" else found["key"]
            number = None if found["line"] == "-" else int(found["line"])
            issues.append((found["code"], key, number))
        elif line.startswith("# schema:"):
            found = _SCHEMA.match(line)
            assert found, f"{path.name}: malformed header line {line!r}"
            if found["verdict"] == "accepts":
                assert found["why"], f"{path.name}: say why the schema accepts it"
            verdicts.append(found["verdict"] == "rejects")
    assert issues, f"{path.name}: no '# expect:' line"
    assert len(verdicts) == 1, f"{path.name}: expected exactly one '# schema:' line"
    return Contract(issues, verdicts[0])


def load_schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


def schema_rejects(validator: jsonschema.Draft202012Validator, text: str) -> bool:
    """Whether an editor using the schema flags ``text``; unparsable TOML counts as flagged."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True
    return not validator.is_valid(data)


def readme_codes() -> list[str]:
    """The issue codes in the README's table, in table order."""
    text = (MANIFESTS / "README.md").read_text(encoding="utf-8")
    section = text.split("## Issue codes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)


def validator_codes() -> set[str]:
    """The codes manifest.py can emit (read from its source), the reader's and the bounds'."""
    source = Path(manifest_module.__file__).read_text(encoding="utf-8")
    found = set(re.findall(r"(?:\.add|ManifestIssue)\(\s*\"([a-z-]+)\"", source))
    return found | set(READ_CODES) | set(LIMIT_CODES)


def test_corpus_is_big_enough() -> None:
    assert len(VALID) >= 6
    assert len(INVALID) >= 18


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# valid: "), "a valid example starts with '# valid: <what it shows>'"
    assert not any(line.startswith(("# expect:", "# schema:")) for line in _header(text))
    manifest = parse_manifest(text, str(path), package=PACKAGE)
    assert isinstance(manifest, Manifest)
    assert manifest.package == PACKAGE
    errors = [e.message for e in validator.iter_errors(tomllib.loads(text))]
    assert errors == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    contract = read_contract(path)
    text = path.read_text(encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, str(path), package=PACKAGE)
    found = [(issue.code, issue.key, issue.line) for issue in caught.value.issues]
    assert found == contract.issues
    assert caught.value.path == str(path)
    assert schema_rejects(validator, text) is contract.schema_rejects


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_uses_the_example_package(path: Path) -> None:
    classes = re.findall(r'^class\s*=\s*"([^"]*)"', path.read_text(encoding="utf-8"), re.M)
    codes = {code for code, _, _ in read_contract(path).issues}
    if "class-outside-package" in codes:
        assert classes
        assert all(not c.startswith(f"{PACKAGE}.") for c in classes)
    else:
        assert all(c.startswith(f"{PACKAGE}.") or c.startswith(f"{PACKAGE}:") for c in classes)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema["title"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator


def test_schema_matches_the_validator_keys() -> None:
    """The schema's keys, enums and id pattern are the validator's."""
    schema = load_schema()
    props = schema["properties"]
    assert tuple(props) == manifest_module._TOP_KEYS
    assert tuple(props["requires"]["properties"]) == manifest_module._REQUIRES_KEYS
    assert tuple(props["device"]["properties"]) == manifest_module._DEVICE_KEYS
    assert tuple(props["overrides"]["properties"]) == UniquePluginOverrides.names()
    assert tuple(props["device"]["properties"]["accelerator"]["enum"]) == ACCELERATORS
    assert props["id"]["pattern"] == ID_PATTERN.pattern
    assert props["manifest-version"]["const"] == manifest_module.SUPPORTED_MANIFEST_VERSION

    def objects(node: object) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node] if "properties" in node and "type" in node else []
            return found + [o for value in node.values() for o in objects(value)]
        if isinstance(node, list):
            return [o for value in node for o in objects(value)]
        return []

    tables = objects(schema)
    assert len(tables) == 4
    assert all(table["additionalProperties"] is False for table in tables)


def test_readme_lists_exactly_the_validator_codes() -> None:
    codes = readme_codes()
    assert len(codes) == len(set(codes))
    assert set(codes) == validator_codes()


def test_every_readme_code_has_an_invalid_example() -> None:
    covered = {code for path in INVALID for code, _, _ in read_contract(path).issues}
    wanted = set(readme_codes()) - NOT_FROM_CONTENT
    assert wanted - covered == set()
    assert covered <= set(readme_codes())

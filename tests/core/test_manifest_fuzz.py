"""Property tests: whatever text it is given, the validator answers with a result or an issue list.

Every outcome must be a :class:`Manifest` or a :class:`ManifestError` whose issues have a code,
a message of one printable line and a line inside the file; any other exception is a bug.
Besides generated and mutated manifests, hostile texts aim at the parser and the messages:
nesting 1,000 deep and more, numbers of 5,000 digits and more, dotted keys of 100,000 parts and
more, and control characters. ``nox -s fuzz`` runs the same strategies for 50,000 cases.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from helios.plugins._host.manifest import ID_PATTERN, MAX_MANIFEST_BYTES, Manifest, parse_manifest
from helios.plugins._host.toml_limits import MAX_DEPTH, MAX_DIGITS, MAX_KEY_PARTS, check_limits
from helios.plugins._host.toml_source import TOMLLimitError, TOMLSyntaxError, parse_toml
from helios.plugins.errors import ManifestError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "manifests" / "examples").rglob("*.toml"))
TEXTS = [path.read_text(encoding="utf-8") for path in EXAMPLES]
SCHEMA = json.loads((ROOT / "manifests" / "helios-plugin.schema.json").read_text("utf-8"))
SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PACKAGE = "helios_example"

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,  # write nothing into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CHARS = st.characters(codec="utf-8")
ONE_LINE_CHARS = CHARS.filter(lambda c: unicodedata.category(c) not in ("Cc", "Zl", "Zp"))
TEXT = st.text(CHARS, max_size=12)


def outcome(text: str) -> Manifest | ManifestError:
    """Validate ``text`` and check the shape of whatever comes back."""
    try:
        manifest = parse_manifest(text, "fuzz.toml", package=PACKAGE)
    except ManifestError as exc:
        error = exc
    else:
        assert isinstance(manifest, Manifest)
        return manifest
    assert error.issues
    assert error.path == "fuzz.toml"
    last_line = text.count("\n") + 1
    for issue in error.issues:
        assert issue.code
        assert issue.message
        assert isinstance(issue.key, str)
        # one printable line of bounded length: nothing from the file reaches a terminal raw
        assert issue.message.isprintable(), issue.message
        assert issue.key.isprintable(), issue.key
        assert len(issue.message) <= 1000, len(issue.message)
        assert issue.line is None or 1 <= issue.line <= last_line, (issue, last_line)
    assert str(error).startswith("invalid plug-in manifest fuzz.toml")
    return error


# --- generated documents ------------------------------------------------------------------

SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    TEXT,
    st.dates(),
    st.times(),
    st.datetimes(),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)
EXTRA_KEYS = st.sampled_from(["name", "version", "helio", "gpus", "hooks", ""]) | TEXT


def _percent(low: int, high: int) -> st.SearchStrategy[bool]:
    """True about ``high - low`` times in a hundred (a band away from Hypothesis's favourite
    boundary values, so the odds hold)."""
    return st.integers(0, 99).map(lambda n: low <= n < high)


def vary(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Mostly ``good``; one time in ten a plausible mistake or anything at all."""
    wrong = JUNK if bad is None else st.one_of(bad, JUNK)
    return _percent(40, 50).flatmap(lambda off: wrong if off else good)


def table(
    known: dict[str, st.SearchStrategy[Any]], drop: dict[str, int] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """A table of ``known`` keys, each missing ``drop[key]`` percent of the time (default 10),
    and one time in ten with an extra key."""
    odds = {key: (drop or {}).get(key, 10) for key in known}
    gone = st.fixed_dictionaries({key: _percent(40, 40 + n) for key, n in odds.items()})
    extra = _percent(40, 50).flatmap(
        lambda more: (
            st.dictionaries(EXTRA_KEYS, JUNK, min_size=1, max_size=1) if more else st.just({})
        )
    )

    def build(
        values: dict[str, Any], drop: dict[str, bool], more: dict[str, Any]
    ) -> dict[str, Any]:
        return {**{k: v for k, v in values.items() if not drop[k]}, **more}

    return st.builds(build, st.fixed_dictionaries(known), gone, extra)


SPECIFIERS = vary(
    st.sampled_from([">=0.1,<0.2", ">=3.10", "~=1.2", "==1.*", "!=3.12.0, >=3.10", ">=1,"]),
    st.sampled_from(["0.1", "", " ", ">=1.0.*", "===", "=>1", "<<2", ">=1 <2"]) | TEXT,
)
REQUIREMENTS = vary(
    st.sampled_from(
        [
            *("optuna>=4.0", "rich[jupyter]>=13; python_version < '3.13'", "numpy"),
            *("pkg @ https://example.invalid/p.whl", "torch (>=2.1)", "tqdm"),
        ]
    ),
    st.sampled_from(["helios-trainer>=0.1", "Optuna<5", "bad req", "", "x[", "x; os_name >"]),
)
REQUIRES = table(
    {
        "helios": SPECIFIERS,
        "python": SPECIFIERS,
        "packages": vary(st.lists(REQUIREMENTS, max_size=3)),
    },
    drop={"python": 50, "packages": 50},
)
OVERRIDES = table(
    {
        name: vary(st.booleans())
        for name in ("training_batch", "validation_batch", "testing_batch", "should_training_stop")
    },
    drop=dict.fromkeys(
        ("training_batch", "validation_batch", "testing_batch", "should_training_stop"), 50
    ),
)
ACCELERATOR_TYPOS = st.sampled_from(["gpu", "", "CUDA"])
CUDA_DEVICE = table(
    {
        "accelerator": vary(st.just("cuda"), ACCELERATOR_TYPOS),
        "cuda": SPECIFIERS,
        "compute-capability": SPECIFIERS,
        "min-devices": vary(st.integers(1, 8), st.integers(-2, 0)),
    },
    drop={"accelerator": 5, "cuda": 50, "compute-capability": 50, "min-devices": 50},
)
PLAIN_DEVICE = table(
    {
        "accelerator": vary(st.sampled_from(["any", "cpu"]), ACCELERATOR_TYPOS),
        "cuda": SPECIFIERS,
        "min-devices": vary(st.integers(1, 8)),
    },
    drop={"accelerator": 30, "cuda": 95, "min-devices": 95},
)
DEVICE = st.one_of(CUDA_DEVICE, PLAIN_DEVICE)
CLASSES = vary(
    st.sampled_from(["helios_example.plugin:ExamplePlugin", "helios_example:Outer.Inner"]),
    st.sampled_from(
        [
            *("other.mod:P", "helios_example.class:P", "helios_example.plugin.P"),
            *("helios_example.plugin:P\n", ":P", "helios_example.plugin:"),
        ]
    ),
)
IDS = vary(
    st.from_regex(ID_PATTERN, fullmatch=True),
    st.sampled_from(["Bad-Id", "", "x" * 65, "ok\n", "1x"]),
)
DOCUMENTS = table(
    {
        "manifest-version": vary(st.just(1), st.sampled_from([0, 2, -1])),
        "id": IDS,
        "class": CLASSES,
        "summary": vary(st.text(ONE_LINE_CHARS, max_size=20), TEXT),
        "requires": vary(REQUIRES),
        "overrides": vary(OVERRIDES),
        "device": vary(DEVICE),
    },
    drop={"summary": 50, "overrides": 50, "device": 50},
)


def _plain(value: Any) -> Any:
    """The JSON Schema's view of a TOML value (dates become strings, as editors see them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return value


@FUZZ
@given(DOCUMENTS)
def test_generated_documents(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    result = outcome(text)
    if isinstance(result, Manifest):
        assert result.id == document["id"]
        assert result.class_path == document["class"]
        assert result.requires_helios == SpecifierSet(document["requires"]["helios"])
        # The editor schema is rougher than the validator, but never stricter.
        errors = [e.message for e in SCHEMA_VALIDATOR.iter_errors(_plain(document))]
        assert errors == [], text


# --- mutated corpus examples --------------------------------------------------------------

FRAGMENTS = [
    "[requires]",
    "[[requires]]",
    "[requires.helios]",
    "[device]",
    "[overrides]",
    "id = 1",
    'id = "x"',
    "manifest-version = 2",
    'helios = ">=0.1"',
    'device.cuda = ">=12"',
    "requires = {}",
    "overrides = { training_batch = true }",
    "packages = [",
    "]",
    '"""',
    "'''",
    "x.y.z = 1",
    "= 1",
    "#",
    "",
]
PUNCTUATION = st.sampled_from([*"[]{}\"'=.,#\\ \t\n\r01-_:;<>~!@", "\x00", "é", "\ufeff"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A corpus example after one to six random edits of characters or lines."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 6))):
        edit = draw(st.sampled_from(["insert", "delete", "replace", "line"]))
        at = draw(st.integers(0, len(text)))
        if edit == "insert":
            text = text[:at] + draw(PUNCTUATION | CHARS) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif edit == "replace":
            text = text[:at] + draw(PUNCTUATION | CHARS) + text[at + 1 :]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            how = draw(st.sampled_from(["drop", "duplicate", "swap", "fragment"]))
            if how == "drop":
                del lines[i]
            elif how == "duplicate":
                lines.insert(j, lines[i])
            elif how == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, draw(st.sampled_from(FRAGMENTS)))
            text = "\n".join(lines)
    return text


@FUZZ
@given(mutated())
def test_mutated_examples(text: str) -> None:
    outcome(text)


def test_corpus_is_there() -> None:
    assert len(TEXTS) >= 24


# --- hostile texts ------------------------------------------------------------------------

CONTROL = st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co", "Cn"], codec="utf-8")


def _within_bounds(text: str) -> bool:
    try:
        check_limits(text)
    except TOMLLimitError:
        return False
    return True


#: The corpus examples that keep every bound: the hostile texts start from them.
WITHIN_BOUNDS = [text for text in TEXTS if _within_bounds(text)]


def _around(limit: int, huge: int) -> st.SearchStrategy[int]:
    """Sizes just below and above ``limit``, or far beyond it (``huge`` and up)."""
    return st.one_of(st.integers(max(limit - 3, 1), limit + 3), st.integers(huge, 2 * huge))


@st.composite
def deep_value(draw: st.DrawFn) -> tuple[str, int]:
    """Arrays and inline tables nested ``depth`` levels, closed or not."""
    opener, closer, levels = draw(
        st.sampled_from([("[", "]", 1), ("{a = ", "}", 1), ("[{b = ", "}]", 2)])
    )
    depth = draw(_around(MAX_DEPTH, 1_000))
    count = -(-depth // levels)
    tail = closer * count if draw(st.booleans()) else ""
    return opener * count + "1" + tail, count * levels


@st.composite
def huge_number(draw: st.DrawFn) -> tuple[str, int]:
    """An integer or float of ``count`` digits, in any TOML notation."""
    count = draw(_around(MAX_DIGITS, 5_000))
    digit = draw(st.sampled_from("123456789"))
    form = draw(st.sampled_from(["dec", "neg", "hex", "oct", "bin", "frac", "under"]))
    body = digit * count
    if form == "neg":
        return "-" + body, count
    if form in ("hex", "oct", "bin"):
        digit = {"hex": "f", "oct": "7", "bin": "1"}[form]
        return f"0{form[0].replace('h', 'x')}" + digit * count, count + 2
    if form == "frac":
        return "1." + body, count
    if form == "under":
        return "_".join(body), count
    return body, count


@st.composite
def long_key(draw: st.DrawFn) -> tuple[str, int]:
    """A dotted key (or table header) of ``parts`` parts: bare, quoted, spaced."""
    parts = draw(_around(MAX_KEY_PARTS, 100_000))
    part = draw(st.sampled_from(["a", '"q"', "'l'", "9", "a-b", '"d.t"']))
    sep = draw(st.sampled_from([".", " . ", "\t.\t"]))
    key = sep.join([part] * parts)
    return (f"[{key}]" if draw(st.booleans()) else f"{key} = 1"), parts


def _toml_escaped(text: str) -> str:
    """``text`` as the inside of a TOML basic string, every character escaped."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in text)


@st.composite
def control_line(draw: st.DrawFn) -> str:
    """A line carrying control, format and separator characters where a value or key goes."""
    chars = draw(st.text(CONTROL, min_size=1, max_size=6))
    mixed = draw(st.text(CHARS, max_size=4)) + chars + draw(st.text(CHARS, max_size=4))
    escaped = _toml_escaped(mixed)
    return draw(
        st.sampled_from(
            [
                f'id = "{escaped}"',
                f'summary = "{escaped}"',
                f'class = "helios_example.plugin:{escaped}"',
                f'"{escaped}" = 1',
                f'requires.packages = ["{escaped}"]',
                f'device.accelerator = "{escaped}"',
                f"note = '{mixed}'",  # raw, in a literal string
                mixed,  # raw, anywhere
            ]
        )
    )


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, str | None]:
    """A corpus example with a bomb inserted, and the bound it must trip (None: any outcome).

    A bomb over its bound inserted as a line of a file without multi-line strings must be
    reported as exactly that bound; one inserted at any character may land inside a string.
    """
    text = draw(st.sampled_from(WITHIN_BOUNDS))
    kind = draw(st.sampled_from(["deep", "number", "key", "control"]))
    expected: str | None = None
    if kind == "deep":
        value, depth = draw(deep_value())
        line = f"x = {value}"
        expected = "too-deep" if depth > MAX_DEPTH else None
    elif kind == "number":
        value, count = draw(huge_number())
        line = f"n = {value}"
        expected = "too-many-digits" if count > MAX_DIGITS else None
    elif kind == "key":
        line, parts = draw(long_key())
        expected = "too-many-key-parts" if parts > MAX_KEY_PARTS else None
    else:
        line = draw(control_line())
    if draw(_percent(0, 75)):
        if '"""' in text or "'''" in text:
            expected = None  # the line may land inside a multi-line string
        lines = text.split("\n")
        at = draw(st.integers(0, len(lines)))
        text = "\n".join([*lines[:at], line, *lines[at:]])
    else:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + line + text[at:]
        expected = None
    if len(text) > MAX_MANIFEST_BYTES:
        expected = "too-large"
    return text, expected


def hostile_outcome(text: str, expected: str | None) -> None:
    """The manifest answer is well formed (and names the bound it must); so is parse_toml's."""
    result = outcome(text)
    if expected is not None:
        assert isinstance(result, ManifestError), text[:200]
        assert [i.code for i in result.issues] == [expected], result.issues
    with contextlib.suppress(TOMLSyntaxError, TOMLLimitError):  # any TOML text, any size
        parse_toml(text)


@settings(FUZZ, max_examples=500)
@given(hostile())
def test_hostile_texts(case: tuple[str, str | None]) -> None:
    hostile_outcome(*case)

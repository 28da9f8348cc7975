"""Manifest format v1 (``helios-plugin.toml``): parsing and validation.

The specification is ``manifests/README.md``. Validation is hand-written (tomllib/tomli and
packaging only) so that every problem names the file, the key and the line. A manifest comes
from outside: it is read only from a regular file of at most :data:`MAX_MANIFEST_BYTES`, the
text is held to the bounds of :mod:`helios.plugins._host.toml_limits` before it is parsed, and every
value a message echoes is escaped and cut (:mod:`helios.plugins._host.echo`).
"""

from __future__ import annotations

import datetime
import keyword
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from helios.plugins._host.bounded_read import FileRefused, read_regular_file
from helios.plugins._host.distinfo import canonical_name
from helios.plugins._host.echo import quote, shown
from helios.plugins._host.findings import Finding
from helios.plugins._host.requirements import (
    InvalidRequirement,
    PackageRequirement,
    comparable_specifier,
    parse_requirement,
)
from helios.plugins._host.toml_source import (
    KeyLines,
    TOMLLimitError,
    TOMLSyntaxError,
    key_lines,
    parse_toml,
)
from helios.plugins.base import UniquePluginOverrides
from helios.plugins.errors import ManifestError, ManifestIssue

__all__ = [
    "ACCELERATORS",
    "CORE_DISTRIBUTION",
    "MANIFEST_FILENAME",
    "MAX_MANIFEST_BYTES",
    "SUPPORTED_MANIFEST_VERSION",
    "DeviceRequirement",
    "Manifest",
    "load_manifest",
    "parse_manifest",
    "toml_type",
]

MANIFEST_FILENAME = "helios-plugin.toml"
SUPPORTED_MANIFEST_VERSION = 1
CORE_DISTRIBUTION = "helios-trainer"
ACCELERATORS = ("any", "cpu", "cuda")
#: The largest manifest read, in bytes (characters for :func:`parse_manifest`); real ones hold
#: about 1 KB.
MAX_MANIFEST_BYTES = 64 * 1024

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = ("manifest-version", "id", "class", "summary", "requires", "overrides", "device")
_REQUIRES_KEYS = ("helios", "python", "packages")
_DEVICE_KEYS = ("accelerator", "cuda", "compute-capability", "min-devices")
_CUDA_ONLY_KEYS = ("cuda", "compute-capability", "min-devices")


@dataclass(frozen=True)
class DeviceRequirement:
    """What the plug-in needs from the machine; ``accelerator="any"`` needs nothing."""

    accelerator: str = "any"
    cuda: SpecifierSet | None = None
    compute_capability: SpecifierSet | None = None
    min_devices: int = 1


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. Name and version come from the distribution, not from here."""

    manifest_version: int
    id: str
    class_path: str
    requires_helios: SpecifierSet
    summary: str = ""
    requires_python: SpecifierSet | None = None
    packages: tuple[PackageRequirement, ...] = ()
    overrides: UniquePluginOverrides = field(default_factory=UniquePluginOverrides)
    device: DeviceRequirement = field(default_factory=DeviceRequirement)
    path: str = "<string>"

    @property
    def module(self) -> str:
        return self.class_path.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.class_path.rpartition(":")[2].rpartition(".")[2]

    @property
    def package(self) -> str:
        """The top-level import package the class lives in."""
        return self.module.partition(".")[0]


def toml_type(value: object) -> str:
    """The TOML type of a parsed value, with its article: ``an integer``, ``a table``."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date/time"
    return type(value).__name__  # pragma: no cover - tomllib yields nothing else


def _show(value: object) -> str:
    """A value read from the manifest, as a message may show it: escaped and cut."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list):
        return f"of {len(value)} item(s)"
    if isinstance(value, dict):
        return f"of {len(value)} key(s)"
    return shown(repr(value))  # numbers have at most toml_limits.MAX_DIGITS digits


def _reason(exc: Exception) -> str:
    """The first line of a parser's complaint (which may repeat the value), escaped and cut."""
    first = str(exc).partition("\n")[0]
    return shown(first, limit=120)


_CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line feed",
    "\v": "vertical tab",
    "\f": "form feed",
    "\r": "carriage return",
    "\x1b": "escape",
    "\x85": "next line",
}


def _line_break(text: str) -> str | None:
    """What makes ``text`` more than one line of plain text: a control character (CR, TAB, ESC,
    ...) or a line or paragraph separator, named with its position; None if there is none."""
    if text.isprintable():
        return None
    for index, char in enumerate(text, start=1):
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "") or "a control character"
            return f"U+{ord(char):04X} ({name.lower()}) at character {index}"
    return None


class _Checker:
    """Collects issues while reading one parsed document."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        self.data = data
        self.text = text
        self.issues: list[Finding] = []

    @cached_property
    def lines(self) -> KeyLines:
        """Key → line; only computed when there is a problem to report."""
        return key_lines(self.text)

    def add(self, code: str, key: str, message: str) -> None:
        line = None
        parts = re.sub(r"\[\d+\]", "", key).split(".")  # packages[2] is on packages' line
        while parts and line is None:
            line = self.lines.get(".".join(parts))
            parts.pop()
        self.issues.append(ManifestIssue(code, shown(key), message, line))

    def table(self, key: str, value: object, allowed: tuple[str, ...]) -> dict[str, Any]:
        """Return ``value`` as a table, reporting unknown keys; a non-table is reported."""
        if not isinstance(value, dict):
            self.add("wrong-type", key, f"expected a table, found {toml_type(value)}")
            return {}
        for name in value:
            if name not in allowed:
                full = f"{key}.{name}" if key else name
                self.add(
                    "unknown-key",
                    full,
                    f"unknown key {_name(name)}; allowed here: "
                    f"{', '.join(allowed)} "
                    "(check the spelling, or upgrade helios-trainer if the key is newer)",
                )
        return value

    def typed(self, table: dict[str, Any], prefix: str, name: str, kind: type) -> Any:
        """Return ``table[name]`` if it has TOML type ``kind``; report otherwise; None if absent."""
        if name not in table:
            return None
        value = table[name]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            expected = toml_type(kind())
            self.add(
                "wrong-type",
                f"{prefix}{name}",
                f"expected {expected}, found {toml_type(value)} {_show(value)}",
            )
            return None
        return value

    def specifier(self, key: str, text: str | None, example: str) -> SpecifierSet | None:
        if text is None:
            return None
        try:
            spec = comparable_specifier(text)
            empty = next((str(s) for s in spec if not s.version), None)
            if empty is not None:  # packaging 22 to 24 accept "===" with no version
                raise InvalidSpecifier(f"Invalid specifier: {empty!r}")
        except InvalidSpecifier as exc:
            self.add(
                "bad-specifier",
                key,
                f"expected a PEP 440 version specifier such as {example!r}, "
                f"found {_show(text)} ({_reason(exc)})",
            )
            return None
        if not str(spec):
            self.add("bad-specifier", key, f"must not be empty; write a range such as {example!r}")
            return None
        return spec


def _check_class(chk: _Checker, value: str, package: str | None) -> None:
    module, sep, qualname = value.partition(":")
    parts = module.split(".") + qualname.split(".")
    if not sep or not all(_IDENTIFIER.fullmatch(p) and not keyword.iskeyword(p) for p in parts):
        chk.add(
            "bad-class",
            "class",
            f"expected 'package.module:ClassName' made of Python identifiers, found {_show(value)}",
        )
        return
    if package is not None and module.partition(".")[0] != package:
        chk.add(
            "class-outside-package",
            "class",
            f"the class must live in the plug-in's own top-level package {_name(package)} "
            f"(the folder holding this manifest), found module {_name(module)}; move the class "
            f"into {shown(package)}/ or the manifest next to "
            f"{shown(module.partition('.')[0])}/__init__.py",
        )


def _check_packages(chk: _Checker, value: list[Any]) -> tuple[PackageRequirement, ...]:
    result: list[PackageRequirement] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        key = f"requires.packages[{index}]"
        if not isinstance(item, str):
            chk.add("wrong-type", key, f"expected a string, found {toml_type(item)}")
            continue
        try:
            req = parse_requirement(item)
        except InvalidRequirement as exc:
            chk.add(
                "bad-requirement",
                key,
                "expected a PEP 508 requirement such as 'optuna>=4.0', found "
                f"{_show(item)} ({_reason(exc)})",
            )
            continue
        name = canonical_name(req.name)
        if name == CORE_DISTRIBUTION:
            chk.add(
                "core-in-packages",
                key,
                "helios-trainer must not be listed here; state its range in requires.helios",
            )
        elif name in seen:
            chk.add(
                "duplicate-package",
                key,
                f"{_name(req.name)} is already required by requires.packages[{seen[name]}]; "
                "merge the two into one requirement",
            )
        else:
            seen[name] = index
            result.append(req)
    return tuple(result)


def _check_device(chk: _Checker, raw: object) -> DeviceRequirement:
    table = chk.table("device", raw, _DEVICE_KEYS)
    accelerator = chk.typed(table, "device.", "accelerator", str)
    if accelerator is not None and accelerator not in ACCELERATORS:
        chk.add(
            "bad-value",
            "device.accelerator",
            f"expected one of {', '.join(repr(a) for a in ACCELERATORS)}, found {_show(accelerator)}",
        )
        accelerator = None
    accelerator = accelerator or "any"
    cuda = chk.specifier("device.cuda", chk.typed(table, "device.", "cuda", str), ">=12.1")
    cc = chk.specifier(
        "device.compute-capability",
        chk.typed(table, "device.", "compute-capability", str),
        ">=8.0",
    )
    min_devices = chk.typed(table, "device.", "min-devices", int)
    if min_devices is not None and min_devices < 1:
        chk.add(
            "bad-value",
            "device.min-devices",
            f"expected an integer >= 1, found {_show(min_devices)}",
        )
        min_devices = None
    # An invalid accelerator is already reported; do not blame the cuda-only keys on it.
    if accelerator != "cuda" and table.get("accelerator", "any") in ACCELERATORS:
        for name in _CUDA_ONLY_KEYS:
            if name in table:
                chk.add(
                    "needs-cuda-accelerator",
                    f"device.{name}",
                    f'only meaningful with accelerator = "cuda", found accelerator = '
                    f'"{accelerator}"; set accelerator = "cuda" or drop this key',
                )
    return DeviceRequirement(accelerator, cuda, cc, min_devices or 1)


def _check_overrides(chk: _Checker, raw: object) -> UniquePluginOverrides:
    table = chk.table("overrides", raw, UniquePluginOverrides.names())
    flags = {
        name: chk.typed(table, "overrides.", name, bool) for name in UniquePluginOverrides.names()
    }
    return UniquePluginOverrides(**{k: bool(v) for k, v in flags.items()})


def _name(text: str) -> str:
    """A name from outside, in single quotes as in ``repr``, escaped and cut."""
    return quote(text, quote_char="'")


def _required(chk: _Checker, table: dict[str, Any], prefix: str, name: str, kind: type) -> Any:
    if name not in table:
        chk.add("missing-key", f"{prefix}{name}", f"required key {name!r} is missing")
        return None
    return chk.typed(table, prefix, name, kind)


def _check_document(chk: _Checker, package: str | None, path: str) -> Manifest | None:
    version = _required(chk, chk.data, "", "manifest-version", int)
    if version is not None and version > SUPPORTED_MANIFEST_VERSION:
        chk.add(
            "version-too-new",
            "manifest-version",
            f"this helios-trainer understands manifest-version up to "
            f"{SUPPORTED_MANIFEST_VERSION}, found {_show(version)}; upgrade helios-trainer "
            "(pip install -U helios-trainer)",
        )
        return None  # the rest may follow rules this core does not know
    data = chk.table("", chk.data, _TOP_KEYS)
    if version is not None and version < 1:
        chk.add("bad-value", "manifest-version", f"expected 1, found {_show(version)}")
    plugin_id = _required(chk, data, "", "id", str)
    if plugin_id is not None and not ID_PATTERN.fullmatch(plugin_id):
        chk.add(
            "bad-id",
            "id",
            "expected a lowercase identifier (a letter, then letters, digits or '_', at most "
            f"64 characters) such as 'my_plugin', found {_show(plugin_id)}",
        )
    class_path = _required(chk, data, "", "class", str)
    if class_path is not None:
        _check_class(chk, class_path, package)
    summary = chk.typed(data, "", "summary", str) or ""
    breaker = _line_break(summary)
    if breaker is not None:
        chk.add(
            "bad-value",
            "summary",
            f"expected one line of text without control characters, found {breaker}",
        )
    requires = chk.table("requires", data["requires"], _REQUIRES_KEYS) if "requires" in data else {}
    if "requires" not in data:
        chk.add("missing-key", "requires", "required table [requires] with key 'helios' is missing")
    elif isinstance(data["requires"], dict) and "helios" not in requires:
        chk.add("missing-key", "requires.helios", "required key 'helios' is missing")
    helios = chk.specifier(
        "requires.helios", chk.typed(requires, "requires.", "helios", str), ">=0.1,<0.2"
    )
    python = chk.specifier(
        "requires.python", chk.typed(requires, "requires.", "python", str), ">=3.10"
    )
    raw_packages = chk.typed(requires, "requires.", "packages", list)
    packages = _check_packages(chk, raw_packages) if raw_packages else ()
    overrides = _check_overrides(chk, data.get("overrides", {}))
    device = _check_device(chk, data.get("device", {}))
    if chk.issues or helios is None:
        return None
    return Manifest(
        manifest_version=version,
        id=plugin_id,
        class_path=class_path,
        requires_helios=helios,
        summary=summary,
        requires_python=python,
        packages=packages,
        overrides=overrides,
        device=device,
        path=path,
    )


def _too_large(size: str) -> Finding:
    return ManifestIssue(
        "too-large",
        "",
        f"the manifest holds {size}; at most {MAX_MANIFEST_BYTES:,} are read (a manifest "
        "needs about 1 KB)",
    )


def parse_manifest(text: str, path: str = "<string>", package: str | None = None) -> Manifest:
    """Validate manifest ``text``; ``package`` is the top-level package the class must be in.

    :raises ManifestError: listing every problem with its key and line.
    """
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError(path, [_too_large(f"{len(text):,} characters")])
    try:
        data = parse_toml(text)
    except TOMLLimitError as exc:
        raise ManifestError(path, [ManifestIssue(exc.code, "", exc.message, exc.line)]) from None
    except TOMLSyntaxError as exc:
        raise ManifestError(
            path, [ManifestIssue("toml-syntax", "", f"not valid TOML: {exc}", exc.line)]
        ) from None
    chk = _Checker(data, text)
    manifest = _check_document(chk, package, path)
    if manifest is None:
        raise ManifestError(path, chk.issues)
    return manifest


def _read(path: Path) -> bytes:
    return read_regular_file(path, MAX_MANIFEST_BYTES)


def load_manifest(
    path: Path, package: str | None = None, read: Callable[[Path], bytes] | None = None
) -> Manifest:
    """Read and validate the manifest file at ``path``.

    ``package`` defaults to the name of the folder holding the file when that folder is a
    Python package (it has an ``__init__.py``). Only a regular file of at most
    :data:`MAX_MANIFEST_BYTES` is read; ``read`` replaces the reader (tests, archives).
    """
    folder = Path(os.path.abspath(path)).parent  # "x.toml" alone has parent "." (name "")
    if package is None and (folder / "__init__.py").is_file():
        package = folder.name
    try:
        raw = (read or _read)(path)
    except FileRefused as exc:
        raise ManifestError(str(path), [ManifestIssue(exc.code, "", exc.message)]) from None
    except OSError as exc:
        raise ManifestError(
            str(path),
            [ManifestIssue("unreadable", "", f"cannot read the file: {exc.strerror or exc}")],
        ) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(str(path), [_too_large(f"{len(raw):,} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            str(path),
            [
                ManifestIssue(
                    "toml-syntax",
                    "",
                    f"not UTF-8 text (byte {exc.start}); TOML files must be UTF-8",
                )
            ],
        ) from None
    return parse_manifest(text, str(path), package)

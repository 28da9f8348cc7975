"""What device this machine offers, found without importing torch or creating a CUDA context.

The probe is part of the torch-free floor: the plug-in compatibility checks call it before any
plug-in (or torch) is imported. It reads torch's version from installed metadata and the CUDA
version torch was built with from ``torch/version.py`` (parsed with :mod:`ast`, never executed).
GPUs come from NVML through :mod:`ctypes`; NVML never calls ``cuInit``, so a process that probes
can still fork safely. Set ``HELIOS_FAKE_DEVICE`` to a JSON object to pretend to be another
machine (see :func:`fake_device`).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helios.plugins._host.bounded_read import FileRefused, read_regular_text
from helios.plugins._host.distinfo import MetadataUnreadableError, headers
from helios.plugins._host.echo import quote, shown
from helios.plugins.device.info import (
    FAKE_ENV,
    FAKE_SOURCE,
    GPU,
    DeviceInfo,
    DriverReport,
    RawDevice,
)
from helios.plugins.device.visible import QUOTE, VISIBLE_ENV, select_visible, visible_gpus

__all__ = [
    "FAKE_ENV",
    "FAKE_SOURCE",
    "GPU",
    "QUOTE",
    "VISIBLE_ENV",
    "DeviceInfo",
    "DriverReport",
    "FakeDeviceError",
    "RawDevice",
    "fake_device",
    "probe_machine",
    "select_visible",
    "visible_gpus",
]

FAKE_EXAMPLE = (
    '{"torch_cuda": "12.1", "gpus": ["8.0", "8.6"], "driver": "550.54.15", '
    '"driver_cuda": "12.4", "torch_version": "2.5.1+cu121"}'
)


# --------------------------------------------------------------------------- the entry point


def probe_machine(environ: Mapping[str, str] | None = None) -> DeviceInfo:
    """Probe this machine now (a :class:`~helios.plugins._host.host.PluginHost` keeps the
    answer); never raises, except for an invalid ``HELIOS_FAKE_DEVICE`` (:class:`ValueError`).

    ``environ`` (default: ``os.environ``) gives ``HELIOS_FAKE_DEVICE`` and
    ``CUDA_VISIBLE_DEVICES``. NVML is loaded through :mod:`ctypes` only when really probing.
    """
    environ = os.environ if environ is None else environ
    visible = environ.get(VISIBLE_ENV)
    fake = environ.get(FAKE_ENV, "")
    if fake.strip():
        return fake_device(fake, visible)
    from helios.plugins.device import nvml  # ctypes: only when really probing

    try:
        lib = nvml.load_nvml()
    except OSError as exc:
        report = DriverReport(note=str(exc))
    else:
        report = nvml.probe_nvml(lib, visible)
    return report.device_info(installed_torch_version(), installed_torch_cuda())


# --------------------------------------------------------------------------- torch, unimported


def installed_torch_version() -> str | None:
    """The installed torch distribution's version, or None without torch."""
    try:
        dist = importlib.metadata.distribution("torch")
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        return headers(dist).get("Version", [None])[0]
    except MetadataUnreadableError:  # the probe never raises; the version stays unknown
        return None


def installed_torch_cuda() -> str | None:
    """The CUDA version the installed torch was built with; None for a CPU build or no torch."""
    path = torch_version_file()
    return None if path is None else read_torch_cuda(path)


def torch_version_file() -> Path | None:
    """``torch/version.py`` of the installed torch, found without importing anything."""
    try:
        dist = importlib.metadata.distribution("torch")
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        located = Path(str(dist.locate_file("torch/version.py")))
        if located.is_file():
            return located
    try:
        spec = importlib.util.find_spec("torch")  # top level: runs finders, executes nothing
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "version.py"
        if candidate.is_file():
            return candidate
    return None


#: The largest torch ``version.py`` read (the real one is well under 1 KiB).
VERSION_FILE_LIMIT = 64 * 1024


def read_torch_cuda(path: Path) -> str | None:
    """The module-level ``cuda = ...`` string in a torch ``version.py``; None if absent.

    Read as a regular file of at most :data:`VERSION_FILE_LIMIT` bytes: a FIFO or a huge file
    in its place is no CUDA build, never a hang.
    """
    try:
        tree = ast.parse(read_regular_text(path, VERSION_FILE_LIMIT), filename=str(path))
    except (FileRefused, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: str | None = None
    for node in tree.body:
        value = _assigned_value(node, "cuda")
        if value is not None:
            found = _string_constant(value)
    return found


def _assigned_value(node: ast.stmt, name: str) -> ast.expr | None:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return None
    named = any(isinstance(t, ast.Name) and t.id == name for t in targets)
    return node.value if named else None


def _string_constant(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


# --------------------------------------------------------------------------- HELIOS_FAKE_DEVICE

_FAKE_STRINGS = ("torch_version", "torch_cuda", "driver", "driver_cuda")
_FAKE_KEYS = (*_FAKE_STRINGS, "gpus")
_VERSION = re.compile(r"\d+(\.\d+)+")
_CAPABILITY = re.compile(r"\d+\.\d+")
# Bounds checked before the value is parsed: a machine with 2,000 GPUs fits in 16,384
# characters; a good value nests two levels (an object holding the GPU list).
_FAKE_MAX_CHARS = 16384
_FAKE_MAX_DEPTH = 4
_FAKE_MAX_NUMBER = 32  # characters of one JSON number
_FAKE_MAX_STRING = 64  # characters of one version or driver string


def fake_device(text: str, visible: str | None) -> DeviceInfo:
    """The machine described by a HELIOS_FAKE_DEVICE value (``visible`` still applies).

    Keys (all optional): torch_version, torch_cuda, driver, driver_cuda (strings or null) and
    gpus (compute capabilities such as "8.0"). A missing torch_version is read from the real
    installation; the other keys default to null / no GPU. Raises :class:`ValueError`.
    """
    values = _parse_fake(text)
    devices = [
        RawDevice("Fake GPU", capability, f"GPU-00000000-0000-0000-0000-{index:012d}")
        for index, capability in enumerate(values.get("gpus", []))
    ]
    gpus, note = visible_gpus(devices, visible)
    if not devices:
        note = f"{FAKE_ENV} lists no GPU"
    report = DriverReport(values.get("driver"), values.get("driver_cuda"), gpus, FAKE_SOURCE, note)
    torch_version = (
        values["torch_version"] if "torch_version" in values else installed_torch_version()
    )
    return report.device_info(torch_version, values.get("torch_cuda"))


class _LongNumber(Exception):
    """A JSON number longer than any value this setting can hold."""


def _bounded_number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > _FAKE_MAX_NUMBER:
            raise _LongNumber(text)
        return kind(text)

    return parse


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _load_fake_json(text: str) -> object:
    """``json.loads`` of a value whose size, nesting and numbers are bounded first."""
    if len(text) > _FAKE_MAX_CHARS:
        found = f"{len(text)} characters ({quote(text, quote_char=QUOTE)})"
        raise _fake_error(f"a JSON object of at most {_FAKE_MAX_CHARS} characters", found)
    depth = _nesting(text)
    if depth > _FAKE_MAX_DEPTH:
        found = f"a value nested {depth} levels deep ({quote(text, quote_char=QUOTE)})"
        raise _fake_error(f"a JSON object nested at most {_FAKE_MAX_DEPTH} levels deep", found)
    try:
        return json.loads(text, parse_int=_bounded_number(int), parse_float=_bounded_number(float))
    except json.JSONDecodeError as exc:
        found = f"{quote(text, quote_char=QUOTE)}, which is not JSON ({exc.msg} at char {exc.pos})"
    except _LongNumber as exc:
        number = exc.args[0]
        found = f"a number of {len(number)} characters ({shown(number)})"
        raise _fake_error(f"numbers of at most {_FAKE_MAX_NUMBER} characters", found) from None
    except (ValueError, RecursionError) as exc:  # whatever else the parser refuses
        found = f"{quote(text, quote_char=QUOTE)}, which is not JSON ({shown(str(exc))})"
    raise _fake_error("a JSON object", found)


def _parse_fake(text: str) -> dict[str, Any]:
    values = _load_fake_json(text)
    if not isinstance(values, dict):
        raise _fake_error("a JSON object", _json_kind(values))
    for key in values:
        if key not in _FAKE_KEYS:
            raise _fake_error(f"only the keys {', '.join(_FAKE_KEYS)}", f"the key {key!r}")
    for key in _FAKE_STRINGS:
        _check_fake_string(key, values.get(key))
    _check_fake_gpus(values.get("gpus", []))
    return values


def _check_fake_string(key: str, value: object) -> None:
    if value is None:
        return
    versioned = key in ("torch_cuda", "driver_cuda")
    if versioned and not (isinstance(value, str) and _VERSION.fullmatch(value)):
        raise _fake_error(f'"{key}" to be a version such as "12.1" or null', _json_kind(value))
    if not isinstance(value, str) or not value:
        raise _fake_error(f'"{key}" to be a non-empty string or null', _json_kind(value))
    if len(value) > _FAKE_MAX_STRING:
        found = f"{len(value)} characters ({_json_kind(value)})"
        raise _fake_error(f'"{key}" to be at most {_FAKE_MAX_STRING} characters long', found)


def _check_fake_gpus(value: object) -> None:
    expected = '"gpus" to be a list of compute capabilities such as ["8.0", "8.6"]'
    if not isinstance(value, list):
        raise _fake_error(expected, _json_kind(value))
    for item in value:
        if not (isinstance(item, str) and _CAPABILITY.fullmatch(item)):
            raise _fake_error(expected, f"an entry {_json_kind(item)}")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float)):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    else:
        kind = "array" if isinstance(value, list) else "object"
    return f"{kind} {shown(json.dumps(value))}"


class FakeDeviceError(ValueError):
    """A fake device description that is not one; ``expected`` and ``found`` let another
    source of the same JSON (``helios plugins check --device``) word its own message."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(
            f"{FAKE_ENV}: expected {expected}, found {found}. A good value: "
            f"{FAKE_ENV}='{FAKE_EXAMPLE}'"
        )
        self.expected = expected
        self.found = found


def _fake_error(expected: str, found: str) -> FakeDeviceError:
    return FakeDeviceError(expected, found)

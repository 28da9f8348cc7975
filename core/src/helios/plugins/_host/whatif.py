"""A hypothetical environment for ``helios plugins check --core/--python/--device``.

"Will my plug-ins survive helios-trainer 0.4 / Python 3.13 / a GPU box?" A :class:`WhatIf`
names the core version, the Python version and the device to judge manifests against instead of
the real ones; whatever it leaves out is this machine's. Nothing is installed, changed or
imported: the checks read the same manifests and metadata, with these values in place of the
installed core, the running interpreter and the probed device. Installed packages
(``requires.packages``) are still this environment's, their markers evaluated for the
hypothetical Python.

Every value comes from the command line, so it is bounded and checked here, and a bad one is a
:class:`ValueError` whose message names the option, the expected form and what was found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.version import InvalidVersion, Version

from helios.plugins._host.echo import escape, quote
from helios.plugins.device.info import DeviceInfo
from helios.plugins.device.probe import FAKE_EXAMPLE, FakeDeviceError, fake_device

__all__ = [
    "DEVICE_OPTION",
    "MAX_VERSION_CHARS",
    "WhatIf",
    "device_option",
    "parse_core_version",
    "parse_python_version",
]

#: The longest version string ``--core`` or ``--python`` accepts.
MAX_VERSION_CHARS = 64
#: Where a what-if device comes from, as the report names it.
DEVICE_OPTION = "--device"

_PYTHON = re.compile(
    r"(?P<major>[0-9]{1,3})\.(?P<minor>[0-9]{1,3})(?:\.[0-9]{1,4})?(?:(?:a|b|rc)[0-9]{1,3})?"
)


def _too_long(option: str, text: str, example: str) -> ValueError:
    return ValueError(
        f"{option}: expected a version of at most {MAX_VERSION_CHARS} characters such as "
        f"{example}, found {len(text):,} characters ({quote(text, quote_char=chr(39))})"
    )


def parse_core_version(text: str) -> str:
    """A ``--core`` value: a PEP 440 version of helios-trainer, such as ``0.4.0``.

    :raises ValueError: anything else; the message names the option and the expected form.
    """
    stripped = text.strip()
    if len(stripped) > MAX_VERSION_CHARS:
        raise _too_long("--core", stripped, "0.4.0")
    try:
        Version(stripped)
    except InvalidVersion:
        raise ValueError(
            f"--core: expected a helios-trainer version (PEP 440) such as 0.4.0 or 0.4.0rc1, "
            f"found {quote(text, quote_char=chr(39))}"
        ) from None
    return stripped


def parse_python_version(text: str) -> str:
    """A ``--python`` value: ``X.Y`` or ``X.Y.Z``, optionally a pre-release (``3.14.0rc1``).

    :raises ValueError: anything else; the message names the option and the expected form.
    """
    stripped = text.strip()
    if len(stripped) > MAX_VERSION_CHARS:
        raise _too_long("--python", stripped, "3.13")
    if _PYTHON.fullmatch(stripped) is None:
        raise ValueError(
            f"--python: expected a Python version such as 3.13 or 3.12.1, found "
            f"{quote(text, quote_char=chr(39))}"
        )
    return stripped


def device_option(text: str) -> DeviceInfo:
    """A ``--device`` value: the JSON object ``HELIOS_FAKE_DEVICE`` takes, describing the
    machine to judge against (``CUDA_VISIBLE_DEVICES`` is not applied to it).

    :raises ValueError: not such an object; the message names ``--device`` and a good value.
    """
    try:
        device = fake_device(text, None)
    except FakeDeviceError as exc:
        raise ValueError(
            f"{DEVICE_OPTION}: expected {exc.expected}, found {exc.found}. A good value: "
            f"{DEVICE_OPTION} '{FAKE_EXAMPLE}'"
        ) from None
    note = f"{DEVICE_OPTION} lists no GPU" if not device.gpus else ""
    return replace(device, source=f"what if ({DEVICE_OPTION})", note=note)


@dataclass(frozen=True)
class WhatIf:
    """The environment to judge against: each field given replaces this machine's value."""

    core: str | None = None
    python: str | None = None
    device: DeviceInfo | None = None

    @property
    def hypothetical(self) -> bool:
        """Whether anything is replaced (a plain ``check`` has no what-if)."""
        return self.core is not None or self.python is not None or self.device is not None

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker variables that differ from this interpreter's: the Python version."""
        if self.python is None:
            return {}
        match = _PYTHON.fullmatch(self.python)
        assert match is not None  # checked by parse_python_version
        return {
            "python_version": f"{match['major']}.{match['minor']}",
            "python_full_version": self.python,
        }

    def describe(self, wheels: Sequence[str] = ()) -> str:
        """``what if: helios-trainer 0.4.0, Python 3.13, dist/x.whl installed``."""
        parts = []
        if self.core is not None:
            parts.append(f"helios-trainer {self.core}")
        if self.python is not None:
            parts.append(f"Python {self.python}")
        if self.device is not None:
            parts.append(f"the device given by {DEVICE_OPTION}")
        parts += [f"{escape(wheel)} installed" for wheel in wheels]
        return "what if: " + ", ".join(parts) + " (nothing was installed or changed)"

    def to_json(self, wheels: Sequence[str] = ()) -> dict[str, Any]:
        """What is hypothetical (the report's ``device`` holds the device's details)."""
        return {
            "core": self.core,
            "python": self.python,
            "device": self.device is not None,
            "wheels": list(wheels),
        }

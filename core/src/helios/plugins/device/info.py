"""What the device probe reports: the visible GPUs, the driver and the torch build."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["FAKE_ENV", "FAKE_SOURCE", "GPU", "DeviceInfo", "DriverReport", "RawDevice"]

FAKE_ENV = "HELIOS_FAKE_DEVICE"
FAKE_SOURCE = f"fake ({FAKE_ENV})"


@dataclass(frozen=True)
class GPU:
    """One visible GPU; ``index`` is its CUDA ordinal after ``CUDA_VISIBLE_DEVICES``."""

    index: int
    name: str
    compute_capability: str  # "8.0"


@dataclass(frozen=True)
class DeviceInfo:
    """The torch build and the NVIDIA devices this process can use."""

    torch_version: str | None
    torch_cuda: str | None
    driver: str | None
    driver_cuda: str | None
    gpus: tuple[GPU, ...]
    source: str  # "nvml", "none" or FAKE_SOURCE
    note: str = ""  # why no GPU was found

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, GPUs as a list of objects."""
        return {
            "torch_version": self.torch_version,
            "torch_cuda": self.torch_cuda,
            "driver": self.driver,
            "driver_cuda": self.driver_cuda,
            "gpus": [
                {"index": g.index, "name": g.name, "compute_capability": g.compute_capability}
                for g in self.gpus
            ],
            "source": self.source,
            "note": self.note,
        }

    def describe(self) -> str:
        """One line for humans: the torch build, the driver, the GPUs or why there are none."""
        parts = [_describe_torch(self.torch_version, self.torch_cuda)]
        if self.driver is not None:
            cuda = f" (CUDA {self.driver_cuda})" if self.driver_cuda else ""
            parts.append(f"NVIDIA driver {self.driver}{cuda}")
        if self.gpus:
            parts.append(_describe_gpus(self.gpus))
        else:
            parts.append(f"no GPU ({self.note})" if self.note else "no GPU")
        text = "; ".join(parts)
        return f"{text} [{self.source}]" if self.source == FAKE_SOURCE else text


def _describe_gpus(gpus: Sequence[GPU]) -> str:
    groups = itertools.groupby(gpus, key=lambda g: (g.name, g.compute_capability))
    described = []
    for (name, capability), members in groups:
        count = len(list(members))
        described.append(
            f"{count} x {name} ({capability})" if count > 1 else f"{name} ({capability})"
        )
    return ", ".join(described)


def _describe_torch(version: str | None, cuda: str | None) -> str:
    if version is None and cuda is None:
        return "torch not installed"
    build = f"CUDA {cuda}" if cuda else "CPU build"
    return f"torch {version or '(not installed)'} ({build})"


class DriverReport(NamedTuple):
    """The driver half of a :class:`DeviceInfo`, as NVML (or the fake) reports it."""

    driver: str | None = None
    driver_cuda: str | None = None
    gpus: tuple[GPU, ...] = ()
    source: str = "none"
    note: str = ""

    def device_info(self, torch_version: str | None, torch_cuda: str | None) -> DeviceInfo:
        """Join this report with the torch half."""
        return DeviceInfo(
            torch_version=torch_version,
            torch_cuda=torch_cuda,
            driver=self.driver,
            driver_cuda=self.driver_cuda,
            gpus=self.gpus,
            source=self.source,
            note=self.note,
        )


class RawDevice(NamedTuple):
    """A GPU as the driver lists it, before CUDA_VISIBLE_DEVICES applies."""

    name: str
    compute_capability: str
    uuid: str

"""Traversal: every structure, to the ``meta`` device (no GPU here: the target is injected)."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, NamedTuple

import pytest
import torch

from helios_cuda import move_to_device

META = torch.device("meta")


class Pair(NamedTuple):
    image: torch.Tensor
    label: Any


@dataclasses.dataclass
class Sample:
    features: torch.Tensor
    name: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Frozen:
    values: torch.Tensor


class HasTo:
    """Not a tensor, but moves itself (like a tokenizer's BatchEncoding)."""

    def __init__(self) -> None:
        self.device: torch.device | None = None

    def to(self, device: torch.device) -> HasTo:
        self.device = device
        return self


def test_nested_structures_of_any_depth() -> None:
    marker = HasTo()
    batch = {
        "x": torch.ones(2),
        "nested": [(torch.zeros(1), {"deep": [torch.ones(3), "text", 4]})],
        "pair": Pair(torch.ones(1), label=7),
        "sample": Sample(torch.ones(2), "a", {"mask": torch.zeros(2)}),
        "frozen": Frozen(torch.ones(1)),
        "ordered": collections.OrderedDict(b=torch.ones(1), a=torch.ones(1)),
        "default": collections.defaultdict(list, k=[torch.ones(1)]),
        "custom": marker,
        "none": None,
    }
    moved = move_to_device(batch, META)
    assert moved["x"].device == META
    assert moved["nested"][0][0].device == META
    assert moved["nested"][0][1]["deep"][0].device == META
    assert moved["nested"][0][1]["deep"][1:] == ["text", 4]
    assert isinstance(moved["pair"], Pair)
    assert moved["pair"].image.device == META
    assert moved["pair"].label == 7
    assert isinstance(moved["sample"], Sample)
    assert moved["sample"].features.device == META
    assert moved["sample"].extra["mask"].device == META
    assert moved["sample"].name == "a"
    assert moved["frozen"].values.device == META
    assert list(moved["ordered"]) == ["b", "a"]
    assert type(moved["ordered"]) is collections.OrderedDict
    assert moved["default"]["missing"] == []  # the default factory survives
    assert moved["default"]["k"][0].device == META
    assert moved["custom"] is marker
    assert marker.device == META
    assert moved["none"] is None
    assert batch["x"].device.type == "cpu"  # the input is left as it was


def test_a_tensor_already_on_the_device_is_not_copied() -> None:
    tensor = torch.ones(3)
    assert move_to_device(tensor, torch.device("cpu")) is tensor
    assert move_to_device([tensor], torch.device("cpu"))[0] is tensor


def test_pinned_tensors_go_non_blocking_to_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """FakeGPU: pinning needs CUDA, so Tensor.is_pinned and Tensor.to are stand-ins here."""
    calls: list[dict[str, Any]] = []

    def fake_to(self: torch.Tensor, device: torch.device, **kwargs: Any) -> torch.Tensor:
        calls.append({"device": device, **kwargs})
        return self

    monkeypatch.setattr(torch.Tensor, "to", fake_to)
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.Tensor, "is_pinned", lambda self: True)
    move_to_device(torch.ones(1), gpu)
    monkeypatch.setattr(torch.Tensor, "is_pinned", lambda self: False)
    move_to_device(torch.ones(1), gpu)
    assert calls == [
        {"device": gpu, "non_blocking": True},
        {"device": gpu, "non_blocking": False},
    ]

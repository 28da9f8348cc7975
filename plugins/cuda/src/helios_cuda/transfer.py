"""Move a batch of any nesting to a device, leaving non-tensor leaves alone."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, MutableMapping
from typing import Any, TypeVar

import torch

__all__ = ["move_to_device"]

T = TypeVar("T")


def move_to_device(batch: T, device: torch.device) -> T:
    """Return ``batch`` with every tensor on ``device``.

    Handles tensors, lists, tuples, named tuples, mappings (dict subclasses keep their type),
    dataclass instances and any object with a ``.to(device)`` method, nested to any depth.
    A tensor already on ``device`` is not copied; a pinned CPU tensor bound for a GPU is copied
    with ``non_blocking=True`` (stream-ordered, so the step that uses it sees the data).
    Containers are rebuilt; other leaves are returned as they are.
    """
    return _move(batch, device)  # type: ignore[no-any-return]


def _move(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        if obj.device == device:
            return obj
        return obj.to(device, non_blocking=device.type == "cuda" and obj.is_pinned())
    if isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, Mapping):
        items = {key: _move(value, device) for key, value in obj.items()}
        if type(obj) is dict or not isinstance(obj, MutableMapping):
            return items
        mapping = copy.copy(obj)  # keeps OrderedDict order, defaultdict's factory, subclasses
        mapping.update(items)
        return mapping
    if isinstance(obj, tuple):
        members = [_move(item, device) for item in obj]
        return type(obj)(*members) if hasattr(obj, "_fields") else type(obj)(members)
    if isinstance(obj, list):
        members = [_move(item, device) for item in obj]
        return members if type(obj) is list else type(obj)(members)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        clone = copy.copy(obj)
        for field in dataclasses.fields(obj):
            object.__setattr__(clone, field.name, _move(getattr(obj, field.name), device))
        return clone
    to = getattr(obj, "to", None)
    if callable(to):
        return to(device)
    return obj

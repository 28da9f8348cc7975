"""Plug-in states checked when a checkpoint is saved, so that no resume meets one it refuses.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses NumPy scalars and
arrays, most Python objects and, depending on the torch version, some containers. A plug-in
state holding one would save fine and fail only at the next resume; :func:`check_plugin_states`
refuses it at the save instead, naming the plug-in and the key path.

The rule is torch's own: tensors, ``None``, booleans, numbers, strings, and dicts, lists and
tuples of them pass without further ado (every torch that helios supports loads them); any
other value is saved and loaded alone with ``weights_only=True``, and its verdict is kept for
its type for the rest of the check. So types allowed with ``torch.serialization.
add_safe_globals`` pass, and what this torch refuses is refused.
"""

from __future__ import annotations

import io
import reprlib
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from helios.checkpoint import CheckpointError
from helios.plugins._host.echo import shown

__all__ = ["Refusal", "check_plugin_states", "find_refusal"]

#: Leaf types every supported torch loads with ``weights_only=True``.
_LEAVES: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, torch.Tensor, torch.nn.Parameter}
)
#: Containers walked into, item by item (OrderedDict: what ``nn.Module.state_dict`` returns).
_MAPPINGS: frozenset[type] = frozenset({dict, OrderedDict})
_SEQUENCES: frozenset[type] = frozenset({list, tuple})
_SETS: frozenset[type] = frozenset({set, frozenset})
_CONTAINERS: frozenset[type] = _MAPPINGS | _SEQUENCES | _SETS
#: Containers nested deeper than this are refused: pickling recurses once per level and fails
#: (RecursionError) a few hundred levels down, less inside a deep call stack.
MAX_DEPTH = 100
#: repr of a refused value: a few levels and items, whatever its size or depth.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 80, 80


@dataclass(frozen=True)
class Refusal:
    """A value a checkpoint cannot hold.

    :param path: where it is, e.g. ``['shadow'][3]`` (empty: the value checked itself).
    :param value: the value refused (for ``role`` "key": the dict key).
    :param role: "value", "key" (a key of the dict at ``path``) or "element" (of the set there).
    :param reason: "refused" (``weights_only`` loading refuses it) or why it cannot be saved.
    """

    path: str
    value: object
    role: str
    reason: str


#: The step of a key or set element: nothing is indexed to reach it.
_NO_STEP = object()


class _Node:
    """A container on the walk and the way to it, built into a string only for a refusal."""

    __slots__ = ("depth", "parent", "step", "value")

    def __init__(self, value: Any, parent: _Node | None, step: object) -> None:
        self.value, self.parent, self.step = value, parent, step
        self.depth: int = 0 if parent is None else parent.depth + 1

    def path(self, last: object = _NO_STEP) -> str:
        """``['shadow'][3]``: the keys and indices from the top down to here (then ``last``)."""
        steps, node = [last], self
        while True:
            steps.append(node.step)
            if node.parent is None:
                break
            node = node.parent
        return "".join(f"[{shown(repr(s))}]" for s in reversed(steps) if s is not _NO_STEP)


def find_refusal(value: object) -> Refusal | None:
    """The first part of ``value`` that ``torch.load(weights_only=True)`` would refuse, or
    that cannot be saved at all; None when the whole of it loads back."""
    verdicts: dict[type, str | None] = {}  # leaf type -> None (loads) or why it does not
    if type(value) not in _CONTAINERS:
        reason = _verdict(value, verdicts)
        return None if reason is None else Refusal("", value, "value", reason)
    seen: set[int] = set()  # containers walked already (shared or cyclic ones once)
    stack = [_Node(value, None, _NO_STEP)]
    while stack:
        node = stack.pop()
        if id(node.value) in seen:
            continue
        seen.add(id(node.value))
        for step, item in _items(node.value):
            kind = type(item)
            if kind in _LEAVES:
                continue
            if kind not in _CONTAINERS:
                reason = _verdict(item, verdicts)
            elif step is _NO_STEP:  # a tuple key, a frozenset in a set: judged whole
                reason = _round_trip(item)
            elif kind in _SETS:  # whether sets load depends on the torch version
                reason = _verdict(kind(), verdicts)
            else:
                reason = None
            if reason is not None:
                role = (
                    "value" if step is not _NO_STEP else "key" if _is_mapping(node) else "element"
                )
                return Refusal(node.path(step), item, role, reason)
            if kind in _CONTAINERS and step is not _NO_STEP:
                if node.depth + 1 >= MAX_DEPTH:
                    return Refusal(
                        node.path(step),
                        item,
                        "value",
                        f"nests containers more than {MAX_DEPTH} levels deep (pickling "
                        "recurses once per level and would fail)",
                    )
                stack.append(_Node(item, node, step))
    return None


def _is_mapping(node: _Node) -> bool:
    return type(node.value) in _MAPPINGS


def _items(container: Any) -> Iterator[tuple[object, Any]]:
    """``(step, item)`` of a container: each key (no step) and value of a mapping, each item
    of a sequence (its index), each element of a set (no step)."""
    kind = type(container)
    if kind in _MAPPINGS:
        for key, item in container.items():
            yield _NO_STEP, key
            yield key, item
    elif kind in _SEQUENCES:
        yield from enumerate(container)
    else:
        for item in container:
            yield _NO_STEP, item


def _verdict(value: object, verdicts: dict[type, str | None]) -> str | None:
    """None if ``value`` round-trips through ``weights_only`` loading, else the reason; kept per
    type for the rest of the walk."""
    kind = type(value)
    if kind not in verdicts:
        verdicts[kind] = _round_trip(value)
    return verdicts[kind]


def _round_trip(value: object) -> str | None:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch's own notes (deprecations) are not the verdict
        warnings.simplefilter("ignore")
        try:
            torch.save(value, buffer)
        except Exception as exc:
            return f"cannot be saved ({type(exc).__name__}: {shown(str(exc).strip())})"
        buffer.seek(0)
        try:
            torch.load(buffer, weights_only=True)
        except Exception:
            return "refused"
    return None


def check_plugin_states(states: dict[str, Any]) -> None:
    """Refuse plug-in states (id -> ``state_dict()``) that a resume could not load.

    :raises CheckpointError: naming the plug-in, the key path (``plugins['ema']['shadow'][3]``),
        the value and the fix; nothing is written.
    """
    for plugin_id, state in states.items():
        if not isinstance(state, dict):
            raise CheckpointError(
                f"plug-in {plugin_id!r} cannot be checkpointed: its state_dict() returned "
                f"{_a(state)}, expected a dict; return a dict of tensors, numbers, strings "
                "and lists, tuples or dicts of them"
            )
        refusal = find_refusal(state)
        if refusal is not None:
            raise CheckpointError(_message(plugin_id, refusal))


def _a(value: object, noun: str = "") -> str:
    """``a numpy.float64 (np.float64(0.5))``; with ``noun``: ``a numpy.int64 key (...)``."""
    kind = type(value)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    article = "an" if name[:1] in "aeiou" else "a"
    return f"{article} {name}{' ' + noun if noun else ''} ({shown(_REPR.repr(value))})"


def _message(plugin_id: str, refusal: Refusal) -> str:
    where = shown(f"plugins[{plugin_id!r}]{refusal.path}", 200)  # a deep path is cut
    if refusal.role == "key":
        holds = f"{_a(refusal.value, 'key')} in the dict at {where}"
    elif refusal.role == "element":
        holds = f"{_a(refusal.value)} in the set at {where}"
    else:
        holds = f"{_a(refusal.value)} at {where}"
    if refusal.reason == "refused":
        why = "which torch.load(weights_only=True) refuses, so no run could resume from it"
    else:
        why = f"which {refusal.reason}"
    return (
        f"plug-in {plugin_id!r} cannot be checkpointed: its state_dict() holds {holds}, "
        f"{why}; {_fix(refusal)}"
    )


def _fix(refusal: Refusal) -> str:
    kind = type(refusal.value)
    if kind.__module__.split(".")[0] == "numpy":
        return "store float(x) or int(x) for a NumPy scalar, torch.from_numpy(x) for an array"
    if kind in _SETS:
        return "store a sorted list instead"
    plain = "store tensors, numbers, strings, and lists, tuples or dicts of them instead"
    if refusal.reason != "refused":
        return plain
    return (
        f"{plain}, or allow the class with torch.serialization.add_safe_globals([...]) in "
        "every process that saves or resumes"
    )

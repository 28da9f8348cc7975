"""Plug-in states are checked when a checkpoint is saved: what ``torch.load(weights_only=True)``
would refuse fails at that save, naming the plug-in and the key path."""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.checkpoint import CheckpointError
from helios.distributed import spawn
from helios.plugin_state import check_plugin_states, find_refusal
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer
from support.toy import ToyData, ToyModel

np = pytest.importorskip("numpy")


@dataclasses.dataclass
class Point:
    x: int


def _self_referencing() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


CANDIDATES = {
    "None": None,
    "bool": True,
    "int": 3,
    "big int": 10**30,
    "float": 2.5,
    "inf": float("inf"),
    "complex": 1j,
    "str": "text",
    "bytes": b"raw",
    "bytearray": bytearray(b"raw"),
    "tensor": torch.arange(3),
    "parameter": torch.nn.Parameter(torch.ones(2)),
    "sparse tensor": torch.ones(2).to_sparse(),
    "dtype": torch.float16,
    "device": torch.device("cpu"),
    "size": torch.Size([2, 3]),
    "list": [1, 2.0, "x", None],
    "tuple": (1, (2, (3,))),
    "dict": {"a": {"b": [torch.zeros(1)]}},
    "int and tuple keys": {1: "a", (2, "b"): 3, None: 4, 1.5: 5},
    "OrderedDict": collections.OrderedDict(a=1),
    "Counter": collections.Counter("abc"),
    "set": {1, 2, "x"},
    "self-referencing list": _self_referencing(),
    "frozenset": frozenset({1}),
    "defaultdict": collections.defaultdict(int),
    "numpy scalar": np.float64(0.5),
    "numpy int": np.int64(3),
    "numpy array": np.zeros(2),
    "numpy key": {np.int64(1): 1},
    "numpy in a tuple key": {(1, np.int64(2)): 1},
    "numpy in a set": {(1, np.int64(2))},
    "Fraction": Fraction(1, 3),
    "range": range(3),
    "dataclass": Point(1),
    "object": object(),
    "generator": torch.Generator(),
    "lock (cannot be pickled)": threading.Lock(),
}


def torch_loads(value: object) -> bool:
    """The reference: does ``value`` survive torch.save, then torch.load(weights_only=True)?"""
    buffer = io.BytesIO()
    try:
        torch.save({"value": value}, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("value", CANDIDATES.values(), ids=CANDIDATES.keys())
def test_the_check_agrees_with_a_weights_only_round_trip(value: object) -> None:
    assert (find_refusal({"value": value}) is None) is torch_loads(value)


def test_what_the_check_lets_pass_without_a_round_trip_loads() -> None:
    # the walk's fast path (no round trip) for these types; torch itself must agree
    state = {
        "leaves": [None, True, 1, 1.5, "s", torch.ones(1), torch.nn.Parameter(torch.ones(1))],
        "containers": collections.OrderedDict(t=(1, [2, {"k": 3}])),
    }
    assert torch_loads(state)
    assert find_refusal(state) is None


def test_a_class_allowed_with_safe_globals_passes() -> None:
    assert find_refusal({"p": Point(1)}) is not None
    with torch.serialization.safe_globals([Point]):
        assert find_refusal({"p": Point(1)}) is None


def message(state: dict[str, Any], plugin_id: str = "ema") -> str:
    with pytest.raises(CheckpointError, match=rf"^plug-in '{plugin_id}' cannot be") as caught:
        check_plugin_states({"fine": {"x": 1}, plugin_id: state})
    return str(caught.value)


def test_a_numpy_scalar_is_named_with_its_key_path_and_the_fix() -> None:
    state = {"shadow": [torch.ones(1), torch.ones(1), 2, np.float64(0.5)], "step": 3}
    assert message(state) == (
        "plug-in 'ema' cannot be checkpointed: its state_dict() holds a numpy.float64 "
        "(np.float64(0.5)) at plugins['ema']['shadow'][3], which torch.load(weights_only=True) "
        "refuses, so no run could resume from it; store float(x) or int(x) for a NumPy "
        "scalar, torch.from_numpy(x) for an array"
    )


def test_a_refused_key_and_a_refused_set_element_are_named() -> None:
    assert message({"counts": {np.int64(3): 1}}) == (
        "plug-in 'ema' cannot be checkpointed: its state_dict() holds a numpy.int64 key "
        "(np.int64(3)) in the dict at plugins['ema']['counts'], which "
        "torch.load(weights_only=True) refuses, so no run could resume from it; store "
        "float(x) or int(x) for a NumPy scalar, torch.from_numpy(x) for an array"
    )
    assert message({"seen": [{(1, Fraction(1, 2))}]}) == (
        "plug-in 'ema' cannot be checkpointed: its state_dict() holds a tuple "
        "((1, Fraction(1, 2))) in the set at plugins['ema']['seen'][0], which "
        "torch.load(weights_only=True) refuses, so no run could resume from it; store "
        "tensors, numbers, strings, and lists, tuples or dicts of them instead, or allow the "
        "class with torch.serialization.add_safe_globals([...]) in every process that saves "
        "or resumes"
    )


def test_a_frozenset_is_told_to_become_a_list() -> None:
    assert message({"tags": frozenset({"a"})}) == (
        "plug-in 'ema' cannot be checkpointed: its state_dict() holds a frozenset "
        "(frozenset({'a'})) at plugins['ema']['tags'], which torch.load(weights_only=True) "
        "refuses, so no run could resume from it; store a sorted list instead"
    )


def test_a_value_that_cannot_be_pickled_is_named() -> None:
    text = message({"guard": threading.Lock()})
    assert text.startswith(
        "plug-in 'ema' cannot be checkpointed: its state_dict() holds a _thread.lock (<unlocked "
    )
    assert text.endswith(
        "at plugins['ema']['guard'], which cannot be saved (TypeError: cannot pickle "
        "'_thread.lock' object); store tensors, numbers, strings, and lists, tuples or dicts "
        "of them instead"
    )


def test_a_long_key_is_cut_in_the_path() -> None:
    text = message({"k" * 5000: {"v": Fraction(1, 2)}})
    assert "characters)]['v']" in text
    assert len(text) < 1000


def test_a_state_that_is_not_a_dict_is_refused() -> None:
    with pytest.raises(CheckpointError) as caught:
        check_plugin_states({"ema": [1, 2]})  # type: ignore[dict-item]
    assert str(caught.value) == (
        "plug-in 'ema' cannot be checkpointed: its state_dict() returned a list ([1, 2]), "
        "expected a dict; return a dict of tensors, numbers, strings and lists, tuples or "
        "dicts of them"
    )


# ---------------------------------------------------------------------- in the trainer
class Best(Plugin):
    """Keeps the best metric as the model computed it: a NumPy scalar, by mistake."""

    def setup(self) -> None:
        self.best = np.float64(0.25)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "history": [1.0, 0.5]}


def test_the_save_that_would_write_it_fails_and_writes_nothing(tmp_path: Path) -> None:
    trainer = Trainer(
        total=2, run_dir=tmp_path, checkpoint_every=1, device="cpu", progress=False,
        plugins=[Best("best")],
    )  # fmt: skip
    model = ToyModel()
    with pytest.raises(CheckpointError) as caught:
        trainer.fit(model, ToyData(size=16))
    assert str(caught.value) == (
        "plug-in 'best' cannot be checkpointed: its state_dict() holds a numpy.float64 "
        "(np.float64(0.25)) at plugins['best']['best'], which torch.load(weights_only=True) "
        "refuses, so no run could resume from it; store float(x) or int(x) for a NumPy "
        "scalar, torch.from_numpy(x) for an array"
    )
    assert trainer.state.epoch == 1 and len(model.losses) == 2  # at the first checkpoint
    assert list(tmp_path.glob("*.pth")) == []
    assert list(tmp_path.glob(".*.tmp-*")) == []


def test_in_ddp_every_rank_raises_rank_0s_refusal(tmp_path: Path) -> None:
    from support.ddp_features import refused_state_rank

    spawn(refused_state_rank, 2, args=(str(tmp_path),))
    errors = [json.loads((tmp_path / f"rank{r}.json").read_text())["error"] for r in (0, 1)]
    assert errors[0] == errors[1]
    assert errors[0].startswith(
        "plug-in 'numpy' cannot be checkpointed: its state_dict() holds a numpy.float64 "
        "(np.float64(0.5)) at plugins['numpy']['best']"
    )
    assert list((tmp_path / "run").glob("*.pth")) == []


def test_a_state_nested_deeper_than_pickling_can_go_is_refused_with_a_cut_path() -> None:
    from helios.plugin_state import MAX_DEPTH

    deep: list[object] = []
    inner = deep
    for _ in range(100_000):  # torch.save alone fails at about 500 levels (RecursionError)
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    with pytest.raises(CheckpointError) as caught:
        check_plugin_states({"deep": {"d": deep}})
    message = str(caught.value)
    assert message.startswith(
        "plug-in 'deep' cannot be checkpointed: its state_dict() holds a list ([[[[...]]]]) at "
        "plugins['deep']['d']" + "[0]" * 60 + "... ("
    )
    path = "plugins['deep']['d']" + "[0]" * (MAX_DEPTH - 1)  # the first level too deep
    assert f"... ({len(path):,} characters), which nests" in message
    assert message.endswith(
        f"which nests containers more than {MAX_DEPTH} levels deep (pickling recurses once per "
        "level and would fail); store tensors, numbers, strings, and lists, tuples or dicts of "
        "them instead"
    )
    shallow: list[object] = []
    inner = shallow
    for _ in range(MAX_DEPTH - 2):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    check_plugin_states({"ok": {"d": shallow}})  # the deepest state allowed passes

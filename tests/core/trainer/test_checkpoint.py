"""Checkpoint files: atomic writes, retention, torn-file fallback, weights-only loading."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pickle
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from helios import checkpoint as ckpt
from helios.trainer import Trainer, TrainingUnit
from support.toy import ToyData, ToyModel


def fit(run_dir: Path, total: int = 6, **kwargs: object) -> ToyModel:
    model = ToyModel()
    trainer = Trainer(
        total=total, unit=TrainingUnit.ITERATION, checkpoint_every=1, run_dir=run_dir,
        keep_checkpoints=3, progress=False, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    trainer.fit(model, ToyData())
    return model


def test_keeps_the_newest_n_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    fit(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "toy_step000000004.pth",
        "toy_step000000005.pth",
        "toy_step000000006.pth",
    ]
    data = ckpt.load_checkpoint(tmp_path / "toy_step000000006.pth")
    assert data["state"]["iteration"] == 6
    assert data["state"]["finished"] is True
    assert set(data) == {"format", "world_size", "state", "model", "plugins", "rng", "metrics"}
    assert data["format"] == 3


def test_torn_newest_checkpoint_falls_back_with_a_warning_naming_both(tmp_path: Path) -> None:
    fit(tmp_path, total=4)
    newest = tmp_path / "toy_step000000004.pth"
    previous = tmp_path / "toy_step000000003.pth"
    newest.write_bytes(newest.read_bytes()[:100])  # torn: a crash mid-write without rename
    with pytest.warns(RuntimeWarning) as caught:
        path, data = ckpt.find_latest(tmp_path, "toy") or (None, None)
    assert path == previous
    assert data is not None and data["state"]["iteration"] == 3
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith(f"checkpoint {newest} is torn or corrupt (")
    assert message.endswith(f"); resuming from {previous} instead")


def test_resume_past_a_torn_file_trains_on(tmp_path: Path) -> None:
    fit(tmp_path, total=4)
    (tmp_path / "toy_step000000004.pth").write_bytes(b"not a zip file")
    with pytest.warns(RuntimeWarning, match="torn or corrupt"):
        model = fit(tmp_path, total=4)
    assert [batch for batch, _ in model.losses] == [4]  # only the lost step is redone


def test_every_file_torn_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "toy_step000000001.pth").write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="no usable checkpoint for 'toy'"):
        ckpt.find_latest(tmp_path, "toy")


class Arbitrary:
    """Not a tensor, number or container: weights_only loading must refuse it."""


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "toy_step000000001.pth"
    torch.save({"format": 1, "payload": Arbitrary()}, path)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.load_checkpoint(path)
    assert re.fullmatch(
        rf"{re.escape(str(path))} holds pickled Python objects \(GLOBAL [\w.]*Arbitrary\) and "
        r"helios loads checkpoints with weights_only=True; save only tensors, numbers, strings "
        r"and containers of them in state_dict\(\)",
        str(caught.value),
    )


def test_not_a_helios_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "toy_step000000001.pth"
    torch.save(collections.OrderedDict(weights=torch.zeros(1)), path)
    with pytest.raises(ckpt.CheckpointError, match="is not a helios checkpoint"):
        ckpt.load_checkpoint(path)


# ---------------------------------------------------------------------- damaged files
def member(path: Path, suffix: str) -> tuple[int, int]:
    """Where the bytes of the zip member whose name ends with ``suffix`` lie: offset, size."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    raw = path.read_bytes()
    name, extra = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + name + extra, info.file_size


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x55
    path.write_bytes(bytes(raw))


def rng_member(path: Path) -> str:
    """The zip member of rank 0's torch generator state (5056 bytes of mt19937)."""
    with zipfile.ZipFile(path) as archive:
        sizes = {i.filename: i.file_size for i in archive.infolist()}
    (name,) = [n for n, size in sizes.items() if size == torch.get_rng_state().numel()]
    return name.split("/", 1)[1]


def legacy(path: Path) -> None:
    """Rewrite ``path`` as helios wrote it before the digest: format 1, no trailer (and no
    metrics, which came with format 3)."""
    data = torch.load(path, weights_only=True)
    data.pop("metrics", None)
    torch.save({**data, "format": 1}, path)


def with_pickle(path: Path, pickle_bytes: bytes) -> None:
    """A format-1 zip with valid CRCs whose data.pkl is ``pickle_bytes``: damage no CRC sees."""
    legacy(path)
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w") as target:
        for info, data in members:
            target.writestr(info, pickle_bytes if info.filename.endswith("data.pkl") else data)


def flip_tensor(path: Path) -> None:
    offset, size = member(path, "/data/0")
    assert size == 16 * 8 * 4  # the first layer's weight
    flip(path, offset + 100)


def flip_rng(path: Path) -> None:
    offset, size = member(path, rng_member(path))
    flip(path, offset + size // 2)


def flip_legacy(path: Path) -> None:
    legacy(path)
    flip_tensor(path)


def change_digest(path: Path) -> None:
    raw = path.read_bytes()
    digit = raw[-65:-64]
    path.write_bytes(raw[:-65] + (b"0" if digit != b"0" else b"1") + raw[-64:])


DIGEST = "SHA-256 digest mismatch: its bytes changed after it was written"
DAMAGE = {
    "b'torn'": (lambda p: p.write_bytes(b"torn"), "BadZipFile: File is not a zip file"),
    "cut short": (lambda p: p.write_bytes(p.read_bytes()[:100]), "BadZipFile: "),
    "a flipped byte in a weight": (flip_tensor, DIGEST),
    "a flipped byte in the RNG state": (flip_rng, DIGEST),
    "another digest": (change_digest, DIGEST),
    "no trailer": (
        lambda p: p.write_bytes(p.read_bytes()[:-79]),
        "its SHA-256 trailer is missing or damaged",
    ),
    "format 1, a flipped byte": (flip_legacy, "CRC-32 mismatch in its member "),
    "format 1, a pickle that pops too much": (
        lambda p: with_pickle(p, b"torn"),
        "IndexError: ",
    ),
    "format 1, a pickle that reads a missing memo": (
        lambda p: with_pickle(p, b"h\x05."),
        "KeyError: ",
    ),
    "format 1, a zip without a tensor": (
        lambda p: drop_member(p, "/data/0"),
        "RuntimeError: PytorchStreamReader failed locating file data/0",
    ),
}


def drop_member(path: Path, suffix: str) -> None:
    legacy(path)
    with zipfile.ZipFile(path) as source:
        members = [
            (i, source.read(i)) for i in source.infolist() if not i.filename.endswith(suffix)
        ]
    with zipfile.ZipFile(path, "w") as target:
        for info, data in members:
            target.writestr(info, data)


@pytest.mark.parametrize(("damage", "cause"), DAMAGE.values(), ids=DAMAGE.keys())
def test_every_damaged_newest_file_falls_back_with_the_warning(
    tmp_path: Path, damage: Callable[[Path], None], cause: str
) -> None:
    fit(tmp_path, total=4)
    newest, previous = tmp_path / "toy_step000000004.pth", tmp_path / "toy_step000000003.pth"
    damage(newest)
    with pytest.warns(RuntimeWarning) as caught:
        model = fit(tmp_path, total=4)
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith(f"checkpoint {newest} is torn or corrupt ({cause}"), message
    assert message.endswith(f"); resuming from {previous} instead")
    assert [batch for batch, _ in model.losses] == [4]  # only the lost step is redone


def test_a_file_of_format_1_without_a_digest_still_resumes(tmp_path: Path) -> None:
    fit(tmp_path, total=4)
    legacy(tmp_path / "toy_step000000004.pth")
    model = fit(tmp_path, total=6)
    assert [batch for batch, _ in model.losses] == [5, 6]


def test_a_new_file_carries_the_digest_of_its_bytes(tmp_path: Path) -> None:
    fit(tmp_path, total=1)
    raw = (tmp_path / "toy_step000000001.pth").read_bytes()
    body, trailer = raw[:-79], raw[-79:]
    assert trailer == b"helios-sha256 " + hashlib.sha256(body).hexdigest().encode() + b"\n"
    assert ckpt.load_checkpoint(tmp_path / "toy_step000000001.pth")["format"] == 3


def test_a_fifo_named_like_the_newest_checkpoint_is_no_candidate(tmp_path: Path) -> None:
    from support.runs import finished, train

    finished(tmp_path, unit="iteration", total=4)
    fifo = tmp_path / "checkpoints" / "toy_step000000009.pth"
    os.mkfifo(fifo)
    proc = train(tmp_path, unit="iteration", total=6)  # would block forever opening the FIFO
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "losses.jsonl").read_text(encoding="utf-8").splitlines()
    batches = [json.loads(line)["batch"] for line in lines]
    assert batches == [1, 2, 3, 4, 5, 6]  # resumed from step 4
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints", "toy")] == [
        f"toy_step{step:09d}.pth" for step in (4, 5, 6)
    ]
    assert fifo.exists()  # not the trainer's: retention leaves it alone
    with pytest.raises(ckpt.CorruptCheckpointError, match="is torn or corrupt \\(not a regular"):
        ckpt.load_checkpoint(fifo)  # asked directly, it does not block either


# ---------------------------------------------------------------------- intact, but unusable
#: A string that :func:`rewrite` turns into lists nested :data:`DEPTH` deep: deeper than
#: ``repr`` or ``torch.save`` can go, so only a pickle written by hand holds them.
DEEP = "helios-test: a deep list here"
DEPTH = 100_000


def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a checkpoint's entries and write it again, digest included."""
    data = torch.load(path, weights_only=True)
    change(data)
    ckpt.save_checkpoint(data, path, keep=0)
    if DEEP.encode() in path.read_bytes():
        deepen(path)


def deepen(path: Path) -> None:
    """Replace :data:`DEEP` in the pickle by lists nested :data:`DEPTH` deep (EMPTY_LIST
    DEPTH times, then APPEND DEPTH - 1 times), as a file made by hand could; digest included."""
    text = DEEP.encode()
    string = b"X" + len(text).to_bytes(4, "little") + text  # BINUNICODE
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as target:
        for info, data in members:
            if info.filename.endswith("data.pkl"):
                assert data.count(string) == 1
                data = data.replace(string, b"]" * DEPTH + b"a" * (DEPTH - 1))
            target.writestr(info, data)
    raw = body.getvalue()
    path.write_bytes(raw + b"helios-sha256 " + hashlib.sha256(raw).hexdigest().encode() + b"\n")


def pop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(key) and None


def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.update({key: value})


def put_state(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["state"].update({key: value})


def pop_state(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["state"].pop(key) and None


FIELDS = (
    "iteration, epoch, batch, global_batch, validation_cycles, early_stop_count, best_metric, "
    "stopped, finished"
)
ENTRIES = "format, world_size, state, model, plugins, rng, metrics"
DELETE = "delete the file to resume from the one before it"


def _invalid_mt19937() -> str:
    """torch's own words for a generator state it cannot take."""
    try:
        torch.Generator().set_state(torch.zeros(5056, dtype=torch.uint8))
    except RuntimeError as exc:
        return str(exc)
    raise AssertionError("torch took an all-zero mt19937 state")


INVALID_MT19937 = _invalid_mt19937()
UNUSABLE = {
    "format 99": (
        put("format", 99),
        "entry 'format' is 99, and this helios-trainer reads formats 1 to 3; a newer "
        "helios-trainer wrote it: upgrade (pip install -U helios-trainer), or pass another "
        "run_dir",
    ),
    "format True": (
        put("format", True),
        "entry 'format' is True, and this helios-trainer reads formats 1 to 3; a newer "
        "helios-trainer wrote it: upgrade (pip install -U helios-trainer), or pass another "
        "run_dir",
    ),
    "a huge format": (  # a value read from the file is cut in the message
        put("format", "9" * 10_000),
        "entry 'format' is '" + "9" * 79 + "... (10,002 characters), and this helios-trainer "
        "reads formats 1 to 3; a newer helios-trainer wrote it: upgrade (pip install -U "
        "helios-trainer), or pass another run_dir",
    ),
    "no world_size": (
        pop("world_size"),
        f"entry 'world_size' is missing; a helios checkpoint has {ENTRIES}: {DELETE}",
    ),
    "an unknown entry": (
        put("extra", 1),
        f"entry 'extra' is unknown (a helios checkpoint has {ENTRIES}); {DELETE}",
    ),
    "rng of another type": (
        put("rng", "x"),
        f"entry 'rng' is a str, expected a list; {DELETE}",
    ),
    "rng of another length": (
        put("rng", []),
        "entry 'rng' holds 0 item(s) of type(s) none, expected one dict of generator states per "
        f"process (1); {DELETE}",
    ),
    "rng items of another type": (
        put("rng", [[1]]),
        "entry 'rng' holds 1 item(s) of type(s) list, expected one dict of generator states per "
        f"process (1); {DELETE}",
    ),
    "an invalid generator state": (
        lambda data: data["rng"][0].update(torch=torch.zeros(5056, dtype=torch.uint8)),
        f"entry 'rng' cannot be restored (RuntimeError: {INVALID_MT19937}); {DELETE}",
    ),
    "an unknown state key": (
        put_state("bogus", 1),
        f"entry 'state' has the unknown key 'bogus' (a training state has {FIELDS}); this "
        "helios-trainer cannot resume it: pass another run_dir",
    ),
    "a huge unknown state key": (
        put_state("k" * 10_000, 1),
        "entry 'state' has the unknown key '" + "k" * 79 + "... (10,002 characters) (a training "
        f"state has {FIELDS}); this helios-trainer cannot resume it: pass another run_dir",
    ),
    "a missing state key": (
        pop_state("iteration"),
        f"entry 'state' has no key 'iteration'; {DELETE}",
    ),
    "a state key of another type": (
        put_state("iteration", "4"),
        f"entry 'state' key 'iteration' is '4', expected int; {DELETE}",
    ),
    "a huge value for an int": (
        put_state("iteration", "4" * 10_000),
        "entry 'state' key 'iteration' is '" + "4" * 79 + "... (10,002 characters), expected "
        f"int; {DELETE}",
    ),
    "a bool for an int": (
        put_state("epoch", True),
        f"entry 'state' key 'epoch' is True, expected int; {DELETE}",
    ),
    "a negative count": (
        put_state("batch", -5),
        f"entry 'state' key 'batch' is -5, expected a count from 0 to {2**63 - 1}; {DELETE}",
    ),
    "a count past 2**63 - 1": (
        put_state("iteration", 10**100),
        "entry 'state' key 'iteration' is 1" + "0" * 37 + "..." + "0" * 39 + ", expected a "
        f"count from 0 to {2**63 - 1}; {DELETE}",  # 38 digits, 39 digits: cut in the middle
    ),
    "a state value nested deeper than repr goes": (
        put_state("best_metric", DEEP),
        f"entry 'state' key 'best_metric' is [[[[...]]]], expected float | None; {DELETE}",
    ),
    "metrics nested deeper than repr goes": (
        put("metrics", DEEP),
        "entry 'metrics' holds [[[[...]]]], expected one dict of metrics (string keys) per "
        f"process (1); {DELETE}",
    ),
    "a metric nested deeper than a save allows": (
        put("metrics", [{"deep": DEEP}]),
        "entry 'metrics' would fail the next save (model.metrics cannot be checkpointed: "
        f"metrics['deep']{'[0]' * 100} is a list ([[[[...]]]]), which nests containers more "
        "than 100 levels deep (pickling recurses once per level and would fail); store a "
        f"float (float(x)), an int or a tensor instead); {DELETE}",
    ),
    "a plug-in state that is not a dict": (
        put("plugins", {"ema": 5}),
        "entry 'plugins' holds 5 under the key 'ema', expected a dict (a plug-in's state) "
        f"under a string (its id); {DELETE}",
    ),
    "a plug-in state nested deeper than repr goes": (
        put("plugins", {"ema": DEEP}),
        "entry 'plugins' holds [[[[...]]]] under the key 'ema', expected a dict (a plug-in's "
        f"state) under a string (its id); {DELETE}",
    ),
    "a plug-in id that is not a string": (
        put("plugins", {3: {}}),
        "entry 'plugins' holds {} under the key 3, expected a dict (a plug-in's state) under "
        f"a string (its id); {DELETE}",
    ),
    "a generator state that is not one": (
        lambda data: data["rng"][0].update(python=DEEP),
        "entry 'rng' cannot be restored (ValueError: not enough values to unpack (expected 3, "
        f"got 1)); {DELETE}",
    ),
    "a model entry without its network": (
        put("model", {}),
        "entry 'model' does not fit LoadRecordingModel (KeyError: 'network'); for a changed model pass "
        f"another run_dir or save_name, else {DELETE}",
    ),
    "a pickle torch refuses (an int of 2326 bits)": (
        put("format", 10**700),
        None,  # torch's words: see test_a_pickle_torch_refuses_is_named_with_torchs_words
    ),
}


class LoadRecordingModel(ToyModel):
    """Records that its weights were restored."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = 0

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.loaded += 1
        super().load_state_dict(state_dict)


def _torch_words(value: object) -> str:
    """What torch's weights-only unpickler says, in its own words, about a pickle of value."""
    buffer = io.BytesIO()
    torch.save({"x": value}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError) as caught:
        torch.load(buffer, weights_only=True)
    inner = caught.value.__context__
    assert isinstance(inner, pickle.UnpicklingError)  # torch's own error, re-raised with advice
    return f"UnpicklingError: {inner}"


@pytest.mark.parametrize(("change", "error"), UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_intact_file_of_the_wrong_shape_is_a_checkpoint_error_naming_file_and_key(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    error: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fit(tmp_path, total=4)
    newest = tmp_path / "toy_step000000004.pth"
    rewrite(newest, change)
    if error is None:
        error = (
            f"holds a pickle that torch.load(weights_only=True) refuses ({_torch_words(10**700)})"
            " and helios loads checkpoints with weights_only=True; save only tensors, numbers, "
            "strings and containers of them in state_dict()"
        )
    model = LoadRecordingModel()
    trainer = Trainer(
        total=6, unit=TrainingUnit.ITERATION, checkpoint_every=1, run_dir=tmp_path,
        progress=False,
    )  # fmt: skip
    with pytest.raises(ckpt.CheckpointError) as caught:
        trainer.fit(model, ToyData())
    assert str(caught.value) == f"{newest}{' ' if error.startswith('holds') else ': '}{error}"
    assert model.losses == []
    # Refused before anything was restored (the model's own entry aside, which is the check).
    assert model.loaded == (1 if "entry 'model'" in error else 0)
    assert trainer.state.iteration == 0
    assert "training failed at epoch 0, iteration 0" in caplog.text


def test_a_file_refused_after_its_generators_were_checked_leaves_them_as_they_were(
    tmp_path: Path,
) -> None:
    """The generators are set from the file to check them; a refusal that comes later (the
    model's entry here) must leave them as one that comes first (format 99) does."""

    def rng_after_refusal(change: Callable[[dict[str, Any]], None], run_dir: Path) -> Any:
        fit(run_dir, total=4)
        rewrite(run_dir / "toy_step000000004.pth", change)
        trainer = Trainer(
            total=6, unit=TrainingUnit.ITERATION, checkpoint_every=1, run_dir=run_dir,
            progress=False,
        )  # fmt: skip
        with pytest.raises(ckpt.CheckpointError):
            trainer.fit(ToyModel(), ToyData())
        return torch.get_rng_state()

    first = rng_after_refusal(put("format", 99), tmp_path / "first")
    later = rng_after_refusal(put("model", {}), tmp_path / "later")
    assert torch.equal(first, later)


@pytest.mark.parametrize("digest", [True, False], ids=["with a digest", "format 1"])
def test_os_system_in_a_checkpoint_is_refused_by_the_exception_type(
    tmp_path: Path, digest: bool
) -> None:
    fit(tmp_path, total=2)
    newest = tmp_path / "toy_step000000002.pth"
    rewrite(newest, put("payload", os.system))
    if not digest:
        torch.save({**torch.load(newest, weights_only=False), "format": 1}, newest)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.find_latest(tmp_path, "toy")  # refused, not skipped as torn
    assert str(caught.value) == (
        f"{newest} holds pickled Python objects (GLOBAL {os.system.__module__}.system) and "
        "helios loads checkpoints with weights_only=True; save only tensors, numbers, strings "
        "and containers of them in state_dict()"
    )


def test_an_unknown_plug_in_id_read_from_a_file_is_escaped_and_cut(tmp_path: Path) -> None:
    fit(tmp_path, total=4)
    rewrite(tmp_path / "toy_step000000004.pth", put("plugins", {"\x1b[2J" + "x" * 5000: {}}))
    with pytest.warns(RuntimeWarning) as caught:
        model = fit(tmp_path, total=5)
    assert [str(w.message) for w in caught] == [
        "the checkpoint holds state for plug-in '\\x1b[2J" + "x" * 73 + "'... (5,004 "
        "characters), which this trainer does not have; that state is ignored"
    ]
    assert [batch for batch, _ in model.losses] == [5]

"""Checkpoint files: atomic writes, retention, torn-file fallback, weights-only loading."""

from __future__ import annotations

import collections
import re
from pathlib import Path

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
    assert set(data) == {"format", "world_size", "state", "model", "plugins", "rng"}


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

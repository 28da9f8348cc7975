"""``model.metrics`` ride in checkpoints (format 3): a resumed finished run ends with the
metrics of the uninterrupted run; what a resume could not load fails at the save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from helios import checkpoint as ckpt
from helios.trainer import Trainer
from support.toy import ToyData, ToyModel

np = pytest.importorskip("numpy")


def fit(run_dir: Path, model: ToyModel | None = None, total: int = 2) -> ToyModel:
    model = model if model is not None else ToyModel()
    trainer = Trainer(
        total=total, valid_every=1, checkpoint_every=1, run_dir=run_dir, seed=3, progress=False
    )
    trainer.fit(model, ToyData())
    return model


def newest(run_dir: Path) -> Path:
    return ckpt.list_checkpoints(run_dir, "toy")[-1]


def test_a_resumed_finished_run_ends_with_the_metrics_of_the_uninterrupted_one(
    tmp_path: Path,
) -> None:
    uninterrupted = fit(tmp_path)
    assert set(uninterrupted.metrics) == {"valid_loss"}
    data = ckpt.load_checkpoint(newest(tmp_path))
    assert data["format"] == 3
    assert data["metrics"] == [uninterrupted.metrics]

    resumed = fit(tmp_path)  # finished already: nothing is trained or validated again
    assert resumed.losses == []
    assert resumed.metrics == uninterrupted.metrics


def test_an_unfinished_run_resumes_with_the_metrics_of_its_checkpoint(tmp_path: Path) -> None:
    first = fit(tmp_path, total=1)
    resumed = ToyModel()
    trainer = Trainer(total=2, valid_every=None, run_dir=tmp_path, seed=3, progress=False)
    seen: dict[str, Any] = {}
    resumed.on_training_start = lambda: seen.update(resumed.metrics)  # type: ignore[method-assign]
    trainer.fit(resumed, ToyData())
    assert seen == first.metrics  # restored before training goes on


def test_a_checkpoint_of_format_2_without_metrics_still_resumes(tmp_path: Path) -> None:
    fit(tmp_path)
    path = newest(tmp_path)
    data = torch.load(path, weights_only=True)
    del data["metrics"]
    data["format"] = 2
    ckpt.save_checkpoint(data, path, keep=0)

    model = ToyModel()
    model.metrics["before"] = 1.0
    fit(tmp_path, model)
    assert model.losses == [] and model.metrics == {"before": 1.0}  # left as it was


def test_a_format_3_checkpoint_without_metrics_is_refused(tmp_path: Path) -> None:
    fit(tmp_path)
    path = newest(tmp_path)
    data = torch.load(path, weights_only=True)
    del data["metrics"]
    ckpt.save_checkpoint(data, path, keep=0)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.load_checkpoint(path)
    assert str(caught.value) == (
        f"{path}: entry 'metrics' is missing; a helios checkpoint has format, world_size, "
        "state, model, plugins, rng, metrics: delete the file to resume from the one before it"
    )


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        ([{"valid_loss": 1.0}, {}], "[{'valid_loss': 1.0}, {}]"),
        ([{1: 1.0}], "[{1: 1.0}]"),
        (["x"], "['x']"),
    ],
    ids=["one dict too many", "an int key", "a string"],
)
def test_metrics_of_the_wrong_shape_are_refused_at_resume(
    tmp_path: Path, metrics: list[Any], shown: str
) -> None:
    fit(tmp_path)
    path = newest(tmp_path)
    data = torch.load(path, weights_only=True)
    data["metrics"] = metrics
    ckpt.save_checkpoint(data, path, keep=0)
    with pytest.raises(ckpt.CheckpointError) as caught:
        fit(tmp_path)
    assert str(caught.value) == (
        f"{path}: entry 'metrics' holds {shown}, expected one dict of metrics (string keys) "
        "per process (1); delete the file to resume from the one before it"
    )


class NumpyScalars(ToyModel):
    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.metrics["accuracy"] = np.float64(0.1)  # np.mean(...), scikit-learn scores
        self.metrics["correct"] = np.int64(3)
        self.metrics["half"] = np.float32(0.1)
        self.metrics["zero_d"] = np.array(1.5)


class NumpyArray(ToyModel):
    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.metrics["per_class"] = np.array([0.5, 0.25])


class IntKeyMetric(ToyModel):
    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.metrics[3] = 1.0  # type: ignore[index]


def test_numpy_scalars_are_saved_as_the_python_numbers_they_hold(tmp_path: Path) -> None:
    fit(tmp_path, NumpyScalars())
    saved = torch.load(newest(tmp_path), weights_only=True)["metrics"][0]
    expected = {
        "accuracy": (float, float(np.float64(0.1))),
        "correct": (int, 3),
        "half": (float, float(np.float32(0.1))),  # widened exactly, not rounded to 0.1
        "zero_d": (float, 1.5),
    }
    assert {k: (type(saved[k]), saved[k]) for k in expected} == expected


def test_a_metric_that_weights_only_loading_refuses_fails_at_the_save(tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError) as caught:
        fit(tmp_path, NumpyArray())
    assert str(caught.value) == (
        "model.metrics cannot be checkpointed: metrics['per_class'] is a numpy.ndarray "
        "(array([0.5 , 0.25])), which torch.load(weights_only=True) refuses, so no run could "
        "resume from it; store a float (float(x)), an int or a tensor instead"
    )
    assert ckpt.list_checkpoints(tmp_path, "toy") == []  # nothing written


def test_a_metric_named_by_an_int_fails_at_the_save(tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError) as caught:
        fit(tmp_path, IntKeyMetric())
    assert str(caught.value) == (
        "model.metrics cannot be checkpointed: its key 3 (int) is not a string; name each "
        "metric with a string"
    )


def test_a_metric_key_too_long_to_print_is_named_by_its_size() -> None:
    from helios.trainer import metrics_refusal

    huge = 10**5000  # repr refuses it (more than sys.get_int_max_str_digits() digits)
    assert metrics_refusal({huge: 1.0}, None) == (
        f"model.metrics cannot be checkpointed: its key <an int of {huge.bit_length():,} bits> "
        "(int) is not a string; name each metric with a string"
    )

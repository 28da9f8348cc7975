"""Exact resume in one process: a run that crashes after some batch, resumed by a new trainer,
against the same run trained without a stop.

The crash is an exception raised from the model's ``on_training_batch_end``: the trainer logs
it and re-raises it, and whatever the run kept in memory is lost with its trainer, model and
data module; only the checkpoints in ``run_dir`` remain, as after a SIGKILL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.data import DataModule
from helios.model import Model
from helios.trainer import Trainer, TrainingState


class Crash(Exception):
    """The stop of a run that is resumed afterwards."""


@dataclass
class Outcome:
    """What a run (or a crashed run and its resume, together) produced."""

    params: dict[str, torch.Tensor]
    losses: dict[int, float]  # global batch -> loss; a recomputed batch keeps its last loss
    lrs: dict[int, float] = field(default_factory=dict)  # global batch -> lr after it
    models: list[Model] = field(default_factory=list)


def _record(model: Model, outcome: Outcome, crash_at: int | None) -> None:
    original_step = model.train_step
    original_end = model.on_training_batch_end

    def train_step(batch: Any, state: TrainingState) -> torch.Tensor:
        loss = original_step(batch, state)
        outcome.losses[state.global_batch] = loss.item()
        return loss

    def on_training_batch_end(state: TrainingState) -> None:
        original_end(state)
        outcome.lrs[state.global_batch] = model.optimizer.param_groups[0]["lr"]
        if state.global_batch == crash_at:
            raise Crash(f"stopped after batch {crash_at}")

    model.train_step = train_step  # type: ignore[method-assign]
    model.on_training_batch_end = on_training_batch_end  # type: ignore[method-assign]


def run(
    run_dir: Path,
    make_model: Callable[[], Model],
    make_data: Callable[[], DataModule],
    crash_at: int | None = None,
    **trainer_args: Any,
) -> Outcome:
    """Train in ``run_dir``; with ``crash_at``, crash after that batch and resume to the end."""
    outcome = Outcome(params={}, losses={})
    settings = {"device": "cpu", "progress": False, "run_dir": run_dir, **trainer_args}
    for stop in [crash_at, None] if crash_at is not None else [None]:
        model = make_model()
        _record(model, outcome, stop)
        outcome.models.append(model)
        if stop is None:
            Trainer(**settings).fit(model, make_data())
        else:
            with pytest.raises(Crash):
                Trainer(**settings).fit(model, make_data())
    final = outcome.models[-1]
    outcome.params = {k: v.clone() for k, v in final.module.state_dict().items()}
    return outcome


def assert_same(resumed: Outcome, straight: Outcome) -> None:
    """Bitwise the same losses, learning rates and parameters."""
    assert resumed.losses == straight.losses
    assert resumed.lrs == straight.lrs
    assert resumed.params.keys() == straight.params.keys()
    for name, value in resumed.params.items():
        assert torch.equal(value, straight.params[name]), name

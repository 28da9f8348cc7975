"""Ranks of 2-process DDP runs (gloo) for the scheduler, plug-in state and sampler tests; each
writes what it saw to ``<out>/rank<N>.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DistributedSampler

from helios.checkpoint import CheckpointError
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer, TrainingState
from support.toy import ToyData, ToyDataset, ToyModel


def _write(out: str, seen: dict[str, Any]) -> None:
    Path(out, f"rank{os.environ['RANK']}.json").write_text(json.dumps(seen), encoding="utf-8")


class RankPlateau(ToyModel):
    """ReduceLROnPlateau per validation on a metric that never improves on rank 0 and always
    improves on the other ranks."""

    scheduler_interval = "validation"
    scheduler_metric = "valid_loss"

    def setup(self) -> None:
        super().setup()
        self.scheduler = ReduceLROnPlateau(self.optimizer, factor=0.5, patience=0)
        self.lrs: list[float] = []

    def on_validation_end(self, validation_cycle: int) -> None:
        self.metrics["valid_loss"] = 1.0 if self.rank == 0 else -float(validation_cycle)

    def on_training_batch_end(self, state: TrainingState) -> None:
        self.lrs.append(self.optimizer.param_groups[0]["lr"])


def plateau_rank(out: str) -> None:
    """4 optimiser steps, a validation after each; records the learning rates."""
    model = RankPlateau()
    trainer = Trainer(total=4, unit="iteration", valid_every=1, device="cpu", progress=False)
    trainer.fit(model, ToyData(size=64))
    _write(out, {"lrs": model.lrs})


class NumpyState(Plugin):
    """A plug-in whose state holds a NumPy scalar on rank 0 only (its state is what rank 0
    saves)."""

    def setup(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        import numpy as np

        return {"best": np.float64(0.5) if self.trainer.rank == 0 else 0.5}


def refused_state_rank(out: str) -> None:
    """A checkpoint at step 2: every rank raises rank 0's refusal; records the message."""
    trainer = Trainer(
        total=2,
        unit="iteration",
        run_dir=Path(out, "run"),
        device="cpu",
        progress=False,
        plugins=[NumpyState("numpy")],
    )
    try:
        trainer.fit(ToyModel(), ToyData(size=64))
    except CheckpointError as exc:
        _write(out, {"error": str(exc)})
    else:
        _write(out, {"error": None})


class Indexed(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor, int]]):
    """The toy samples with their index."""

    def __init__(self, size: int) -> None:
        self.toy = ToyDataset(size)

    def __len__(self) -> int:
        return len(self.toy)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self.toy[index]
        return x, y, index


class SeesIndices(ToyModel):
    def setup(self) -> None:
        super().setup()
        self.seen: list[int] = []

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y, index = batch
        self.seen += index.tolist()
        return super().train_step((x, y), state)


class ShardedBySampler(ToyData):
    def setup(self) -> None:
        super().setup()
        self.train_dataset = Indexed(self.size)
        self.train_params.shuffle = False
        self.train_params.sampler = DistributedSampler(self.train_dataset, shuffle=True, seed=3)


def sampler_rank(out: str) -> None:
    """One epoch with a DistributedSampler built from the process group; records the indices."""
    model = SeesIndices()
    Trainer(total=2, device="cpu", progress=True).fit(model, ShardedBySampler(size=32))
    _write(out, {"seen": model.seen})

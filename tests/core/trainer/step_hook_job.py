"""Processes for the step-hook tests (not a test module).

``python step_hook_job.py MODE CONFIG_JSON`` with ``PYTHONPATH`` holding ``tests/``:

- ``ema``: trains the toy model with three plug-ins that keep to the shared step hooks or own
  one unique override: ``scale`` owns ``training_batch`` (halves the inputs), ``ema`` keeps an
  exponential moving average of the weights in ``on_optimizer_step_end`` (its state rides in
  the checkpoints), and ``killer`` SIGKILLs the process after global batch ``kill_at``.
  Writes the final weights to ``params.pt`` and the average to ``ema.pt`` in ``run_dir``.
- ``ddp-stop``: two gloo ranks (``helios.distributed.spawn``); with ``stop_at``, a plug-in
  that owns ``should_training_stop`` answers True on rank ``stop_rank`` only, once
  ``stop_at`` optimiser steps are taken. Every rank writes ``rank<r>.json``: where it
  stopped, and how many ``torch.distributed.all_reduce`` calls the trainer made.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from helios.model import Model
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios.trainer import Trainer, TrainingState, TrainingUnit
from support.toy import ToyData, ToyModel, in_ranks


class Scale(Plugin):
    """Owns the training batches: halves the inputs."""

    plugin_id = "scale"
    declared_overrides = UniquePluginOverrides(training_batch=True)

    def setup(self) -> None:
        pass

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        x, y = batch
        return x * 0.5, y


class EMA(Plugin):
    """An exponential moving average of the model's parameters, updated after every step."""

    plugin_id = "ema"

    def __init__(self, decay: float = 0.9) -> None:
        super().__init__()
        self.decay = decay
        self.model: Model | None = None
        self.shadow: dict[str, torch.Tensor] = {}

    def configure_model(self, model: Any) -> None:
        self.model = model

    def setup(self) -> None:
        pass

    def _parameters(self) -> dict[str, torch.Tensor]:
        assert self.model is not None
        return dict(self.model.module.named_parameters())

    def on_training_start(self) -> None:
        if not self.shadow:  # a fresh run; a resumed one has loaded its average
            self.shadow = {k: p.detach().clone() for k, p in self._parameters().items()}

    def on_optimizer_step_end(self, state: Any) -> None:
        with torch.no_grad():
            for name, param in self._parameters().items():
                self.shadow[name].lerp_(param, 1 - self.decay)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.decay = state_dict["decay"]
        self.shadow = {k: v.clone() for k, v in state_dict["shadow"].items()}


class Killer(Plugin):
    """SIGKILLs its own process after global batch ``kill_at`` (a crash, no clean-up)."""

    plugin_id = "killer"

    def __init__(self, kill_at: int | None) -> None:
        super().__init__()
        self.kill_at = kill_at

    def setup(self) -> None:
        pass

    def on_training_batch_end(self, state: Any) -> None:
        if state.global_batch == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def ema(config: dict[str, Any]) -> None:
    run_dir = Path(config["run_dir"])
    average = EMA()
    trainer = Trainer(
        total=config["total"],
        unit=TrainingUnit(config["unit"]),
        checkpoint_every=config["checkpoint_every"],
        valid_every=config.get("valid_every"),
        accumulation_steps=config.get("accumulation_steps", 1),
        run_dir=run_dir / "checkpoints",
        seed=3,
        device="cpu",
        progress=False,
        plugins=[Scale(), average, Killer(config.get("kill_at"))],
    )
    model = ToyModel()
    trainer.fit(model, ToyData(size=64, batch_size=8))
    torch.save(model.module.state_dict(), run_dir / "params.pt")
    torch.save(average.shadow, run_dir / "ema.pt")


class StopOnRank(Plugin):
    """Answers True on rank ``rank`` only, once ``at`` optimiser steps are taken."""

    plugin_id = "stop_on_rank"
    declared_overrides = UniquePluginOverrides(should_training_stop=True)

    def __init__(self, rank: int, at: int) -> None:
        super().__init__()
        self.stop_rank, self.at = rank, at
        self.iteration = 0
        self.asked = 0

    def setup(self) -> None:
        pass

    def on_optimizer_step_end(self, state: Any) -> None:
        self.iteration = state.iteration

    def should_training_stop(self) -> bool:
        self.asked += 1
        return int(os.environ["RANK"]) == self.stop_rank and self.iteration >= self.at


def ddp_stop_rank(config: dict[str, Any]) -> None:
    """One rank of ``ddp-stop``."""
    rank = int(os.environ["RANK"])
    reduces = 0
    all_reduce = dist.all_reduce

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal reduces
        reduces += 1
        return all_reduce(*args, **kwargs)

    dist.all_reduce = counting  # the trainer's collectives go through torch.distributed
    stop_at = config.get("stop_at")
    stopper = StopOnRank(config["stop_rank"], stop_at) if stop_at is not None else None
    trainer = Trainer(
        total=config["total"],
        unit=TrainingUnit.ITERATION,
        device="cpu",
        progress=False,
        plugins=[stopper] if stopper is not None else [],
    )
    seen: list[int] = []

    class Recording(ToyModel):
        def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
            seen.append(state.global_batch)
            return super().train_step(batch, state)

    state = trainer.fit(Recording(), ToyData(size=64, batch_size=8))
    summary = {
        "iteration": state.iteration,
        "global_batch": state.global_batch,
        "stopped": state.stopped,
        "batches": seen,
        "all_reduce": reduces,
        "asked": stopper.asked if stopper is not None else 0,
    }
    Path(config["run_dir"], f"rank{rank}.json").write_text(json.dumps(summary), encoding="utf-8")


if __name__ == "__main__":
    mode, raw = sys.argv[1:]
    settings = json.loads(raw)
    if mode == "ema":
        ema(settings)
    elif mode == "ddp-stop":
        in_ranks(ddp_stop_rank, {**settings, "world_size": 2})
    else:
        raise SystemExit(f"unknown mode {mode!r}: use ema or ddp-stop")

"""A toy model and data module for trainer tests and benchmarks, plus a runner script.

``python -m support.toy CONFIG_JSON`` trains in a fresh process, appending one JSON line per
batch (``{"batch": n, "loss": x}``) to ``losses.jsonl`` in the run folder and writing the final
parameters to ``params.pt``; ``kill_at`` sends SIGKILL to itself after that batch.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from helios.data import DataModule
from helios.model import Model
from helios.trainer import Trainer, TrainingState, TrainingUnit


class ToyDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``size`` samples; sample ``i`` depends only on ``i`` (so resumes see the same data)."""

    def __init__(self, size: int, features: int = 8) -> None:
        generator = torch.Generator().manual_seed(1234)
        self.x = torch.randn(size, features, generator=generator)
        self.y = self.x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(size, 1, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


class ToyData(DataModule):
    def __init__(self, size: int = 64, batch_size: int = 8, num_workers: int = 0) -> None:
        super().__init__()
        self.size, self.batch_size, self.num_workers = size, batch_size, num_workers

    def setup(self) -> None:
        self.train_dataset = ToyDataset(self.size)
        self.valid_dataset = ToyDataset(self.size // 2)
        self.test_dataset = ToyDataset(self.size // 4)
        self.train_params.batch_size = self.batch_size
        self.train_params.num_workers = self.num_workers
        self.valid_params.batch_size = self.batch_size
        self.test_params.batch_size = self.batch_size


class ToyModel(Model):
    """A small MLP with dropout (so the global RNG matters) and an SGD optimiser."""

    def __init__(self, save_name: str = "toy", record: Path | None = None) -> None:
        super().__init__(save_name)
        self.record = record
        self.losses: list[tuple[int, float]] = []
        self._valid_sum = 0.0
        self._valid_count = 0

    def setup(self) -> None:
        self.network = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=0.05, momentum=0.9)

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.network(x), y)
        self.losses.append((state.global_batch, loss.item()))
        if self.record is not None:
            with open(self.record, "a", encoding="utf-8") as out:
                out.write(json.dumps({"batch": state.global_batch, "loss": loss.item()}) + "\n")
        return loss

    def on_validation_start(self, validation_cycle: int) -> None:
        self._valid_sum, self._valid_count = 0.0, 0

    def valid_step(self, batch: Any, step: int) -> None:
        x, y = batch
        self._valid_sum += nn.functional.mse_loss(self.network(x), y, reduction="sum").item()
        self._valid_count += len(x)

    def on_validation_end(self, validation_cycle: int) -> None:
        self.metrics["valid_loss"] = self._valid_sum / max(self._valid_count, 1)


class KillAt(ToyModel):
    """After batch ``kill_at``: SIGKILLs its own process (a crash, no clean-up), or with
    ``fail`` raises ValueError (a failing rank)."""

    def __init__(self, kill_at: int, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_at, self.fail = kill_at, fail

    def on_training_batch_end(self, state: TrainingState) -> None:
        if state.global_batch == self.kill_at:
            if self.fail:
                raise ValueError(f"rank {self.rank} fails on purpose at batch {self.kill_at}")
            os.kill(os.getpid(), signal.SIGKILL)


def in_ranks(rank_fn: Callable[[dict[str, Any]], None], config: dict[str, Any]) -> None:
    """Call ``rank_fn(config)`` here, or in ``config["world_size"]`` spawned ranks when > 1."""
    if config.get("world_size", 1) > 1:
        from helios.distributed import spawn

        spawn(rank_fn, config["world_size"], args=(config,))
    else:
        rank_fn(config)


def run(config: dict[str, Any]) -> None:
    """Train as ``config`` says (see the module docstring); ``world_size`` > 1 spawns ranks.

    Under torchrun the script does not take the process group down itself: the trainer started
    it, so helios takes it down at exit (``record_teardown`` records what each rank saw then).
    """
    in_ranks(run_rank, config)


def run_rank(config: dict[str, Any]) -> None:
    """One process of :func:`run`; rank ``r`` records to ``losses-r.jsonl`` (rank 0: losses.jsonl)."""
    rank = int(os.environ.get("RANK", "0"))
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.get("record_teardown"):
        _record_at_exit(run_dir / f"teardown{rank}.json")
    record = run_dir / ("losses.jsonl" if rank == 0 else f"losses-{rank}.jsonl")
    kill_at = config.get("kill_at") if rank == config.get("kill_rank", 0) else None
    if kill_at:
        model: ToyModel = KillAt(kill_at, fail=config.get("fail", False), record=record)
    else:
        model = ToyModel(record=record)
    data = ToyData(
        config.get("size", 64), config.get("batch_size", 8), config.get("num_workers", 0)
    )
    trainer = Trainer(
        total=config["total"],
        unit=TrainingUnit(config.get("unit", "epoch")),
        checkpoint_every=config.get("checkpoint_every", 1),
        valid_every=config.get("valid_every"),
        accumulation_steps=config.get("accumulation_steps", 1),
        run_dir=run_dir / "checkpoints",
        seed=config.get("seed", 7),
        progress=False,
    )
    trainer.fit(model, data)
    if rank == 0:
        torch.save(model.module.state_dict(), run_dir / "params.pt")


def read_losses(run_dir: Path, name: str = "losses.jsonl") -> dict[int, float]:
    """Batch → loss, the last record of each batch winning (a resumed run re-records)."""
    losses: dict[int, float] = {}
    for line in (run_dir / name).read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        losses[item["batch"]] = item["loss"]
    return losses


class RankMetricModel(ToyModel):
    """A validation metric that worsens every cycle on rank ``worsening`` and improves elsewhere."""

    def __init__(self, worsening: int) -> None:
        super().__init__()
        self.worsening = worsening

    def on_validation_end(self, validation_cycle: int) -> None:
        sign = 1 if self.rank == self.worsening else -1
        self.metrics["valid_loss"] = float(sign * validation_cycle)


def early_stop_rank(run_dir: str, worsening: int) -> None:
    """One rank of a DDP run with early stopping; writes what it saw to ``rank<N>.json``."""
    rank = int(os.environ.get("RANK", "0"))
    trainer = Trainer(
        total=12,
        unit=TrainingUnit.ITERATION,
        valid_every=1,
        early_stop_metric="valid_loss",
        patience=2,
        device="cpu",
        progress=False,
    )
    state = trainer.fit(RankMetricModel(worsening), ToyData())
    summary = {
        "iteration": state.iteration,
        "cycles": state.validation_cycles,
        "stopped": state.stopped,
    }
    Path(run_dir, f"rank{rank}.json").write_text(json.dumps(summary), encoding="utf-8")


def _threads() -> list[str]:
    """The names of this process's threads (Linux: /proc/self/task); [] elsewhere."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return []
    return sorted((task / "comm").read_text(encoding="utf-8").strip() for task in tasks.iterdir())


def _record_at_exit(path: Path) -> None:
    """At interpreter exit, after every exit handler registered later (helios registers its
    teardown when the trainer starts the group), record whether a process group is left and
    which threads are."""
    import atexit

    import torch.distributed as dist

    def record() -> None:
        seen = {"initialized": dist.is_initialized(), "threads": _threads()}
        path.write_text(json.dumps(seen), encoding="utf-8")

    atexit.register(record)


def teardown_rank(run_dir: str) -> None:
    """:func:`early_stop_rank`, then, at interpreter exit (after :func:`helios.distributed.spawn`
    has taken the rank down, before finalisation), record in ``teardown<N>.json`` whether the
    process group is gone and which threads are left."""
    import atexit
    import weakref

    import torch.distributed as dist

    early_stop_rank(run_dir, 0)
    assert dist.group.WORLD is not None
    group = weakref.ref(dist.group.WORLD)
    path = Path(run_dir, f"teardown{os.environ['RANK']}.json")

    def record() -> None:
        seen = {"initialized": dist.is_initialized(), "group alive": group() is not None}
        path.write_text(json.dumps({**seen, "threads": _threads()}), encoding="utf-8")

    atexit.register(record)


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))

"""Benchmark: the per-step cost of the helios ``Trainer`` against a hand-written PyTorch loop.

Trains the same small MLP on the same data, from the same seed and in the same sample order:

- a hand-written loop (the baseline): DataLoader, forward, loss, backward, ``optimizer.step``,
  ``zero_grad(set_to_none=True)``;
- ``Trainer(progress=False)``, ``Trainer(progress=True)`` (tqdm, drawn to ``os.devnull``) and
  ``Trainer`` with five no-op plug-ins, none validating or checkpointing;
- PyTorch Lightning, when ``lightning`` or ``pytorch_lightning`` is importable.

The variants take turns over ``--rounds`` rounds (after an untimed warm-up); each reports its
best time, as timeit does. Losses are kept as detached tensors (no ``.item()`` per step) and
must be bitwise equal between the hand loop and every helios variant. The numbers are for
people: the exit status is 0 unless the benchmark is broken (1 when the losses differ).
Run it as ``python bench/trainer_overhead.py [--steps N] [--rounds N]`` with ``core/src`` and
``tests`` importable.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helios.data import DataModule, ResumableSampler
from helios.model import Model
from helios.plugins import Plugin
from helios.trainer import Trainer, TrainingState, TrainingUnit

FEATURES, HIDDEN, BATCH = 32, 64, 64
SAMPLES = 64 * BATCH  # 64 batches per epoch
SEED = 0
NO_OP_PLUGINS = 5
TRAINER_TARGET = 1.05  # Trainer / hand loop: at most this
PLUGINS_TARGET = 1.02  # Trainer with 5 no-op plug-ins / Trainer: at most this
WARM_UP_STEPS = 100

Losses = list[torch.Tensor | None]


@dataclass
class Run:
    """What one variant produced: the loss of every step and when its first step ran."""

    losses: Losses
    first_step: float = 0.0  # perf_counter() when the first loss was recorded


@dataclass
class Timing:
    """One measured run of a variant."""

    total: float  # seconds from the call to the end of training
    setup: float  # seconds from the call to the first recorded loss


class BenchError(RuntimeError):
    """The benchmark did not measure what it claims (not a slow result)."""


def make_dataset() -> TensorDataset:
    """A fixed regression problem; drawn from its own generator, not the global one."""
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(SAMPLES, FEATURES, generator=generator)
    w = torch.randn(FEATURES, 1, generator=generator)
    y = torch.tanh(x @ w) + 0.1 * torch.randn(SAMPLES, 1, generator=generator)
    return TensorDataset(x, y)


def make_network() -> tuple[nn.Module, torch.optim.Optimizer]:
    """The 32→64→64→1 MLP and its optimiser; initialised from the global torch generator."""
    network = nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 1),
    )
    return network, torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)


# ---------------------------------------------------------------------- the hand-written loop
def hand_loop(dataset: TensorDataset, steps: int) -> Run:
    """The baseline: what one writes without a framework."""
    torch.manual_seed(SEED)
    network, optimizer = make_network()
    sampler = ResumableSampler(len(dataset), shuffle=True, seed=SEED)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler)
    run = Run([None] * steps)
    losses = run.losses
    network.train()
    step, epoch = 0, 0
    while step < steps:
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = nn.functional.mse_loss(network(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step == 0:
                run.first_step = time.perf_counter()
            losses[step] = loss.detach()
            step += 1
            if step == steps:
                break
        epoch += 1
    return run


# ---------------------------------------------------------------------- helios
class BenchData(DataModule):
    """Hands the prebuilt dataset to the trainer (shuffled, ``BATCH`` per batch)."""

    def __init__(self, dataset: TensorDataset) -> None:
        super().__init__()
        self.dataset = dataset

    def setup(self) -> None:
        self.train_dataset = self.dataset
        self.train_params.batch_size = BATCH


class BenchModel(Model):
    """The same network and step as the hand loop."""

    def __init__(self, run: Run) -> None:
        super().__init__("bench")
        self.run = run

    def setup(self) -> None:
        self.network, self.optimizer = make_network()

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.network(x), y)
        step = state.iteration
        if step == 0:
            self.run.first_step = time.perf_counter()
        self.run.losses[step] = loss.detach()
        return loss


class NoOpPlugin(Plugin):
    """A plug-in that does nothing; subclasses only set ``plugin_id``."""

    def setup(self) -> None:
        pass


NO_OP_CLASSES: list[type[NoOpPlugin]] = [
    type(f"NoOp{i}", (NoOpPlugin,), {"plugin_id": f"noop{i}"}) for i in range(NO_OP_PLUGINS)
]


def helios_run(
    dataset: TensorDataset, steps: int, *, progress: bool = False, plugins: bool = False
) -> Run:
    """Trainer(unit=ITERATION) on the data; no validation, no checkpoints."""
    run = Run([None] * steps)
    trainer = Trainer(
        total=steps,
        unit=TrainingUnit.ITERATION,
        seed=SEED,
        device="cpu",
        progress=progress,
        plugins=[cls() for cls in NO_OP_CLASSES] if plugins else (),
    )
    if progress:  # tqdm writes to sys.stderr as it is when the bar is made
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            trainer.fit(BenchModel(run), BenchData(dataset))
    else:
        trainer.fit(BenchModel(run), BenchData(dataset))
    return run


# ---------------------------------------------------------------------- Lightning
def import_lightning() -> ModuleType | None:
    """``lightning.pytorch`` or ``pytorch_lightning``, quiet; None when neither is installed."""
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: ...", etc.
        return module
    return None


def lightning_run(pl: ModuleType, dataset: TensorDataset, steps: int) -> Run:
    """The same network, step and sample order in a LightningModule."""
    run = Run([None] * steps)

    class LitBench(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.network, self.optimizer = make_network()
            self.step = 0

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.mse_loss(self.network(x), y)
            step = self.step
            if step == 0:
                run.first_step = time.perf_counter()
            run.losses[step] = loss.detach()
            self.step = step + 1
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return self.optimizer

    torch.manual_seed(SEED)
    module = LitBench()
    sampler = ResumableSampler(len(dataset), shuffle=True, seed=SEED)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # its own, with new torch
        trainer.fit(module, train_dataloaders=loader)
    return run


# ---------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Variant:
    label: str
    fn: Callable[[TensorDataset, int], Run]
    helios: bool  # its losses must equal the hand loop's, bit for bit


def variants(pl: ModuleType | None) -> list[Variant]:
    found = [
        Variant("hand-written loop", hand_loop, False),
        Variant("Trainer(progress=False)", helios_run, True),
        Variant(
            "Trainer(progress=True)",
            lambda d, s: helios_run(d, s, progress=True),
            True,
        ),
        Variant(
            f"Trainer + {NO_OP_PLUGINS} no-op plug-ins",
            lambda d, s: helios_run(d, s, plugins=True),
            True,
        ),
    ]
    if pl is not None:
        found.append(Variant(f"Lightning {pl.__version__}", lambda d, s: lightning_run(pl, d, s), False))
    return found


def timed(variant: Variant, dataset: TensorDataset, steps: int) -> tuple[Timing, Run]:
    gc.collect()
    start = time.perf_counter()
    run = variant.fn(dataset, steps)
    end = time.perf_counter()
    if torch.get_num_threads() != 1:
        raise BenchError(f"{variant.label} changed torch's thread count")
    if any(loss is None for loss in run.losses):
        missing = sum(loss is None for loss in run.losses)
        raise BenchError(f"{variant.label} recorded {steps - missing} of {steps} losses")
    return Timing(end - start, run.first_step - start), run


def bits(losses: Losses) -> torch.Tensor:
    """The losses' bit patterns, so that equality is bitwise (NaN and -0.0 included)."""
    return torch.stack([loss for loss in losses if loss is not None]).view(torch.int32)


def compare(reference: Losses, other: Losses) -> str | None:
    """None when bitwise equal; else where and by how much they first differ."""
    a, b = bits(reference), bits(other)
    if torch.equal(a, b):
        return None
    first = int((a != b).nonzero()[0, 0])
    ref, got = reference[first], other[first]
    assert ref is not None and got is not None
    diff = (torch.stack(list(filter(None, reference))) - torch.stack(list(filter(None, other))))
    return (
        f"first differs at step {first} ({ref.item()!r} vs {got.item()!r}); "
        f"max |diff| {diff.abs().max().item():.3g}"
    )


def measure(
    todo: Sequence[Variant], dataset: TensorDataset, steps: int, rounds: int
) -> tuple[dict[str, list[Timing]], dict[str, Losses]]:
    """Every variant once per round, the order rotating; warm-up first, untimed."""
    for variant in todo:
        timed(variant, dataset, WARM_UP_STEPS)
    times: dict[str, list[Timing]] = {v.label: [] for v in todo}
    losses: dict[str, Losses] = {}
    for round_ in range(rounds):
        shift = round_ % len(todo)
        for variant in [*todo[shift:], *todo[:shift]]:
            timing, run = timed(variant, dataset, steps)
            times[variant.label].append(timing)
            losses.setdefault(variant.label, run.losses)
            if compare(losses[variant.label], run.losses) is not None:
                raise BenchError(f"{variant.label} is not deterministic from round to round")
    return times, losses


# ---------------------------------------------------------------------- report
def _mark(value: float, target: float) -> str:
    return f"<= {target:.2f}x  {'PASS' if value <= target else 'MISS'}"


def render(
    todo: Sequence[Variant],
    times: dict[str, list[Timing]],
    equal: dict[str, str],
    steps: int,
    rounds: int,
) -> str:
    best = {label: min(t.total for t in runs) for label, runs in times.items()}
    base = todo[0].label
    lines = [
        f"helios trainer overhead: MLP {FEATURES}-{HIDDEN}-{HIDDEN}-1, batch {BATCH}, "
        f"{SAMPLES // BATCH} batches/epoch, {steps} steps, best of {rounds} rounds",
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread, CPU",
        "",
        f"{'variant':<36}{'best ms':>9}{'median':>9}{'setup':>8}{'µs/step':>9}"
        f"{'x hand':>8}  losses",
    ]
    for variant in todo:
        runs = times[variant.label]
        fastest = min(runs, key=lambda t: t.total)
        per_step = (fastest.total - fastest.setup) / (steps - 1) * 1e6
        lines.append(
            f"{variant.label:<36}{fastest.total * 1e3:>9.1f}"
            f"{statistics.median(t.total for t in runs) * 1e3:>9.1f}"
            f"{fastest.setup * 1e3:>8.1f}{per_step:>9.1f}"
            f"{best[variant.label] / best[base]:>8.3f}  {equal[variant.label]}"
        )
    trainer = best["Trainer(progress=False)"]
    plugins = best[f"Trainer + {NO_OP_PLUGINS} no-op plug-ins"]
    lines += [
        "",
        "(setup: from the call to the first step's loss; µs/step: the rest of that run per step)",
        "",
        f"{'ratio':<48}{'value':>7}  target",
        f"{'Trainer(progress=False) / hand loop':<48}{trainer / best[base]:>6.3f}x  "
        + _mark(trainer / best[base], TRAINER_TARGET),
        f"{f'Trainer + {NO_OP_PLUGINS} no-op plug-ins / Trainer':<48}{plugins / trainer:>6.3f}x  "
        + _mark(plugins / trainer, PLUGINS_TARGET),
        f"{'Trainer(progress=True) / Trainer(progress=False)':<48}"
        f"{best['Trainer(progress=True)'] / trainer:>6.3f}x  (info)",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, check the losses, print; 0 unless the benchmark is broken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.rounds < 1:
        parser.error("--steps must be >= 2 and --rounds >= 1")
    pl = import_lightning()
    todo = variants(pl)
    dataset = make_dataset()
    try:
        with one_thread():
            times, losses = measure(todo, dataset, args.steps, args.rounds)
    except BenchError as exc:
        print(f"bench/trainer_overhead.py: broken: {exc}", file=sys.stderr)
        return 1
    reference = losses[todo[0].label]
    equal: dict[str, str] = {todo[0].label: "(reference)"}
    broken = []
    for variant in todo[1:]:
        problem = compare(reference, losses[variant.label])
        equal[variant.label] = "bitwise equal" if problem is None else "DIFFER: " + problem
        if problem is not None and variant.helios:
            broken.append(f"{variant.label}: {problem}")
    print(render(todo, times, equal, args.steps, args.rounds))
    if pl is None:
        print("\nLightning: skipped (neither lightning nor pytorch_lightning is installed)")
    if broken:
        print(
            "\nbench/trainer_overhead.py: broken: the helios losses differ from the hand "
            "loop's, so the comparison is not like for like:\n  " + "\n  ".join(broken),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

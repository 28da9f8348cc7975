"""Benchmark: the per-step cost of the helios ``Trainer`` against a hand-written PyTorch loop.

Trains the same small MLP on the same data, from the same seed and in the same sample order:

- a hand-written loop (the baseline): DataLoader, forward, loss, backward, ``optimizer.step``,
  ``zero_grad(set_to_none=True)``;
- ``Trainer(progress=False)``, ``Trainer(progress=True)`` (tqdm, drawn to ``os.devnull``),
  ``Trainer`` with five plug-ins overriding every shared training hook (the per-step ones
  included) with a no-op, and ``Trainer`` with a plug-in that owns ``should_training_stop``
  and never stops (asked after every optimiser step); none validating or checkpointing;
- PyTorch Lightning, when ``lightning`` or ``pytorch_lightning`` is importable;
- the hand loop once more, as a control: its ratio to itself is the noise floor of the run.

The variants take turns over ``--rounds`` rounds (after an untimed warm-up); each reports its
best time, as timeit does. Losses are kept as detached tensors (no ``.item()`` per step) and
must be bitwise equal between the hand loop and every helios variant. Then the same loops run
with no tensor work at all (int batches, a no-op loss and optimiser), which isolates the
trainer's own per-step bookkeeping from the noise of the tensor work. Last, two gloo processes
run the bookkeeping-only loop with and without the stopper: the difference is what agreeing on
the stop flag (one ``all_reduce`` per step) costs. The numbers are for people: the exit status
is 0 unless the benchmark is broken (1 when the losses differ).
Run it as ``python bench/trainer_overhead.py [--steps N] [--rounds N]`` with helios importable
(installed, or ``PYTHONPATH=core/src``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from helios.data import DataModule, ResumableSampler
from helios.model import Model
from helios.plugins.hooks import HOOKS, STEP_HOOKS, Phase
from helios.plugins.plugin import Plugin, UniquePluginOverrides  # with their static types
from helios.trainer import Trainer, TrainingState, TrainingUnit

FEATURES, HIDDEN, BATCH = 32, 64, 64
EPOCH = 64  # batches per epoch
SAMPLES = EPOCH * BATCH
SEED = 0
NO_OP_PLUGINS = 5
TRAINER_TARGET = 1.05  # Trainer / hand loop: at most this
PLUGINS_TARGET = 1.01  # Trainer with 5 step-hook plug-ins / Trainer: at most this
WARM_UP_STEPS = 2 * EPOCH
BARE_STEPS = 20_000
DDP_STEPS = 2_000  # per timed run of the 2-process stop check
HAND_LABEL = "hand-written loop"
CONTROL_LABEL = "hand-written loop, again"
TRAINER_LABEL = "Trainer(progress=False)"
PROGRESS_LABEL = "Trainer(progress=True)"
PLUGINS_LABEL = f"Trainer + {NO_OP_PLUGINS} step-hook plug-ins"
STOPPER_LABEL = "Trainer + a stopper plug-in"

Losses = list[torch.Tensor | None]


class Run:
    """The loss of every step, and when the first one came; every variant records alike."""

    def __init__(self, steps: int) -> None:
        self.losses: Losses = [None] * steps
        self.first = math.nan  # perf_counter() when the first loss was recorded

    def record(self, step: int, loss: torch.Tensor) -> None:
        """Keep the loss without reading it (no ``.item()``, so no sync)."""
        if not step:
            self.first = time.perf_counter()
        self.losses[step] = loss.detach()


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
    run = Run(steps)
    network.train()
    step, epoch = 0, 0
    while step < steps:
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = nn.functional.mse_loss(network(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            run.record(step, loss)
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
        self.run.record(state.iteration, loss)
        return loss


#: Every shared hook of training, from the hook table: the per-epoch and per-step ones and
#: on_training_start/end. The step-hook plug-ins override each of them.
SHARED_TRAINING_HOOKS = tuple(h.name for h in HOOKS if h.flag is None and h.phase is Phase.TRAINING)


def _no_op(self: Plugin, *args: Any) -> None:
    """Does nothing (each shared training hook of :class:`StepHookPlugin`)."""


class StepHookPlugin(Plugin):
    """Overrides every shared training hook with a no-op; subclasses only set ``plugin_id``."""

    def setup(self) -> None:
        pass


for _hook in SHARED_TRAINING_HOOKS:
    setattr(StepHookPlugin, _hook, _no_op)

STEP_HOOK_CLASSES: list[type[StepHookPlugin]] = [
    type(f"StepHooks{i}", (StepHookPlugin,), {"plugin_id": f"steps{i}"})
    for i in range(NO_OP_PLUGINS)
]


class StopperPlugin(Plugin):
    """Owns ``should_training_stop`` and never stops: what asking after each step costs."""

    plugin_id = "stopper"
    declared_overrides = UniquePluginOverrides(should_training_stop=True)

    def setup(self) -> None:
        pass

    def should_training_stop(self) -> bool:
        return False


#: What ``fit(plugins=...)`` registers.
PLUGIN_SETS: dict[str, Callable[[], list[Plugin]]] = {
    "none": list,
    "step-hooks": lambda: [cls() for cls in STEP_HOOK_CLASSES],
    "stopper": lambda: [StopperPlugin()],
}


def fit(
    model: Model, data: DataModule, steps: int, *, progress: bool, plugins: str = "none"
) -> int:
    """Trainer(unit=ITERATION), no validation, no checkpoints; the steps it took."""
    trainer = Trainer(
        total=steps,
        unit=TrainingUnit.ITERATION,
        seed=SEED,
        device="cpu",
        progress=progress,
        plugins=PLUGIN_SETS[plugins](),
    )
    with _to_devnull() if progress else contextlib.nullcontext():
        return trainer.fit(model, data).iteration


@contextlib.contextmanager
def _to_devnull() -> Iterator[None]:
    """tqdm writes to ``sys.stderr`` as it is when the bar is made: make that a real file."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        yield


def helios_run(
    dataset: TensorDataset, steps: int, *, progress: bool = False, plugins: str = "none"
) -> Run:
    """The MLP trained by the Trainer."""
    run = Run(steps)
    fit(BenchModel(run), BenchData(dataset), steps, progress=progress, plugins=plugins)
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
    run = Run(steps)

    class LitBench(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.network, self.optimizer = make_network()
            self.step = 0

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.mse_loss(self.network(x), y)
            run.record(self.step, loss)
            self.step += 1
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
        # Lightning 2.6 still uses torch's LeafSpec, which torch 2.13 deprecates.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        trainer.fit(module, train_dataloaders=loader)
    return run


# ---------------------------------------------------------------------- bookkeeping only
class _NoLoss:
    def backward(self) -> None:
        """Nothing to differentiate."""


class _NoOptimizer:
    def step(self) -> None:
        """Nothing to update."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """No gradients to clear."""


NO_LOSS = cast(torch.Tensor, _NoLoss())


class Indices(Dataset[int]):
    """``SAMPLES`` ints; with :func:`_only` a batch costs the loader next to nothing."""

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> int:
        return index


def _only(batch: list[int]) -> int:
    return batch[0]


def bare_hand_loop(steps: int) -> int:
    """The hand loop's structure with no tensor work."""
    optimizer = _NoOptimizer()
    sampler = ResumableSampler(SAMPLES, shuffle=True, seed=SEED)
    loader = DataLoader(Indices(), batch_size=1, sampler=sampler, collate_fn=_only)
    step, epoch = 0, 0
    while step < steps:
        sampler.set_epoch(epoch)
        for _ in loader:
            loss = NO_LOSS
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step == steps:
                break
        epoch += 1
    return step


class BareData(DataModule):
    def setup(self) -> None:
        self.train_dataset = Indices()
        self.train_params.batch_size = 1
        self.train_params.collate_fn = _only


class BareModel(Model):
    def setup(self) -> None:
        self.network = nn.Identity()
        self.optimizer = cast(torch.optim.Optimizer, _NoOptimizer())

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        return NO_LOSS


def bare_variants() -> dict[str, Callable[[int], int]]:
    """Label → a function that takes that many steps with no tensor work; returns the count."""
    return {
        HAND_LABEL: bare_hand_loop,
        TRAINER_LABEL: lambda n: fit(BareModel("bare"), BareData(), n, progress=False),
        PROGRESS_LABEL: lambda n: fit(BareModel("bare"), BareData(), n, progress=True),
        PLUGINS_LABEL: lambda n: fit(
            BareModel("bare"), BareData(), n, progress=False, plugins="step-hooks"
        ),
        STOPPER_LABEL: lambda n: fit(
            BareModel("bare"), BareData(), n, progress=False, plugins="stopper"
        ),
    }


def measure_bare(rounds: int) -> dict[str, float]:
    """Best seconds per step of each bookkeeping-only loop, the order rotating."""
    todo = bare_variants()
    for fn in todo.values():
        fn(WARM_UP_STEPS)
    labels = list(todo)
    best = dict.fromkeys(labels, math.inf)
    for round_ in range(rounds):
        shift = round_ % len(labels)
        for label in [*labels[shift:], *labels[:shift]]:
            gc.collect()
            start = time.perf_counter()
            done = todo[label](BARE_STEPS)
            elapsed = time.perf_counter() - start
            if done != BARE_STEPS:
                raise BenchError(f"{label} (bookkeeping only) took {done} of {BARE_STEPS} steps")
            best[label] = min(best[label], elapsed / BARE_STEPS)
    return best


# ---------------------------------------------------------------------- the stop flag in DDP
class DDPBareModel(BareModel):
    """:class:`BareModel` with one parameter: DistributedDataParallel wraps no network without.

    No step runs it forward, so DDP never reduces gradients: the only per-step collective
    left is the trainer's own.
    """

    def setup(self) -> None:
        super().setup()
        self.network = nn.Linear(1, 1)


DDP_VARIANTS = {TRAINER_LABEL: "none", STOPPER_LABEL: "stopper"}


def ddp_rank(steps: int, rounds: int, out: str) -> None:
    """One of two gloo ranks: the bookkeeping-only loop without and with the stopper, taking
    turns after a warm-up; rank 0 writes the best seconds per step of each to ``out``."""
    torch.set_num_threads(1)
    for plugins in DDP_VARIANTS.values():
        fit(DDPBareModel("bare"), BareData(), WARM_UP_STEPS, progress=False, plugins=plugins)
    best = dict.fromkeys(DDP_VARIANTS, math.inf)
    for round_ in range(rounds):
        labels = list(DDP_VARIANTS)
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            gc.collect()
            start = time.perf_counter()
            model = DDPBareModel("bare")
            done = fit(model, BareData(), steps, progress=False, plugins=DDP_VARIANTS[label])
            elapsed = time.perf_counter() - start
            if done != steps:
                raise BenchError(f"{label} (2 ranks) took {done} of {steps} steps")
            best[label] = min(best[label], elapsed / steps)
    if os.environ.get("RANK") == "0":
        Path(out).write_text(json.dumps(best), encoding="utf-8")


def measure_ddp(steps: int, rounds: int) -> dict[str, float]:
    """Best seconds per step of :data:`DDP_VARIANTS` on two gloo processes (rank 0's clock)."""
    from helios.distributed import spawn

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder, "ddp.json")
        spawn(ddp_rank, 2, args=(steps, rounds, str(out)))
        found: dict[str, float] = json.loads(out.read_text(encoding="utf-8"))
    return found


def render_ddp(ddp: dict[str, float], steps: int, rounds: int) -> str:
    """The 2-process stop check: µs per step without and with the stopper, and the difference."""
    base, stopper = ddp[TRAINER_LABEL], ddp[STOPPER_LABEL]
    return "\n".join(
        [
            f"the stop flag across 2 gloo processes (bookkeeping only, {steps} steps, best of "
            f"{rounds}, rank 0's clock):",
            f"  {TRAINER_LABEL:<32}{base * 1e6:>7.2f} µs/step  (nobody can stop: no collective)",
            f"  {STOPPER_LABEL:<32}{stopper * 1e6:>7.2f} µs/step  {(stopper - base) * 1e6:+.2f} "
            "µs: one all_reduce of the stop flag per step",
        ]
    )


# ---------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Variant:
    label: str
    fn: Callable[[TensorDataset, int], Run]
    must_match: bool  # its losses must equal the hand loop's, bit for bit


def variants(pl: ModuleType | None) -> list[Variant]:
    """The hand loop first (the reference), its control last."""
    found = [
        Variant(HAND_LABEL, hand_loop, True),
        Variant(TRAINER_LABEL, helios_run, True),
        Variant(PROGRESS_LABEL, lambda d, s: helios_run(d, s, progress=True), True),
        Variant(PLUGINS_LABEL, lambda d, s: helios_run(d, s, plugins="step-hooks"), True),
        Variant(STOPPER_LABEL, lambda d, s: helios_run(d, s, plugins="stopper"), True),
    ]
    if pl is not None:
        found.append(
            Variant(f"Lightning {pl.__version__}", lambda d, s: lightning_run(pl, d, s), False)
        )
    found.append(Variant(CONTROL_LABEL, hand_loop, True))
    return found


def timed(variant: Variant, dataset: TensorDataset, steps: int) -> tuple[Timing, Run]:
    """Run ``variant`` once and check that it did the work it claims."""
    gc.collect()
    start = time.perf_counter()
    run = variant.fn(dataset, steps)
    end = time.perf_counter()
    if torch.get_num_threads() != 1:
        raise BenchError(f"{variant.label} changed torch's thread count")
    missing = sum(loss is None for loss in run.losses)
    if missing:
        raise BenchError(f"{variant.label} recorded {steps - missing} of {steps} losses")
    return Timing(end - start, run.first - start), run


def stacked(losses: Losses) -> torch.Tensor:
    """The recorded losses as one tensor (:func:`timed` checked that none is missing)."""
    return torch.stack([loss for loss in losses if loss is not None])


def compare(reference: Losses, other: Losses) -> str | None:
    """None when bitwise equal (NaN and -0.0 included); else where and by how much not."""
    a, b = stacked(reference), stacked(other)
    if torch.equal(a.view(torch.int32), b.view(torch.int32)):
        return None
    first = int((a.view(torch.int32) != b.view(torch.int32)).nonzero()[0, 0])
    return (
        f"first differs at step {first} ({a[first].item()!r} vs {b[first].item()!r}); "
        f"max |diff| {(a - b).abs().max().item():.3g}"
    )


def first_registration() -> float:
    """Seconds the first plug-in registration of a process takes (it scans entry points once)."""
    start = time.perf_counter()
    Trainer(total=1, device="cpu", plugins=PLUGIN_SETS["step-hooks"]())
    return time.perf_counter() - start


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
def _verdict(value: float, target: float) -> str:
    return f"<= {target:.2f}x  {'PASS' if value <= target else 'MISS'}"


def render(
    todo: Sequence[Variant],
    times: dict[str, list[Timing]],
    equal: dict[str, str],
    bare: dict[str, float],
    bare_rounds: int,
    steps: int,
    rounds: int,
    first_registration: float,
) -> str:
    """The table of times, the losses check, the ratios with their targets, the bookkeeping."""
    best = {label: min(runs, key=lambda t: t.total) for label, runs in times.items()}

    def per_step(label: str) -> float:
        return (best[label].total - best[label].setup) / (steps - 1)

    def ratio(top: str, bottom: str) -> float:
        return best[top].total / best[bottom].total

    lines = [
        f"helios trainer overhead: MLP {FEATURES}-{HIDDEN}-{HIDDEN}-1, batch {BATCH}, "
        f"{EPOCH} batches/epoch, {steps} steps, best of {rounds} rounds, CPU, "
        "1 torch thread",
        f"Python {platform.python_version()}, torch {torch.__version__}; the first plug-in "
        f"registration of this process took {first_registration * 1e3:.1f} ms "
        "(a one-time entry-point scan, outside the times below)",
        "",
        f"{'variant':<34}{'best ms':>9}{'median ms':>11}{'setup ms':>10}{'µs/step':>9}",
    ]
    for variant in todo:
        runs, label = times[variant.label], variant.label
        lines.append(
            f"{label:<34}{best[label].total * 1e3:>9.1f}"
            f"{statistics.median(t.total for t in runs) * 1e3:>11.1f}"
            f"{best[label].setup * 1e3:>10.1f}{per_step(label) * 1e6:>9.1f}"
        )
    trainer = ratio(TRAINER_LABEL, HAND_LABEL)
    plugins = ratio(PLUGINS_LABEL, TRAINER_LABEL)
    control = ratio(CONTROL_LABEL, HAND_LABEL)
    noise = abs(control - 1)
    lines += [
        "",
        "setup: from the call to the first step's loss; µs/step: the rest of the run, per step",
        "",
        f"losses, {steps} steps, against the hand loop's:",
        *(f"  {v.label:<32}{equal[v.label]}" for v in todo[1:]),
        "",
        f"{'ratio of best times':<50}{'value':>7}  target",
        f"{TRAINER_LABEL + ' / hand loop':<50}{trainer:>6.3f}x  "
        + _verdict(trainer, TRAINER_TARGET),
        f"{PLUGINS_LABEL + ' / Trainer':<50}{plugins:>6.3f}x  " + _verdict(plugins, PLUGINS_TARGET),
        f"{STOPPER_LABEL + ' / Trainer':<50}{ratio(STOPPER_LABEL, TRAINER_LABEL):>6.3f}x  (info)",
        f"{PROGRESS_LABEL + ' / ' + TRAINER_LABEL:<50}"
        f"{ratio(PROGRESS_LABEL, TRAINER_LABEL):>6.3f}x  (info)",
        *(
            f"{v.label + ' / hand loop':<50}{ratio(v.label, HAND_LABEL):>6.3f}x  (info)"
            for v in todo
            if v.label.startswith("Lightning")
        ),
        f"{CONTROL_LABEL + ' / hand loop':<50}{control:>6.3f}x  "
        "(the same loop twice: the noise floor)",
    ]
    if noise > PLUGINS_TARGET - 1:
        lines.append(
            f"  noise floor {noise:.1%} > the {PLUGINS_TARGET - 1:.0%} margin: the PASS/MISS "
            "above are not conclusive; the estimates below are"
        )
    hand_step = per_step(HAND_LABEL)
    extra = {label: value - bare[HAND_LABEL] for label, value in bare.items()}
    est_trainer = 1 + extra[TRAINER_LABEL] / hand_step
    est_plugins = (hand_step + extra[PLUGINS_LABEL]) / (hand_step + extra[TRAINER_LABEL])
    est_stopper = (hand_step + extra[STOPPER_LABEL]) / (hand_step + extra[TRAINER_LABEL])
    lines += [
        "",
        "bookkeeping only (the same loops without tensor work: int batches of one, a no-op loss",
        f"and optimiser), {BARE_STEPS} steps, best of {bare_rounds}; the extra cost per step, in µs",
        f"and as a share of the hand loop's MLP step ({hand_step * 1e6:.1f} µs):",
    ]
    for label, value in bare.items():
        share = f"{extra[label] * 1e6:+7.2f} µs {extra[label] / hand_step:+7.2%}"
        lines.append(
            f"  {label:<32}{value * 1e6:>7.2f} µs/step  {share if label != HAND_LABEL else ''}".rstrip()
        )
    lines += [
        "estimated from the bookkeeping, the MLP step's tensor work being the same:",
        f"{'  ' + TRAINER_LABEL + ' / hand loop':<50}{est_trainer:>6.3f}x  "
        + _verdict(est_trainer, TRAINER_TARGET),
        f"{'  ' + PLUGINS_LABEL + ' / Trainer':<50}{est_plugins:>6.3f}x  "
        + _verdict(est_plugins, PLUGINS_TARGET),
        f"{'  ' + STOPPER_LABEL + ' / Trainer':<50}{est_stopper:>6.3f}x  (info)",
        f"per step, {NO_OP_PLUGINS} plug-ins x {len(STEP_HOOKS)} per-step hooks cost "
        f"{(bare[PLUGINS_LABEL] - bare[TRAINER_LABEL]) * 1e6:+.2f} µs; asking the stopper costs "
        f"{(bare[STOPPER_LABEL] - bare[TRAINER_LABEL]) * 1e6:+.2f} µs",
    ]
    if (trainer <= TRAINER_TARGET, plugins <= PLUGINS_TARGET) != (
        est_trainer <= TRAINER_TARGET,
        est_plugins <= PLUGINS_TARGET,
    ):
        lines.append(
            "the measured and the estimated verdicts differ: this run's timing noise is larger "
            "than the margin (rerun with more --rounds, on a quieter machine)"
        )
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
    parser.add_argument(
        "--ddp-steps",
        type=int,
        default=DDP_STEPS,
        help=f"steps per run of the 2-process stop check (default {DDP_STEPS}; 0 skips it)",
    )
    args = parser.parse_args(argv)
    if args.steps < 2 * EPOCH or args.rounds < 1 or args.ddp_steps < 0:
        parser.error(
            f"--steps must be >= {2 * EPOCH} (two epochs), --rounds >= 1, --ddp-steps >= 0"
        )
    bare_rounds = 3 * args.rounds  # these runs are short: take more of them
    registration = first_registration()
    pl = import_lightning()
    todo = variants(pl)
    dataset = make_dataset()
    try:
        with one_thread():
            times, losses = measure(todo, dataset, args.steps, args.rounds)
            bare = measure_bare(bare_rounds)
        ddp = measure_ddp(args.ddp_steps, args.rounds) if args.ddp_steps else None
    except BenchError as exc:
        print(f"bench/trainer_overhead.py: broken: {exc}", file=sys.stderr)
        return 1
    reference = losses[todo[0].label]
    equal: dict[str, str] = {todo[0].label: "(reference)"}
    broken = []
    for variant in todo[1:]:
        problem = compare(reference, losses[variant.label])
        equal[variant.label] = "bitwise equal" if problem is None else "DIFFER: " + problem
        if problem is not None and variant.must_match:
            broken.append(f"{variant.label}: {problem}")
    print(render(todo, times, equal, bare, bare_rounds, args.steps, args.rounds, registration))
    print()
    if ddp is None:
        print("the stop flag across 2 gloo processes: skipped (--ddp-steps 0)")
    else:
        print(render_ddp(ddp, args.ddp_steps, args.rounds))
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

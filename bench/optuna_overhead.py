"""Benchmark: a study tuned through ``OptunaPlugin`` against the same study written by hand.

Both variants run the same ``--trials``-trial Optuna study (TPE sampler and median pruner, both
seeded, on a fresh SQLite file in a temporary folder) on the same tiny MLP, with the same
``helios.Trainer`` doing the same work:

- ``plugin``: ``OptunaPlugin(trial, "valid_loss")`` suggests the learning rate in
  ``Model.setup``, reports after each validation cycle and prunes through
  ``should_training_stop``; the objective calls ``check_pruned()`` after ``fit``;
- ``hand``: no plug-in; the model suggests with ``trial.suggest_float`` and, in its own
  ``on_validation_end``, calls ``trial.report`` and ``trial.should_prune``, raising
  ``optuna.TrialPruned``, as a user would write it.

Each round runs one study per variant, in lockstep: trial 1 of each, then trial 2 of each, and
so on (ask, objective, tell; the order of the variants alternates between rounds), after an
untimed warm-up. A variant's time is the sum over its trials of each trial's best time over
the ``--rounds`` rounds, as timeit takes the best, so that bursts of load on a shared machine
hit neither variant more than the other. The hand study's second best against its best is the
noise floor of the run. The plug-in's own costs are also timed alone, which is steadier still:
registering it in a ``Trainer`` (its distribution's manifest checks) against a bare
``Trainer``, its ``suggest`` against ``trial.suggest_float``, and its work per validation cycle
(``on_validation_end`` + ``should_training_stop`` on a ``FixedTrial``, whose report and pruner
do nothing); the ratio is estimated from them too.

SQL statements are counted with SQLAlchemy's ``before_cursor_execute`` event on each study's
engine: storage reads are the SELECTs, writes the rest. Both studies must end with the same
trials (states, intermediate values, values), or the benchmark is broken (exit 1). Target:
plugin / hand ≤ 1.05; the exit status is 0 otherwise, PASS or MISS.

Run it as ``python bench/optuna_overhead.py [--trials N] [--rounds N]`` with helios and
helios-optuna installed (``pip install -e core -e plugins/optuna``).
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import torch
from torch import nn
from torch.utils.data import TensorDataset

from helios.data import DataModule
from helios.model import Model
from helios.trainer import Trainer, TrainingState
from helios_optuna import OptunaPlugin

TARGET = 1.05
EPOCHS = 6
METRIC = "valid_loss"


class Data(DataModule):
    """256 training and 64 validation samples of a noisy linear target; batches of 32."""

    def setup(self) -> None:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(320, 8, generator=generator)
        y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(320, 1, generator=generator)
        self.train_dataset = TensorDataset(x[:256], y[:256])
        self.valid_dataset = TensorDataset(x[256:], y[256:])
        self.train_params.batch_size = self.valid_params.batch_size = 32


class Net(Model):
    """An 8→16→1 MLP; ``lr`` comes from ``suggest_lr``; ``valid_loss`` is its metric."""

    def suggest_lr(self) -> float:
        raise NotImplementedError

    def setup(self) -> None:
        self.network = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=self.suggest_lr())

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.network(x), y)

    def on_validation_start(self, validation_cycle: int) -> None:
        self.total, self.count = 0.0, 0

    def valid_step(self, batch: Any, step: int) -> None:
        x, y = batch
        self.total += nn.functional.mse_loss(self.network(x), y, reduction="sum").item()
        self.count += len(x)

    def on_validation_end(self, validation_cycle: int) -> None:
        self.metrics[METRIC] = self.total / self.count


class PluginNet(Net):
    def suggest_lr(self) -> float:
        assert self.trainer is not None
        plugin: OptunaPlugin = self.trainer.plugins["optuna"]  # type: ignore[assignment]
        return float(plugin.suggest("float", "lr", low=1e-4, high=0.3, log=True))


class HandNet(Net):
    def __init__(self, trial: optuna.Trial) -> None:
        super().__init__(save_name="net")
        self.trial = trial

    def suggest_lr(self) -> float:
        return self.trial.suggest_float("lr", 1e-4, 0.3, log=True)

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.trial.report(self.metrics[METRIC], validation_cycle)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def plugin_objective(trial: optuna.Trial) -> float:
    plugin = OptunaPlugin(trial, METRIC)
    model = PluginNet(save_name="net")
    Trainer(total=EPOCHS, valid_every=1, progress=False, plugins=[plugin]).fit(model, Data())
    plugin.check_pruned()
    return model.metrics[METRIC]


def hand_objective(trial: optuna.Trial) -> float:
    model = HandNet(trial)
    trainer = Trainer(total=EPOCHS, valid_every=1, progress=False)
    trainer.register_exception(optuna.TrialPruned)
    trainer.fit(model, Data())
    return model.metrics[METRIC]


VARIANTS: dict[str, Callable[[optuna.Trial], float]] = {
    "plugin": plugin_objective,
    "hand": hand_objective,
}


class Study:
    """One variant's study on a fresh SQLite file, with its SQL statements counted."""

    def __init__(self, objective: Callable[[optuna.Trial], float], folder: Path) -> None:
        self.objective = objective
        self.path = folder / f"study-{time.perf_counter_ns()}.db"
        self.storage = optuna.storages.RDBStorage(f"sqlite:///{self.path}")
        self.study = optuna.create_study(
            storage=self.storage,
            sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        )
        self.selects = self.writes = 0
        self.seconds: list[float] = []  # per trial
        sqlalchemy.event.listen(self.storage.engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT":
            self.selects += 1
        else:
            self.writes += 1

    def run_trial(self) -> None:
        """Ask, evaluate, tell: what ``study.optimize`` does for one trial, timed."""
        start = time.perf_counter()
        trial = self.study.ask()
        try:
            value = self.objective(trial)
        except optuna.TrialPruned:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, value)
        self.seconds.append(time.perf_counter() - start)

    def close(self) -> list[tuple[str, dict[int, float], float | None]]:
        """The trials (state, intermediate values, value); the file is removed."""
        sqlalchemy.event.remove(self.storage.engine, "before_cursor_execute", self._count)
        outcome = [(t.state.name, t.intermediate_values, t.value) for t in self.study.trials]
        self.storage.engine.dispose()
        self.path.unlink()
        return outcome


def run_round(trials: int, folder: Path, order: list[str]) -> dict[str, Study]:
    """One study per variant, advanced in lockstep: trial i of each, in ``order``, then i+1."""
    studies = {name: Study(VARIANTS[name], folder) for name in order}
    for _ in range(trials):
        for name in order:
            studies[name].run_trial()
    return studies


def per_call(fn: Callable[[], object], repeat: int) -> float:
    """Best of 5 runs of ``repeat`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def own_costs() -> tuple[float, float, float]:
    """The plug-in's costs beyond the hand-written calls, in seconds: registering it in a
    trainer, one ``suggest`` (over ``trial.suggest_float``), one validation cycle's work."""
    trial = optuna.trial.FixedTrial({"lr": 0.01})
    bare = per_call(lambda: Trainer(total=1, progress=False), 200)
    registered = per_call(
        lambda: Trainer(total=1, progress=False, plugins=[OptunaPlugin(trial, METRIC)]), 200
    )
    plugin = OptunaPlugin(trial, METRIC)
    suggest = per_call(lambda: plugin.suggest("float", "lr", low=1e-4, high=0.3, log=True), 5000)
    direct = per_call(lambda: trial.suggest_float("lr", 1e-4, 0.3, log=True), 5000)
    model = Net(save_name="net")
    model.metrics[METRIC] = 1.0
    plugin.configure_model(model)
    cycle = iter(range(1, 10**9))

    def validation_end() -> None:
        plugin.on_validation_end(next(cycle))
        plugin.should_training_stop()

    return registered - bare, suggest - direct, per_call(validation_end, 20_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per study (20)")
    parser.add_argument("--rounds", type=int, default=7, help="timed studies per variant (7)")
    parser.add_argument(
        "--tmp",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="folder for the SQLite files (default: /dev/shm when there is one, so disk "
        "flushes do not drown the difference; else the system's temporary folder)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("helios").setLevel(logging.WARNING)

    rounds: dict[str, list[Study]] = {name: [] for name in VARIANTS}
    outcomes: dict[str, list[tuple[str, dict[int, float], float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="helios-optuna-bench-", dir=args.tmp) as tmp:
        folder = Path(tmp)
        for study in run_round(2, folder, list(VARIANTS)).values():  # warm-up
            study.close()
        order = list(VARIANTS)
        for _ in range(args.rounds):
            for name, study in run_round(args.trials, folder, order).items():
                outcomes[name] = study.close()
                rounds[name].append(study)
            order.reverse()  # A B, B A, …: neither variant always runs first

    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, optuna "
        f"{optuna.__version__}, SQLite via SQLAlchemy {sqlalchemy.__version__}; "
        f"{args.trials} trials × {EPOCHS} epochs, {args.rounds} rounds; SQLite files "
        f"in {args.tmp or tempfile.gettempdir()}"
    )
    same = outcomes["plugin"] == outcomes["hand"]
    states = [state for state, _, _ in outcomes["hand"]]
    print(
        f"trials: {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned; "
        f"same outcome in both variants: {'yes' if same else 'NO'}"
    )

    def best(name: str, rank: int = 0) -> float:
        """Sum over the trials of each trial's best (rank 0) or second best time."""
        per_trial = zip(*(study.seconds for study in rounds[name]), strict=True)
        return math.fsum(sorted(times)[rank] for times in per_trial)

    print(
        f"{'variant':<8} {'best s':>8} {'ms/trial':>9} {'SELECTs/trial':>14} {'writes/trial':>13}"
    )
    for name, studies in rounds.items():
        first = studies[0]
        print(
            f"{name:<8} {best(name):>8.3f} {1000 * best(name) / args.trials:>9.1f} "
            f"{first.selects / args.trials:>14.1f} {first.writes / args.trials:>13.1f}"
        )
    ratio = best("plugin") / best("hand")
    noise = best("hand", 1) / best("hand") if args.rounds > 1 else float("nan")
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"plugin / hand: {ratio:.3f}x (target <= {TARGET}x): {verdict}")
    print(f"noise floor (hand, second best / best): {noise:.3f}x")
    register, suggest, cycle = own_costs()
    cycles = sum(len(values) for _, values, _ in outcomes["hand"])
    extra = args.trials * (register + suggest) + cycles * cycle
    estimate = (best("hand") + extra) / best("hand")
    print(
        f"plug-in's own costs: {1e3 * register:.2f} ms per trainer (manifest checks on "
        f"registration), {1e6 * suggest:.1f} µs per suggest, {1e6 * cycle:.1f} µs per "
        f"validation cycle ({cycles} cycles in the study)"
    )
    verdict = "PASS" if estimate <= TARGET else "MISS"
    print(f"plugin / hand, estimated from them: {estimate:.3f}x (target <= {TARGET}x): {verdict}")
    if not same:
        print("broken: the two variants ended with different trials", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

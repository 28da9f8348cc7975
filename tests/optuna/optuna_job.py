"""One Optuna trial trained by Helios in a fresh process, as a user's tuning script runs it.

``python -m optuna_job CONFIG_JSON`` attaches to the running trial ``config["trial"]`` of the
study ``config["study"]`` in ``config["storage"]`` (``helios_optuna.attach_trial``), trains the
toy model with the trial's learning rate and hidden width, and on rank 0 tells the study the
outcome as docs/optuna.md's ``train_trial.py`` does: the final metric, PRUNED on
``optuna.TrialPruned``, FAIL on any other exception. ``world_size`` > 1 runs a gloo DDP trial
through ``helios.distributed.spawn``. Every rank writes its evidence to ``rank-<r>.json`` in
``run_dir``: the calls it made to ``trial.report`` / ``trial.should_prune`` and the metric of
each validation cycle. ``kill_at`` SIGKILLs the process after that global batch;
``pause_before_tell`` makes rank 0 write ``fitted`` (its metrics) in ``run_dir`` once ``fit``
has returned, print ``fitted`` and wait for its standard input to close before it tells the
study (the test SIGKILLs it there); ``tell: false`` leaves the telling to the caller;
``forgetful: true`` makes a rank that forgets ``check_pruned()`` and lets ``optuna.TrialPruned``
from ``fit`` leave it (once every rank wrote its evidence): ``spawn`` raises it in the driver.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from helios.trainer import Trainer, TrainingState
from helios_optuna import OptunaPlugin, attach_trial
from support.toy import ToyData, ToyModel, in_ranks

METRIC = "valid_loss"


class PruneAfter(optuna.pruners.BasePruner):
    """Prunes the trials numbered in ``numbers`` once they reported step ``cycle``."""

    def __init__(self, cycle: int, numbers: list[int]) -> None:
        self.cycle, self.numbers = cycle, set(numbers)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        return trial.number in self.numbers and step is not None and step >= self.cycle


def pruner_from(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    prune = config.get("prune")
    if prune is None:
        return optuna.pruners.NopPruner()
    return PruneAfter(prune["cycle"], prune["numbers"])


class TunedModel(ToyModel):
    """The toy MLP with its learning rate and hidden width suggested through the plug-in."""

    def __init__(self, kill_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_at = kill_at
        self.cycle_metrics: list[tuple[int, float]] = []
        self.suggested: dict[str, Any] = {}
        self.ended_with: list[str] | None = None  # the checkpoints on_training_end found

    def setup(self) -> None:
        assert self.trainer is not None
        plugin = self.trainer.plugins["optuna"]
        assert isinstance(plugin, OptunaPlugin)
        lr = plugin.suggest_float("lr", 1e-3, 2e-2, log=True)  # no divergence to NaN
        hidden = plugin.suggest("categorical", "hidden", choices=[8, 16])  # helios-ml's spelling
        self.suggested = {"lr": lr, "hidden": hidden}
        self.network = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=lr, momentum=0.9)

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.cycle_metrics.append((validation_cycle, self.metrics[METRIC]))

    def on_training_end(self) -> None:
        assert self.trainer is not None
        run_dir = self.trainer.run_dir
        self.ended_with = sorted(p.name for p in Path(run_dir).iterdir()) if run_dir else []

    def on_training_batch_end(self, state: TrainingState) -> None:
        if self.kill_at is not None and state.global_batch == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def record_calls(trial: optuna.trial.Trial, calls: dict[str, list[Any]]) -> None:
    """Wrap this trial object's report and should_prune so every call is written down."""
    report, should_prune = trial.report, trial.should_prune

    def recording_report(value: float, step: int) -> None:
        calls["report"].append([step, value])
        report(value, step)

    def recording_should_prune() -> bool:
        decision = should_prune()
        calls["should_prune"].append(decision)
        return decision

    trial.report = recording_report  # type: ignore[method-assign]
    trial.should_prune = recording_should_prune  # type: ignore[method-assign]


def run(config: dict[str, Any]) -> None:
    """Run the trial as ``config`` says; ``world_size`` > 1 spawns that many ranks."""
    in_ranks(run_rank, config)


def run_rank(config: dict[str, Any]) -> None:
    """One rank of :func:`run`: attach, train, tell the study (rank 0), write the evidence."""
    rank = int(os.environ.get("RANK", "0"))
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.load_study(
        study_name=config["study"], storage=config["storage"], pruner=pruner_from(config)
    )
    trial = attach_trial(study, config["trial"])
    calls: dict[str, list[Any]] = {"report": [], "should_prune": []}
    record_calls(trial, calls)
    plugin = OptunaPlugin(trial, METRIC)
    model = TunedModel(kill_at=config.get("kill_at") if rank == 0 else None, save_name="toy")
    trainer = Trainer(
        total=config.get("total", 4),
        valid_every=1,
        checkpoint_every=config.get("checkpoint_every", 1),
        run_dir=run_dir / "checkpoints",
        seed=config.get("seed", 7),
        progress=False,
        plugins=[plugin],
    )
    pruned, pruning = False, None
    try:
        state = trainer.fit(model, ToyData(size=config.get("size", 64)))
        if not config.get("forgetful"):
            plugin.check_pruned()  # a resumed finished run: fit trains nothing, raises nothing
    except optuna.TrialPruned as exc:
        pruned, state, pruning = True, trainer.state, exc
        outcome: dict[str, Any] = {"state": optuna.trial.TrialState.PRUNED}
    except Exception:
        if rank == 0 and config.get("tell", True):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        raise
    else:
        outcome = {"values": model.metrics[METRIC]}
    if rank == 0:
        if config.get("pause_before_tell"):
            (run_dir / "fitted").write_text(json.dumps(model.metrics), encoding="utf-8")
            print("fitted", flush=True)
            sys.stdin.read()  # the test kills the process here
        if config.get("tell", True):
            study.tell(trial.number, **outcome)
        torch.save(model.module.state_dict(), run_dir / "params.pt")
    evidence = {
        "rank": rank,
        "trial": trial.number,
        "suggested": model.suggested,
        "save_name": model.save_name,
        "calls": calls,
        "cycle_metrics": model.cycle_metrics,
        "state": state.to_dict(),
        "pruned": pruned,
        "metrics": model.metrics,
        "ended_with": model.ended_with,
    }
    (run_dir / f"rank-{rank}.json").write_text(json.dumps(evidence), encoding="utf-8")
    if pruning is not None and config.get("forgetful"):
        if torch.distributed.is_initialized():  # every rank's evidence is written before one
            torch.distributed.barrier()  # leaves: spawn ends the others when the first exits
        raise pruning


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))

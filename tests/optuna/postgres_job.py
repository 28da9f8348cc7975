"""A tuning worker, as a user runs one per machine, for the PostgreSQL tests.

``python -m postgres_job CONFIG_JSON`` creates or loads the study ``config["study"]`` in
``config["storage"]`` (``helios_optuna.create_or_load_study``, as the docs' workers do) with a pruner (``prune``: trials whose number is even are pruned once
they reported step ``cycle``) and then, by ``config["mode"]``:

``worker``  ``study.optimize(objective, n_trials=config["n_trials"])``: each trial trains the
            toy model through the ``OptunaPlugin``, in ``run_dir`` (shared by every worker).
            With ``barrier`` it prints ``ready`` and waits for a line on stdin before it creates
            or loads the study, so the test starts every worker at once: on a fresh database
            they race to create the study, then to ask trials. With ``hold_at`` it prints
            ``held <trial number>`` after that global batch of its first trial and then waits
            on stdin until it is killed (the test SIGKILLs it there: mid-trial, at a known
            point).
``resume``  the documented procedure for a killed trial (docs/optuna.md, "Resuming a killed
            trial"): ``attach_trial(study, config["trial"])``, the same training in the same
            ``run_dir``, then ``study.tell``.

It writes ``<name>.json`` in ``run_dir`` (``name``: the config's, e.g. ``worker-0``): for each
trial it ran, every ``trial.report`` call (step, value) and ``should_prune`` answer, its
hyper-parameters, and (``resume``) the metric of each validation cycle it ran. A trial trained
to the end leaves its final weights in ``params-<trial number>.pt`` there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from helios.trainer import Trainer, TrainingState
from helios_optuna import OptunaPlugin, attach_trial, create_or_load_study
from support.toy import ToyData, ToyModel

METRIC = "valid_loss"


class PruneEven(optuna.pruners.BasePruner):
    """Prunes the trials with an even number once they reported step ``cycle``."""

    def __init__(self, cycle: int) -> None:
        self.cycle = cycle

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        return trial.number % 2 == 0 and step is not None and step >= self.cycle


def pruner_from(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    prune = config.get("prune")
    return optuna.pruners.NopPruner() if prune is None else PruneEven(prune["cycle"])


def wait_for_line(what: str) -> None:
    """Block until the test writes a line on stdin; a closed stdin means the test is gone."""
    if not sys.stdin.readline():
        raise SystemExit(f"stdin closed while waiting {what}")


class TunedModel(ToyModel):
    """The toy MLP, its learning rate and hidden width suggested through the plug-in."""

    def __init__(self, hold_at: int | None, trial_number: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_at, self.trial_number = hold_at, trial_number
        self.cycle_metrics: list[tuple[int, float]] = []

    def setup(self) -> None:
        assert self.trainer is not None
        plugin = self.trainer.plugins["optuna"]
        assert isinstance(plugin, OptunaPlugin)
        lr = plugin.suggest("float", "lr", low=1e-3, high=2e-2, log=True)  # no divergence to NaN
        hidden = plugin.suggest("categorical", "hidden", choices=[8, 16])
        self.network = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=lr, momentum=0.9)

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.cycle_metrics.append((validation_cycle, self.metrics[METRIC]))

    def on_training_batch_end(self, state: TrainingState) -> None:
        if state.global_batch == self.hold_at:
            print(f"held {self.trial_number}", flush=True)
            wait_for_line("to be killed")
            raise SystemExit("the test released a held worker instead of killing it")


def record_calls(trial: optuna.trial.Trial) -> dict[str, list[Any]]:
    """Wrap this trial object's report and should_prune so every call is written down."""
    calls: dict[str, list[Any]] = {"report": [], "should_prune": []}
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
    return calls


def train(config: dict[str, Any], trial: optuna.trial.Trial, hold_at: int | None) -> TunedModel:
    """One trial's training in ``run_dir``; raises ``optuna.TrialPruned`` if it was pruned."""
    plugin = OptunaPlugin(trial, METRIC)
    model = TunedModel(hold_at, trial.number, save_name="toy")
    trainer = Trainer(
        total=config.get("total", 3),
        valid_every=1,
        checkpoint_every=config.get("checkpoint_every", 1),
        run_dir=Path(config["run_dir"]),
        seed=7,
        progress=False,
        plugins=[plugin],
    )
    trainer.fit(model, ToyData(size=64))
    plugin.check_pruned()
    torch.save(model.module.state_dict(), Path(config["run_dir"]) / f"params-{trial.number}.pt")
    return model


def run_worker(config: dict[str, Any], study: optuna.Study) -> dict[int, Any]:
    """``study.optimize`` for ``n_trials`` trials; what each trial reported, by number."""
    seen: dict[int, Any] = {}
    hold_at = config.get("hold_at")

    def objective(trial: optuna.trial.Trial) -> float:
        first = not seen
        trial.set_user_attr("worker", config["name"])
        seen[trial.number] = {"calls": record_calls(trial), "params": None}
        try:
            model = train(config, trial, hold_at if first else None)
        finally:
            seen[trial.number]["params"] = trial.params
        return model.metrics[METRIC]

    study.optimize(objective, n_trials=config["n_trials"])
    return seen


def run_resume(config: dict[str, Any], study: optuna.Study) -> dict[int, Any]:
    """Attach to the running trial ``config["trial"]``, train it to the end, tell the study."""
    trial = attach_trial(study, config["trial"])
    calls = record_calls(trial)
    try:
        model = train(config, trial, None)
    except optuna.TrialPruned:
        study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
        return {trial.number: {"calls": calls, "params": trial.params, "cycles": None}}
    study.tell(trial.number, model.metrics[METRIC])
    return {trial.number: {"calls": calls, "params": trial.params, "cycles": model.cycle_metrics}}


def main(config: dict[str, Any]) -> None:
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.get("barrier"):
        print("ready", flush=True)
        wait_for_line("for the other workers")
    study = create_or_load_study(
        study_name=config["study"],
        storage=config["storage"],
        pruner=pruner_from(config),
        load_if_exists=True,
    )
    mode = config["mode"]
    seen = run_worker(config, study) if mode == "worker" else run_resume(config, study)
    out = run_dir / f"{config['name']}.json"
    out.write_text(json.dumps(seen), encoding="utf-8")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

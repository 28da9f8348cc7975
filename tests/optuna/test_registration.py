"""helios-ml's idioms with OptunaPlugin: ``configure_trainer`` registers it, ``trial`` is settable."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from helios.trainer import Trainer
from helios_optuna import OptunaPlugin
from support.toy import ToyData, ToyModel

METRIC = "valid_loss"


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_configure_trainer_registers_the_plugin_once() -> None:
    trainer = Trainer(total=1, device="cpu", progress=False)
    plugin = OptunaPlugin(optuna.create_study().ask(), METRIC)
    plugin.configure_trainer(trainer)
    plugin.configure_trainer(trainer)
    assert trainer.plugins == {"optuna": plugin}
    assert trainer.train_exceptions == trainer.test_exceptions == [optuna.TrialPruned]
    other = OptunaPlugin(optuna.create_study().ask(), METRIC)
    with pytest.raises(KeyError) as caught:
        other.configure_trainer(trainer)
    assert str(caught.value) == (
        f"a plug-in with id 'optuna' is registered already ({plugin!r}); cannot also register "
        f"{other!r}: register one of them"
    )
    assert trainer.plugins == {"optuna": plugin}


def test_a_trial_pruned_through_configure_trainer_is_recorded_pruned() -> None:
    """helios-ml 1.x's objective: the plug-in is given to the trainer by configure_trainer."""
    study = optuna.create_study(pruner=AlwaysPrune())

    def objective(trial: optuna.Trial) -> float:
        plugin = OptunaPlugin(trial, METRIC)
        trainer = Trainer(total=3, valid_every=1, device="cpu", progress=False)
        plugin.configure_trainer(trainer)
        model = ToyModel()
        plugin.configure_model(model)
        state = trainer.fit(model, ToyData(size=16))
        assert state.stopped and state.epoch == 1  # pruned after the first cycle
        plugin.check_pruned()
        return model.metrics[METRIC]

    study.optimize(objective, n_trials=1)
    [trial] = study.get_trials()
    assert trial.state is TrialState.PRUNED
    assert len(trial.intermediate_values) == 1  # reported once, then pruned


def test_the_trial_is_settable_to_another_trial_only() -> None:
    study = optuna.create_study(study_name="tune")
    first, second = study.ask(), study.ask()
    plugin = OptunaPlugin(first, METRIC)
    plugin.trial = second
    assert plugin.trial is second
    model = ToyModel()
    plugin.configure_model(model)
    assert model.save_name == "toy_tune_trial-1"
    with pytest.raises(TypeError, match=r"^OptunaPlugin\.trial needs") as caught:
        plugin.trial = 3  # type: ignore[assignment]
    assert str(caught.value) == (
        "OptunaPlugin.trial needs an optuna trial (optuna.trial.Trial, e.g. the one "
        "study.optimize passes to the objective), found 3"
    )
    assert plugin.trial is second

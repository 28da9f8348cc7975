"""OptunaPlugin in one process: studies on real SQLite files, pruning, suggestions, names."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from optuna_job import METRIC, PruneAfter, TunedModel, record_calls

import helios.plugins as hlp
from helios.checkpoint import list_checkpoints, load_checkpoint
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer, TrainingState
from helios_optuna import OptunaPlugin, attach_trial
from helios_optuna.plugin import PRUNED_ATTR
from helios_optuna.plugin import OptunaPlugin as PluginClass
from support.toy import ToyData, ToyModel


def train(
    trial: optuna.trial.BaseTrial,
    run_dir: Path | None = None,
    total: int = 4,
    model: ToyModel | None = None,
) -> tuple[OptunaPlugin, ToyModel, TrainingState]:
    plugin = OptunaPlugin(trial, METRIC)
    model = model if model is not None else TunedModel(save_name="toy")
    trainer = Trainer(
        total=total, valid_every=1, run_dir=run_dir, seed=7, progress=False, plugins=[plugin]
    )
    state = trainer.fit(model, ToyData())
    return plugin, model, state


def test_a_study_prunes_some_trials_and_completes_the_others(
    tmp_path: Path, storage_url: str
) -> None:
    study = optuna.create_study(
        storage=storage_url,
        study_name="tune",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=PruneAfter(cycle=1, numbers=[1, 3]),  # the second cycle (from 0)
    )
    seen: dict[int, tuple[TrainingState, list[tuple[int, float]]]] = {}

    def objective(trial: optuna.Trial) -> float:  # no check_pruned(): fit raises TrialPruned
        model = TunedModel(save_name="toy")
        try:
            train(trial, tmp_path / "runs", model=model)
        finally:
            assert model.trainer is not None
            seen[trial.number] = (model.trainer.state, model.cycle_metrics)
        return model.metrics[METRIC]

    study.optimize(objective, n_trials=4)

    reloaded = optuna.load_study(study_name="tune", storage=storage_url)  # what the file holds
    trials = reloaded.get_trials()
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    for trial in trials:
        state, cycles = seen[trial.number]
        assert trial.intermediate_values == dict(cycles)
        assert set(trial.params) == {"lr", "hidden"}
        if trial.state is TrialState.PRUNED:
            assert [c for c, _ in cycles] == [0, 1]  # stopped right after the pruning cycle
            assert state.stopped and state.validation_cycles == 2
            assert trial.user_attrs == {
                PRUNED_ATTR: {"validation_cycle": 1, "metric": METRIC, "value": cycles[1][1]}
            }
        else:
            assert [c for c, _ in cycles] == [0, 1, 2, 3]
            assert trial.value == cycles[-1][1]
            assert not state.stopped and state.epoch == 4
            assert trial.user_attrs == {}
        # The final checkpoint is written before TrialPruned leaves fit.
        (newest,) = list_checkpoints(tmp_path / "runs", f"toy_tune_trial-{trial.number}")[-1:]
        assert load_checkpoint(newest)["state"]["finished"]


def test_a_builtin_pruner_on_in_memory_storage_prunes_from_fit() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e-9))
    models: list[TunedModel] = []

    def objective(trial: optuna.Trial) -> float:
        models.append(TunedModel(save_name="toy"))
        train(trial, model=models[-1])
        return 0.0  # pragma: no cover - every trial is pruned

    study.optimize(objective, n_trials=2)

    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert [len(t.intermediate_values) for t in study.trials] == [1, 1]
    for model in models:
        assert model.trainer is not None
        assert model.trainer.state.stopped and model.trainer.state.validation_cycles == 1


class _EndRecorder(TunedModel):
    def on_training_end(self) -> None:
        self.ended = True


def test_fit_and_check_pruned_say_which_cycle_pruned_the_trial() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e-9))
    plugin = OptunaPlugin(study.ask(), METRIC)
    model = _EndRecorder(save_name="toy")
    trainer = Trainer(total=4, valid_every=1, seed=7, progress=False, plugins=[plugin])
    with pytest.raises(optuna.TrialPruned) as caught:
        trainer.fit(model, ToyData())
    expected = f"trial 0 was pruned after validation cycle 0 ({METRIC}={model.metrics[METRIC]!r})"
    assert str(caught.value) == expected
    assert model.ended  # the model's on_training_end ran before the exception left fit
    with pytest.raises(optuna.TrialPruned) as again:
        plugin.check_pruned()
    assert str(again.value) == expected


def test_check_pruned_is_a_no_op_when_the_trial_was_not_pruned(storage_url: str) -> None:
    trial = optuna.create_study(storage=storage_url).ask()
    plugin, _, state = train(trial, total=2)
    plugin.check_pruned()
    OptunaPlugin(trial, METRIC).check_pruned()  # a plug-in that did not train reads storage
    assert not plugin.pruned and state.epoch == 2


def test_a_plugin_that_did_not_train_reads_the_pruning_from_storage(storage_url: str) -> None:
    study = optuna.create_study(
        storage=storage_url, pruner=optuna.pruners.ThresholdPruner(upper=1e-9)
    )
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):
        train(trial, total=2)
    elsewhere = OptunaPlugin(trial, METRIC)  # e.g. the parent of spawned ranks
    with pytest.raises(optuna.TrialPruned) as caught:
        elsewhere.check_pruned()
    value = trial.study.trials[0].intermediate_values[0]
    assert str(caught.value) == (
        f"trial 0 was pruned after validation cycle 0 ({METRIC}={value!r})"
    )
    assert elsewhere.pruned


def test_report_and_prune_happen_once_per_validation_cycle_on_its_metric() -> None:
    study = optuna.create_study()
    trial = study.ask()
    calls: dict[str, list[Any]] = {"report": [], "should_prune": []}
    record_calls(trial, calls)
    _, model, state = train(trial, total=3)
    assert isinstance(model, TunedModel)
    assert state.global_batch == 24  # 8 batches per epoch: asked per cycle, not per batch
    assert calls["should_prune"] == [False, False, False]
    assert calls["report"] == [[c, v] for c, v in model.cycle_metrics]
    assert [c for c, _ in model.cycle_metrics] == [0, 1, 2]


def test_fit_then_test_keeps_one_save_name_suffix(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.ask()
    trial = study.ask()  # number 1
    plugin = OptunaPlugin(trial, METRIC)
    model = TunedModel(save_name="toy")
    trainer = Trainer(
        total=2, valid_every=1, run_dir=tmp_path / "runs", progress=False, plugins=[plugin]
    )
    name = f"toy_{study.study_name}_trial-1"  # no-name-<uuid>: file-safe as it is
    trainer.fit(model, ToyData())
    assert model.save_name == name
    trainer.test(model, ToyData())
    assert model.save_name == name
    other = Trainer(total=2, run_dir=tmp_path / "runs", progress=False, plugins=[plugin])
    other.test(model, ToyData())  # a second trainer configures the model again
    assert model.save_name == name
    assert [p.name for p in list_checkpoints(tmp_path / "runs", name)] == [
        f"{name}_step000000016.pth"
    ]


def test_a_fixed_trial_retrains_chosen_parameters() -> None:
    trial = optuna.trial.FixedTrial({"lr": 0.015, "hidden": 8}, number=4)
    plugin, model, state = train(trial, total=2)
    assert isinstance(model, TunedModel)
    assert model.suggested == {"lr": 0.015, "hidden": 8}
    assert model.save_name == "toy_trial-4" and not plugin.pruned and state.epoch == 2


def test_suggest_reaches_each_distribution_and_stores_the_values() -> None:
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    plugin = OptunaPlugin(trial, METRIC)
    width = plugin.suggest("categorical", "width", choices=[4, 8])
    layers = plugin.suggest("int", "layers", low=1, high=3)
    lr = plugin.suggest("float", "lr", low=1e-4, high=1e-1, log=True)
    assert width in (4, 8) and layers in (1, 2, 3) and 1e-4 <= lr <= 1e-1
    assert trial.params == {"width": width, "layers": layers, "lr": lr}
    assert plugin.suggest("float", "lr", low=1e-4, high=1e-1, log=True) == lr


def test_suggest_names_the_allowed_types_and_arguments() -> None:
    plugin = OptunaPlugin(optuna.create_study().ask(), METRIC)
    with pytest.raises(ValueError, match=r"^unknown suggestion type") as unknown:
        plugin.suggest("uniform", "lr", low=0.0, high=1.0)
    assert str(unknown.value) == (
        "unknown suggestion type 'uniform' for parameter 'lr': use one of 'categorical', "
        "'float', 'int', e.g. plugin.suggest('float', 'lr', low=1e-4, high=1e-1, log=True)"
    )
    with pytest.raises(TypeError) as arguments:
        plugin.suggest("int", "layers", lo=1, high=3)
    assert str(arguments.value) == (
        "suggest('int', 'layers', ...) passes its keyword arguments to trial.suggest_int, "
        "which takes low, high, step, log; found lo, high (missing a required argument: 'low')"
    )


def test_a_distributed_suggestion_before_fit_needs_a_stored_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trial = optuna.create_study().ask()
    trial.suggest_float("lr", 1e-3, 1e-1)  # e.g. by the process that asked the trial
    plugin = OptunaPlugin(trial, METRIC)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert plugin.suggest("float", "lr", low=1e-3, high=1e-1) == trial.params["lr"]
    with pytest.raises(RuntimeError, match=r"^suggest\('int', 'depth'\) in a distributed run"):
        plugin.suggest("int", "depth", low=1, high=4)
    assert "depth" not in trial.params


def test_a_metric_the_model_does_not_set_is_named() -> None:
    trial = optuna.create_study().ask()
    plugin = OptunaPlugin(trial, "accuracy")
    trainer = Trainer(total=1, progress=False, plugins=[plugin])
    with pytest.raises(KeyError) as caught:
        trainer.fit(ToyModel(), ToyData())
    assert caught.value.args[0] == (
        "OptunaPlugin(metric_name='accuracy'): the metric is not in ToyModel.metrics after "
        "validation (it has: ['valid_loss']); set it in the model's on_validation_end"
    )


def test_a_cycle_reported_already_is_not_reported_again() -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.report(123.0, 0)  # e.g. by a run killed after validating cycle 0
    with pytest.warns(
        RuntimeWarning, match=r"^trial 0 holds valid_loss=123.0 for validation cycle 0"
    ):
        _, model, _ = train(trial, total=2)
    assert isinstance(model, TunedModel)
    assert study.trials[0].intermediate_values == {0: 123.0, 1: model.cycle_metrics[1][1]}


class _DivergedModel(TunedModel):
    """A run whose loss diverged: its metric is NaN at every cycle."""

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.metrics[METRIC] = float("nan")


def test_a_nan_reported_already_and_measured_again_is_the_same_value() -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.report(float("nan"), 0)  # a diverged run killed after validating cycle 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the resumed run measures NaN again: nothing to say
        train(trial, total=2, model=_DivergedModel(save_name="toy"))
    values = study.trials[0].intermediate_values
    assert sorted(values) == [0, 1] and all(math.isnan(v) for v in values.values())


class _DistributedTrainer:
    is_distributed = True

    def __init__(self) -> None:
        self.plugins: dict[str, Any] = {}

    def register_plugin(self, plugin: Any) -> None:
        self.plugins[plugin.plugin_id] = plugin

    def register_exception(self, *exceptions: type[BaseException]) -> None:
        self.exceptions = exceptions


def test_a_distributed_trial_needs_rdb_storage(storage_url: str) -> None:
    plugin = OptunaPlugin(optuna.create_study().ask(), METRIC)
    trainer = _DistributedTrainer()
    with pytest.raises(ValueError, match=r"^a distributed trial") as caught:
        plugin.configure_trainer(trainer)
    assert str(caught.value) == (
        "a distributed trial (every rank attaches to the same trial) needs a study on RDB "
        "storage that every process can open, found in-memory storage; create the study with "
        "storage=sqlite:///path/to/study.db (one machine), postgresql://user:password@host/db "
        "or mysql://user:password@host/db (several machines), e.g. "
        "optuna.create_study(storage='sqlite:///study.db', study_name='tune', "
        "load_if_exists=True)"
    )
    shared = OptunaPlugin(optuna.create_study(storage=storage_url).ask(), METRIC)
    shared.configure_trainer(trainer)
    assert trainer.exceptions == (optuna.TrialPruned,)
    assert trainer.plugins == {"optuna": shared}


def test_attach_trial_joins_a_running_trial_only(storage_url: str) -> None:
    study = optuna.create_study(storage=storage_url, study_name="tune")
    asked = study.ask()
    asked.suggest_int("layers", 1, 3)
    joined = attach_trial(optuna.load_study(study_name="tune", storage=storage_url), 0)
    assert joined.number == 0 and joined.params == asked.params
    with pytest.raises(ValueError, match=r"^study 'tune' has no trial 1 \(it has trials 0 to 0\)"):
        attach_trial(study, 1)
    study.tell(asked, 1.0)
    with pytest.raises(ValueError, match=r"^trial 0 of study 'tune' is COMPLETE, not RUNNING"):
        attach_trial(study, 0)
    with pytest.raises(ValueError, match=r"^attach_trial\(study, 0\) needs a study on RDB"):
        attach_trial(optuna.create_study(), 0)


def test_the_seed_names_resolve_to_the_installed_plugin() -> None:
    from helios.plugins.optuna import OptunaPlugin as SeedName

    assert SeedName is PluginClass is hlp.OptunaPlugin
    trial = optuna.create_study().ask()
    plugin = hlp.create_plugin("OptunaPlugin", trial, "accuracy")
    assert isinstance(plugin, PluginClass)
    assert plugin.trial is trial and plugin.metric_name == "accuracy"
    assert plugin.unique_overrides == hlp.UniquePluginOverrides(should_training_stop=True)


class _CountingStorage(RDBStorage):
    """A real SQLite storage that counts what reaches it: database sessions (reads and
    writes) and reads (its ``get_*`` / ``_get_*`` methods, which Optuna's cache calls)."""

    def __init__(self, url: str) -> None:
        self.sessions = self.reads = 0  # first: the constructor opens sessions already
        super().__init__(url)

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if name == "scoped_session":
            self.sessions += 1
        elif name.startswith(("get_", "_get_")) and callable(found):
            self.reads += 1  # looked up to be called: Optuna calls what it looks up
        return found


class _AskedPlugin(OptunaPlugin):
    """The installed plug-in, counting the trainer's asks."""

    def __init__(self, trial: optuna.trial.BaseTrial) -> None:
        super().__init__(trial, METRIC)
        self.asked = 0

    def should_training_stop(self) -> bool:
        self.asked += 1
        return super().should_training_stop()


class _ReadsAtEachStep(Plugin):
    """Notes the storage's counts after every optimiser step (a shared step hook)."""

    def __init__(self, storage: _CountingStorage) -> None:
        super().__init__("reads")
        self.storage = storage
        self.at_step: list[tuple[int, int]] = []

    def setup(self) -> None:
        pass

    def on_optimizer_step_end(self, state: Any) -> None:
        self.at_step.append((self.storage.sessions, self.storage.reads))


def test_asked_after_every_step_the_plugin_reads_the_storage_once_per_cycle(
    tmp_path: Path,
) -> None:
    storage = _CountingStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.MedianPruner())
    plugin = _AskedPlugin(study.ask())
    probe = _ReadsAtEachStep(storage)
    trainer = Trainer(total=3, valid_every=1, progress=False, plugins=[plugin, probe])
    state = trainer.fit(TunedModel(save_name="toy"), ToyData())  # 8 batches an epoch

    assert (state.iteration, state.validation_cycles, state.stopped) == (24, 3, False)
    assert plugin.asked == 24 + 3  # after every optimiser step and every validation
    epochs = [probe.at_step[i : i + 8] for i in (0, 8, 16)]
    # Nothing reaches the storage between two steps: the asks there answer from the cache.
    assert all(len(set(steps)) == 1 for steps in epochs), epochs
    # A validation cycle (between the epochs' steps): one report written, one read to prune.
    for before, after in ((epochs[0][-1], epochs[1][0]), (epochs[1][-1], epochs[2][0])):
        assert (after[0] - before[0], after[1] - before[1]) == (2, 1)

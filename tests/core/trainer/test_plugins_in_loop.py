"""Plug-ins in the trainer: registration checks, installed plug-ins by id, exceptions,
plug-in state in checkpoints, and the trainer's own argument checks."""

from __future__ import annotations

import logging
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.checkpoint import CheckpointError
from helios.plugins.errors import (
    PluginConflictError,
    PluginError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotInstalledError,
)
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios.trainer import Trainer, TrainingState
from support.plugin_env import PluginEnv
from support.toy import ToyData, ToyModel


def make_trainer(**kwargs: Any) -> Trainer:
    kwargs.setdefault("total", 1)
    return Trainer(device="cpu", progress=False, **kwargs)


def small_data() -> ToyData:
    return ToyData(size=16, batch_size=8)  # 2 training batches, 1 validation, 1 testing


class CountingModel(ToyModel):
    def __init__(self, save_name: str = "toy") -> None:
        super().__init__(save_name)
        self.train_steps = 0

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        self.train_steps += 1
        return super().train_step(batch, state)


class Plain(Plugin):
    def setup(self) -> None:
        pass


class TrainBatch(Plain):
    declared_overrides = UniquePluginOverrides(training_batch=True)

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        return batch


class OtherTrainBatch(Plain):
    declared_overrides = UniquePluginOverrides(training_batch=True, testing_batch=True)

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        return batch

    def process_testing_batch(self, batch: Any, step: int) -> Any:
        return batch


# ---------------------------------------------------------------------- registration
def test_two_plugins_claiming_one_override_conflict_before_training() -> None:
    model = CountingModel()
    with pytest.raises(PluginConflictError) as caught:
        make_trainer(plugins=[TrainBatch("clip"), OtherTrainBatch("noise")])
    assert str(caught.value) == (
        "plug-ins 'clip' and 'noise' both claim the unique override training_batch; only one "
        "plug-in of a trainer may process training batches: keep only one of them in the trainer "
        "(Trainer(plugins=[...]), register_plugin)"
    )
    assert model.train_steps == 0


def test_a_rejected_plugin_leaves_the_trainer_as_it_was() -> None:
    kept, rejected = TrainBatch("clip"), OtherTrainBatch("noise")
    trainer = make_trainer(plugins=[kept])
    with pytest.raises(PluginConflictError, match=r"^plug-ins 'clip' and 'noise' both claim "):
        trainer.register_plugin(rejected)
    assert trainer.plugins == {"clip": kept}

    # testing_batch was not taken by the rejected plug-in: another may still claim it.
    class TestBatch(Plain):
        declared_overrides = UniquePluginOverrides(testing_batch=True)

        def process_testing_batch(self, batch: Any, step: int) -> Any:
            return batch

    trainer.register_plugin(TestBatch("tests"))
    model = CountingModel()
    trainer.fit(model, small_data())
    assert model.train_steps == 2
    assert list(trainer.plugins) == ["clip", "tests"]


def test_the_same_id_twice_is_an_error() -> None:
    first, second = Plain("same"), Plain("same")
    trainer = make_trainer(plugins=[first])
    with pytest.raises(PluginConflictError) as caught:
        trainer.register_plugin(second)
    assert str(caught.value) == (
        "a plug-in with id 'same' is registered already (<Plain plugin_id='same'>); "
        "cannot also register <Plain plugin_id='same'>: register one of them"
    )
    assert trainer.plugins["same"] is first


def test_registering_the_same_instance_again_is_a_no_op() -> None:
    plugin = TrainBatch("clip")
    trainer = make_trainer(plugins=[plugin])
    trainer.register_plugin(plugin)
    assert trainer.plugins == {"clip": plugin}


def test_an_overridden_guarded_hook_must_be_claimed() -> None:
    class Sneaky(Plain):
        def process_training_batch(self, batch: Any, state: Any) -> Any:
            return batch

    with pytest.raises(PluginConflictError) as caught:
        make_trainer(plugins=[Sneaky("sneaky")])
    assert str(caught.value) == unclaimed("plug-in 'sneaky' (Sneaky)", "training_batch")


def test_every_unclaimed_override_is_named() -> None:
    class Sneakier(Plain):
        declared_overrides = UniquePluginOverrides(validation_batch=True)

        def process_validation_batch(self, batch: Any, step: int) -> Any:
            return batch

        def process_training_batch(self, batch: Any, state: Any) -> Any:
            return batch

        def should_training_stop(self) -> bool:
            return True

    with pytest.raises(PluginConflictError) as caught:
        make_trainer().register_plugin(Sneakier("sneakier"))
    owner = "plug-in 'sneakier' (Sneakier)"  # in the order of the hook table
    assert str(caught.value) == "; ".join(
        [unclaimed(owner, "training_batch"), unclaimed(owner, "should_training_stop")]
    )


def unclaimed(owner: str, flag: str) -> str:
    """The one wording of a guarded hook overridden without its claim (validate, the loader's
    class check and register_plugin say the same)."""
    hook = {"training_batch": "process_training_batch"}.get(flag, flag)
    return (
        f"{owner} overrides {hook} without claiming {flag}; claim {flag} ({flag}=True in "
        f"declared_overrides, and {flag} = true under [overrides] in its manifest if it has "
        f"one), or remove {hook}"
    )


def test_an_instance_level_claim_counts() -> None:
    class ClaimsInInit(Plain):
        def __init__(self) -> None:
            super().__init__("late")
            self.unique_overrides.training_batch = True

        def process_training_batch(self, batch: Any, state: Any) -> Any:
            return batch

    plugin = ClaimsInInit()
    trainer = make_trainer(plugins=[plugin])
    with pytest.raises(PluginConflictError, match=r"^plug-ins 'late' and 'clip' both claim "):
        trainer.register_plugin(TrainBatch("clip"))


def test_register_plugin_takes_plugins_only() -> None:
    with pytest.raises(TypeError) as caught:
        make_trainer().register_plugin("clip")  # type: ignore[arg-type]
    assert str(caught.value) == "register_plugin() takes a helios.plugins.Plugin, found 'clip'"


def test_plugins_may_be_any_iterable() -> None:
    plugins = [TrainBatch("clip"), Plain("plain")]
    trainer = make_trainer(plugins=(p for p in plugins))
    assert list(trainer.plugins) == ["clip", "plain"]


# ---------------------------------------------------------------------- exceptions
class Pruned(Exception):
    pass


class BadBatch(Exception):
    pass


class FailingModel(CountingModel):
    def __init__(self, error: BaseException, at_step: int) -> None:
        super().__init__()
        self.error, self.at_step = error, at_step

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        loss = super().train_step(batch, state)
        if self.train_steps == self.at_step:
            raise self.error
        return loss

    def test_step(self, batch: Any, step: int) -> None:
        raise self.error


def _helios_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "helios" and r.levelno >= logging.ERROR]


def test_a_registered_exception_passes_through_fit_unchanged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = Pruned("trial pruned at step 3")
    trainer = make_trainer(total=3)
    trainer.register_exception(Pruned)
    trainer.register_exception(Pruned)  # registering twice is harmless
    assert trainer.train_exceptions == trainer.test_exceptions == [Pruned]
    with caplog.at_level(logging.DEBUG, logger="helios"), pytest.raises(Pruned) as caught:
        trainer.fit(FailingModel(error, at_step=3), small_data())
    assert caught.value is error
    assert _helios_errors(caplog) == []


def test_a_plugin_registers_its_exception_in_configure_trainer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Pruning(Plain):
        def configure_trainer(self, trainer: Any) -> None:
            trainer.register_exception(Pruned)

    error = Pruned("pruned")
    trainer = make_trainer(plugins=[Pruning("pruning")])
    with caplog.at_level(logging.DEBUG, logger="helios"), pytest.raises(Pruned) as caught:
        trainer.fit(FailingModel(error, at_step=1), small_data())
    assert caught.value is error
    assert _helios_errors(caplog) == []


def test_another_exception_in_fit_is_logged_and_re_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = BadBatch("bad batch")
    trainer = make_trainer(total=3)
    trainer.register_exception(Pruned)
    with caplog.at_level(logging.DEBUG, logger="helios"), pytest.raises(BadBatch) as caught:
        trainer.fit(FailingModel(error, at_step=3), small_data())
    assert caught.value is error
    [record] = _helios_errors(caplog)
    assert record.getMessage() == "training failed at epoch 1, iteration 2"
    assert record.exc_info is not None
    assert record.exc_info[1] is error


def test_an_exception_in_test_is_logged_and_re_raised(caplog: pytest.LogCaptureFixture) -> None:
    error = RuntimeError("broken metric")
    trainer = make_trainer()
    with caplog.at_level(logging.DEBUG, logger="helios"), pytest.raises(RuntimeError) as caught:
        trainer.test(FailingModel(error, at_step=1), small_data())
    assert caught.value is error
    [record] = _helios_errors(caplog)
    assert record.getMessage().rstrip() == "testing failed"
    assert record.exc_info is not None
    assert record.exc_info[1] is error


# ---------------------------------------------------------------------- plug-in state
class Counter(TrainBatch):
    """Counts training batches; its count travels in checkpoints."""

    def __init__(self) -> None:
        super().__init__("counter")
        self.batches = 0
        self.events: list[str] = []

    def setup(self) -> None:
        self.events.append("setup")

    def on_training_start(self) -> None:
        self.events.append("on_training_start")

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        self.batches += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "note": "counted", "scale": torch.tensor([0.5])}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events.append("load_state_dict")
        self.batches = state_dict["batches"]


def test_plugin_state_is_saved_under_its_id_and_restored_on_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = Counter()
    make_trainer(total=1, run_dir=run_dir, plugins=[first]).fit(ToyModel(), small_data())

    [checkpoint] = sorted(run_dir.glob("*.pth"))
    assert checkpoint.name == "toy_step000000002.pth"
    saved = torch.load(checkpoint, weights_only=True)
    assert list(saved["plugins"]) == ["counter"]
    assert saved["plugins"]["counter"]["batches"] == 2
    assert saved["plugins"]["counter"]["note"] == "counted"
    assert torch.equal(saved["plugins"]["counter"]["scale"], torch.tensor([0.5]))

    resumed = Counter()
    state = make_trainer(total=2, run_dir=run_dir, plugins=[resumed]).fit(ToyModel(), small_data())
    assert resumed.events == ["setup", "load_state_dict", "on_training_start"]
    assert resumed.batches == 4  # 2 restored + 2 of the second epoch
    assert (state.epoch, state.global_batch) == (2, 4)


def test_state_of_a_plugin_the_trainer_lacks_is_ignored_with_a_warning(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    make_trainer(total=1, run_dir=run_dir, plugins=[Counter()]).fit(ToyModel(), small_data())

    with pytest.warns(RuntimeWarning) as caught:
        make_trainer(total=2, run_dir=run_dir).fit(ToyModel(), small_data())
    assert [str(w.message) for w in caught] == [
        "the checkpoint holds state for plug-in 'counter', which this trainer does not have; "
        "that state is ignored"
    ]


def test_plugin_state_with_python_objects_is_refused_at_the_save(tmp_path: Path) -> None:
    class Pickling(Plain):
        def state_dict(self) -> dict[str, Any]:
            return {"ratio": Fraction(1, 3)}

    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir=run_dir, plugins=[Pickling("pickling")])
    with pytest.raises(CheckpointError) as caught:
        trainer.fit(ToyModel(), small_data())
    assert str(caught.value).startswith(
        "plug-in 'pickling' cannot be checkpointed: its state_dict() holds a fractions.Fraction "
        "(Fraction(1, 3)) at plugins['pickling']['ratio'], which torch.load(weights_only=True) "
        "refuses"
    )
    assert not list(run_dir.glob("*.pth"))  # nothing a resume could trip over


# ---------------------------------------------------------------------- trainer arguments
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_what_to_do() -> None:
    with pytest.raises(RuntimeError) as caught:
        Trainer(total=1, device="cuda")
    message = str(caught.value)
    assert message.startswith("Trainer(device='cuda') but CUDA is not available here (")
    assert message.endswith(
        "); use device='cpu', or run on a machine with an NVIDIA GPU and a CUDA build of torch"
    )


def test_auto_device_is_the_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert Trainer(total=1, progress=False).device.type == expected


MAX_WAIT = "1,000,000,000"  # seconds, about 31 years


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total": 0}, "total must be a positive integer, found 0"),
        ({"total": 1.5}, "total must be a positive integer, found 1.5"),
        ({"total": 2, "accumulation_steps": 0}, "accumulation_steps must be a positive integer, found 0"),
        ({"total": 2, "valid_every": 0}, "valid_every must be a positive integer, found 0"),
        ({"total": 2, "checkpoint_every": -1, "run_dir": "x"}, "checkpoint_every must be a positive integer, found -1"),
        ({"total": 2, "patience": 0}, "patience must be a positive integer, found 0"),
        ({"total": 2, "checkpoint_every": 1}, "checkpoint_every needs run_dir: pass Trainer(run_dir=...)"),
        ({"total": 2, "early_stop_mode": "mean"}, "early_stop_mode must be 'min' or 'max', found 'mean'"),
        ({"total": 2, "device": "tpu"}, "device must be 'auto', 'cpu' or 'cuda', found 'tpu'"),
        ({"total": 2, "unit": "weeks"}, "'weeks' is not a valid TrainingUnit"),
        ({"total": 2, "keep_checkpoints": "3"}, "keep_checkpoints must be a whole number (0 keeps every checkpoint), found '3'; pass e.g. keep_checkpoints=3"),
        ({"total": 2, "keep_checkpoints": -1}, "keep_checkpoints must be a whole number (0 keeps every checkpoint), found -1; pass e.g. keep_checkpoints=3"),
        ({"total": 2, "dist_timeout_s": 0}, f"dist_timeout_s must be a positive number of seconds of at most {MAX_WAIT}, found 0; pass e.g. 300.0"),
        ({"total": 2, "dist_timeout_s": float("nan")}, f"dist_timeout_s must be a positive number of seconds of at most {MAX_WAIT}, found nan; pass e.g. 300.0"),
        ({"total": 2, "dist_timeout_s": "60"}, f"dist_timeout_s must be a positive number of seconds of at most {MAX_WAIT}, found '60'; pass e.g. 300.0"),
        ({"total": 2, "seed": -1}, f"seed must be an integer from 0 to {2**32 - 1} (2**32 - 1), found -1; pass another seed"),
        ({"total": 2, "seed": 2**63}, f"seed must be an integer from 0 to {2**32 - 1} (2**32 - 1), found {2**63}; pass another seed"),
        ({"total": 2, "seed": True}, f"seed must be an integer from 0 to {2**32 - 1} (2**32 - 1), found True; pass another seed"),
        ({"total": 2, "seed": 1.5}, f"seed must be an integer from 0 to {2**32 - 1} (2**32 - 1), found 1.5; pass another seed"),
        ({"total": 2, "dist_timeout_s": 10**400}, f"dist_timeout_s must be a positive number of seconds of at most {MAX_WAIT}, found <an int of 1,329 bits>; pass e.g. 300.0"),
        ({"total": 2, "dist_timeout_s": 1e15}, f"dist_timeout_s must be a positive number of seconds of at most {MAX_WAIT}, found 1000000000000000.0; pass e.g. 300.0"),
    ],
)  # fmt: skip
def test_trainer_argument_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Trainer(**kwargs)


def test_numpy_integers_and_floats_are_taken_as_python_numbers() -> None:
    import numpy as np

    trainer = Trainer(
        total=2, seed=np.int64(7), keep_checkpoints=np.uint8(2), dist_timeout_s=np.float32(5)
    )
    assert (trainer.seed, trainer.keep_checkpoints, trainer.dist_timeout_s) == (7, 2, 5.0)
    assert [type(v) for v in (trainer.seed, trainer.keep_checkpoints, trainer.dist_timeout_s)] == [
        int,
        int,
        float,
    ]


def test_the_largest_seed_trains_with_shuffling_over_several_epochs() -> None:
    from helios.trainer import MAX_SEED

    model = ToyModel()
    state = Trainer(total=2, seed=MAX_SEED, progress=False).fit(model, ToyData())
    assert state.epoch == 2 and len(model.losses) == 16  # 2**32 - 1 overflowed nothing


# ---------------------------------------------------------------------- installed plug-ins
COUNTING_SOURCE = """\
from helios.plugins.plugin import Plugin, UniquePluginOverrides


class FixturePlugin(Plugin):
    plugin_id = "fixture"
    declared_overrides = UniquePluginOverrides(training_batch=True)

    def setup(self):
        self.seen = 0

    def process_training_batch(self, batch, state):
        self.seen += 1
        return batch
"""


@pytest.fixture
def env(plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch) -> PluginEnv:
    for name in (
        "HELIOS_PLUGINS_ONLY",
        "HELIOS_PLUGINS_DISABLE",
        "HELIOS_PLUGINS_STRICT",
        "HELIOS_FAKE_DEVICE",
    ):
        monkeypatch.delenv(name, raising=False)
    return plugin_env


def _imported(package: str) -> bool:
    return any(name.partition(".")[0] == package for name in sys.modules)


def test_an_installed_plugin_is_selected_by_id_and_runs(env: PluginEnv) -> None:
    env.add(
        "helios-fixture", "fixture", overrides=("training_batch",), module_source=COUNTING_SOURCE
    )
    env.activate()

    trainer = make_trainer(plugins=["fixture"])
    plugin = trainer.plugins["fixture"]
    assert type(plugin).__module__ == "helios_fixture.plugin"
    assert type(plugin).__name__ == "FixturePlugin"
    trainer.fit(ToyModel(), small_data())
    assert plugin.seen == 2  # type: ignore[attr-defined]


def test_plugins_keep_the_order_given(env: PluginEnv) -> None:
    env.add("helios-fixture", "fixture", overrides=("training_batch",))
    env.activate()
    trainer = make_trainer(plugins=[Plain("mine"), "fixture", Plain("last")])
    assert list(trainer.plugins) == ["mine", "fixture", "last"]


def test_an_unknown_id_is_not_installed(env: PluginEnv) -> None:
    env.activate()
    with pytest.raises(PluginNotInstalledError, match=r"'nowhere'"):
        make_trainer(plugins=["nowhere"])


def test_an_installed_plugin_conflicting_with_an_instance_raises(env: PluginEnv) -> None:
    env.add("helios-fixture", "fixture", overrides=("training_batch",))
    env.activate()
    with pytest.raises(PluginConflictError) as caught:
        make_trainer(plugins=[TrainBatch("mine"), "fixture"])
    assert str(caught.value) == (
        "plug-ins 'mine' and 'fixture' (helios-fixture 0.1.0) both claim the unique override "
        "training_batch; only one plug-in of a trainer may process training batches: keep only "
        "one of them in the trainer (Trainer(plugins=[...]), register_plugin)"
    )

    expected = (
        "plug-ins 'fixture' and 'mine' both claim the unique override training_batch; only one "
        "plug-in of a trainer may process training batches: keep only one of them in the trainer "
        "(Trainer(plugins=[...]), register_plugin)"
    )
    trainer = make_trainer(plugins=["fixture"])
    with pytest.raises(PluginConflictError) as caught:
        trainer.register_plugin(TrainBatch("mine"))
    assert str(caught.value) == expected
    assert list(trainer.plugins) == ["fixture"]


def test_a_manifest_conflict_with_an_instance_raises_before_import(env: PluginEnv) -> None:
    env.add("helios-fixture", "fixture", overrides=("training_batch",))
    env.activate()
    with pytest.raises(PluginConflictError):
        make_trainer(plugins=[TrainBatch("mine"), "fixture"])
    assert not _imported("helios_fixture")


def test_an_incompatible_installed_plugin_raises_before_import(env: PluginEnv) -> None:
    env.add("helios-future", "future", core_range=">=0.2,<0.3")
    env.activate()
    with pytest.raises(PluginIncompatibleError) as caught:
        make_trainer(plugins=["future"])
    assert str(caught.value).startswith(
        "plug-in check failed; nothing was imported:\n  - future (helios-future 0.1.0): "
        "incompatible-core: requires helios-trainer"
    )
    assert [v.reason.value for v in caught.value.verdicts] == ["incompatible-core"]
    assert not _imported("helios_future")


def test_two_installed_plugins_claiming_one_override_raise_before_import(env: PluginEnv) -> None:
    env.add("helios-one", "one", overrides=("training_batch",))
    env.add("helios-two", "two", overrides=("training_batch",))
    env.activate()
    with pytest.raises(PluginIncompatibleError) as caught:
        make_trainer(plugins=["one", "two"])
    assert sorted(v.reason.value for v in caught.value.verdicts) == ["conflict", "conflict"]
    assert not _imported("helios_one")
    assert not _imported("helios_two")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_only_plugin_is_not_applicable_here(env: PluginEnv) -> None:
    env.add("helios-gpu", "gpu", device='accelerator = "cuda"')
    env.activate()
    with pytest.raises(PluginNotApplicableError) as caught:  # strict: else skipped with a warning
        make_trainer(plugins=["gpu"], strict=True)
    assert caught.value.verdicts[0].reason.value.startswith("device-")
    assert not _imported("helios_gpu")


# ---------------------------------------------------------------------- checkpoints
def test_a_fresh_run_in_a_used_run_dir_is_refused(tmp_path: Path) -> None:
    def trainer(**kwargs: Any) -> Trainer:
        return make_trainer(run_dir=tmp_path, checkpoint_every=1, keep_checkpoints=2, **kwargs)

    trainer(total=3).fit(ToyModel(), small_data())  # leaves steps 4 and 6
    model = ToyModel()
    with pytest.raises(CheckpointError) as caught:
        trainer(total=1, resume=False).fit(model, small_data())
    assert str(caught.value) == (
        f"{tmp_path} holds checkpoints of an earlier 'toy' run and resume=False would mix a new "
        "run with them; pass resume=True to continue it, or use another run_dir (or delete "
        "those files) to start over"
    )
    assert model.losses == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "toy_step000000004.pth",
        "toy_step000000006.pth",
    ]


def test_retention_never_deletes_the_file_just_written(tmp_path: Path) -> None:
    from helios.checkpoint import save_checkpoint

    (tmp_path / "toy_step000000009.pth").write_bytes(b"newer step from elsewhere")
    save_checkpoint({"format": 1}, tmp_path / "toy_step000000002.pth", keep=1)
    assert (tmp_path / "toy_step000000002.pth").exists()


def test_selecting_a_plugin_that_needs_arguments_by_id_says_to_pass_an_instance() -> None:
    pytest.importorskip("helios_optuna", reason="needs an installed plug-in with arguments")
    with pytest.raises(PluginError) as caught:
        Trainer(total=1, progress=False, plugins=["optuna"])
    assert str(caught.value) == (
        "the plug-in 'optuna' (helios_optuna.plugin.OptunaPlugin) cannot be created from its "
        "options alone: its constructor needs trial, metric_name (options given: none). Fix: "
        "pass an instance instead, Trainer(plugins=[OptunaPlugin(...)]), or give them as "
        "options: ('optuna', {'trial': ..., 'metric_name': ...})"
    )

"""What helios-ml's trainer (1.4.1, 2.0.0) does for plug-ins where upstream has no test of its
own: registration, the trainer's attributes, validation numbering, when training stops,
exceptions, plug-in state and ``TrainingState``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.checkpoint import CheckpointError
from helios.plugins.errors import PluginError
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios.trainer import Trainer, TrainingState, TrainingUnit
from support.toy import ToyData, ToyModel


def cpu_trainer(**kwargs: Any) -> Trainer:
    kwargs.setdefault("total", 1)
    return Trainer(device="cpu", progress=False, **kwargs)


def small_data() -> ToyData:
    return ToyData(size=16, batch_size=8)  # 2 training batches, 1 validation, 1 testing


class Plain(Plugin):
    def setup(self) -> None:
        pass


class TrainBatch(Plain):
    declared_overrides = UniquePluginOverrides(training_batch=True)

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        return batch


# ---------------------------------------------------------------------- registration
def test_register_plugin() -> None:
    """2.0.0: another plug-in with a registered id is a KeyError; a unique override claimed
    twice is a ValueError; the rejected plug-in is not kept."""
    first, clip = Plain("same"), TrainBatch("clip")
    trainer = cpu_trainer()
    trainer.register_plugin(first)
    trainer.register_plugin(clip)
    with pytest.raises(KeyError):
        trainer.register_plugin(Plain("same"))
    with pytest.raises(ValueError, match="training_batch"):
        trainer.register_plugin(TrainBatch("other_clip"))
    assert trainer.plugins == {"same": first, "clip": clip}


class SelfRegistering(Plain):
    """1.4.1's idiom (its CUDAPlugin and OptunaPlugin): ``configure_trainer`` registers."""

    def __init__(self) -> None:
        super().__init__("self_registering")
        self.events: list[str] = []

    def setup(self) -> None:
        self.events.append("setup")

    def configure_trainer(self, trainer: Any) -> None:
        this: Any = self  # upstream's private helper, typed loosely here
        this._register_in_trainer(trainer)

    def on_training_start(self) -> None:
        self.events.append("on_training_start")


def test_configure_trainer_registers() -> None:
    plugin, trainer = SelfRegistering(), cpu_trainer()
    plugin.configure_trainer(trainer)
    assert trainer.plugins == {"self_registering": plugin}
    trainer.fit(ToyModel(), small_data())  # fit configures it again: no second registration
    assert trainer.plugins == {"self_registering": plugin}
    assert plugin.events == ["setup", "on_training_start"]
    with pytest.raises(KeyError):
        SelfRegistering().configure_trainer(trainer)  # another instance, the same id
    assert trainer.plugins == {"self_registering": plugin}


def test_plug_id() -> None:
    """Upstream keeps the id in ``_plug_id`` (its trainer registers plug-ins by it)."""
    plugin: Any = Plain("mine")
    assert plugin._plug_id == "mine"
    assert plugin.plugin_id == "mine"


class ClaimsInInit(Plain):
    """Upstream's plug-ins claim their unique overrides in ``__init__``."""

    def __init__(self, plug_id: str) -> None:
        super().__init__(plug_id)
        self._overrides.training_batch = True  # 1.4.1's CUDAPlugin
        self.unique_overrides.should_training_stop = True  # 2.0.0's OptunaPlugin
        self.batches = 0

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        self.batches += 1
        return batch

    def should_training_stop(self) -> bool:
        return False


def test_unique_overrides_set_in_init() -> None:
    plugin = ClaimsInInit("claims")
    trainer = cpu_trainer(plugins=[plugin])
    trainer.fit(ToyModel(), small_data())
    assert plugin.batches == 2
    with pytest.raises(ValueError, match="claims_too"):  # it claims what "claims" owns
        trainer.register_plugin(ClaimsInInit("claims_too"))
    assert trainer.plugins == {"claims": plugin}


@pytest.mark.xfail(
    strict=True,
    raises=PluginError,
    reason="deliberate: a plug-in that overrides a guarded hook must claim its unique "
    "override; see docs/migrating.md#guarded-hooks-are-claimed",
)
def test_unclaimed_batch_hook_is_never_called() -> None:
    """Upstream registers a plug-in overriding ``process_training_batch`` without claiming
    ``training_batch``, and silently never calls that hook."""

    class Unclaimed(Plain):
        def __init__(self) -> None:
            super().__init__("unclaimed")
            self.calls = 0

        def process_training_batch(self, batch: Any, state: Any) -> Any:
            self.calls += 1
            return batch

    plugin = Unclaimed()
    trainer = cpu_trainer()
    trainer.register_plugin(plugin)
    trainer.fit(ToyModel(), small_data())
    assert plugin.calls == 0


@pytest.mark.xfail(
    strict=True,
    raises=PluginError,
    reason="deliberate: only the plug-in that claims should_training_stop is asked; see "
    "docs/migrating.md#guarded-hooks-are-claimed",
)
def test_unclaimed_should_training_stop_is_asked() -> None:
    """Upstream asks every plug-in's ``should_training_stop``, claimed or not."""

    class Stops(Plain):
        def should_training_stop(self) -> bool:
            return True

    trainer = cpu_trainer(total=3)
    trainer.register_plugin(Stops("stops"))
    state = trainer.fit(ToyModel(), small_data())
    assert state.iteration == 1


# ---------------------------------------------------------------------- trainer attributes
class Watcher(Plain):
    """Notes what the trainer shows a plug-in when the plug-in is set up and tested."""

    def setup(self) -> None:
        trainer = self.trainer
        self.at_setup = (
            trainer.model,
            trainer.datamodule,
            trainer.rank,
            trainer.local_rank,
            self.rank,
            self.map_loc,
        )

    def on_testing_start(self) -> None:
        self.at_test = (self.trainer.model, self.trainer.datamodule)


def test_trainer_model_and_datamodule() -> None:
    """Upstream sets ``trainer.model``, ``trainer.datamodule``, ``trainer.rank`` (global),
    ``trainer.local_rank`` and the plug-in's ``rank`` (local) before plug-ins are set up."""
    plugin, model, data = Watcher("watcher"), ToyModel(), small_data()
    trainer = cpu_trainer(plugins=[plugin])
    trainer.fit(model, data)
    assert plugin.at_setup[:5] == (model, data, 0, 0, 0)
    other_model, other_data = ToyModel(), small_data()
    trainer.test(other_model, other_data)
    assert plugin.at_test == (other_model, other_data)


def test_map_loc_on_cpu() -> None:
    """On the CPU upstream's trainer maps checkpoints with ``{"cuda:0": "cpu"}``."""
    plugin = Watcher("watcher")
    cpu_trainer(plugins=[plugin]).fit(ToyModel(), small_data())
    assert plugin.at_setup[5] == {"cuda:0": "cpu"}


# ---------------------------------------------------------------------- validation, stopping
class CycleRecorder(Plain):
    def __init__(self) -> None:
        super().__init__("cycles")
        self.cycles: list[tuple[str, int]] = []

    def on_validation_start(self, validation_cycle: int) -> None:
        self.cycles.append(("start", validation_cycle))

    def on_validation_end(self, validation_cycle: int) -> None:
        self.cycles.append(("end", validation_cycle))


class CycleModel(ToyModel):
    def __init__(self) -> None:
        super().__init__()
        self.cycles: list[tuple[str, int]] = []

    def on_validation_start(self, validation_cycle: int) -> None:
        self.cycles.append(("start", validation_cycle))
        super().on_validation_start(validation_cycle)

    def on_validation_end(self, validation_cycle: int) -> None:
        self.cycles.append(("end", validation_cycle))
        super().on_validation_end(validation_cycle)


def test_validation_cycle_numbers() -> None:
    """Upstream passes the cycles completed before this one: the first cycle is 0."""
    plugin, model = CycleRecorder(), CycleModel()
    state = cpu_trainer(total=3, valid_every=1, plugins=[plugin]).fit(model, small_data())
    expected = [("start", 0), ("end", 0), ("start", 1), ("end", 1), ("start", 2), ("end", 2)]
    assert plugin.cycles == expected
    assert model.cycles == expected
    assert state.validation_cycles == 3  # completed cycles, as upstream's state counts them


class StopAt(Plain):
    """Says stop at its ``at``-th question."""

    declared_overrides = UniquePluginOverrides(should_training_stop=True)

    def __init__(self, at: int) -> None:
        super().__init__("stop_at")
        self.at, self.asked = at, 0

    def should_training_stop(self) -> bool:
        self.asked += 1
        return self.asked >= self.at


def test_should_training_stop_after_every_batch() -> None:
    """Upstream asks after every training batch, so a plug-in can stop training between
    validations, or without any validation at all (here: none before training ends)."""
    plugin, model = StopAt(3), ToyModel()
    state = cpu_trainer(total=2, plugins=[plugin]).fit(model, ToyData())  # 8 batches an epoch
    assert [batch for batch, _ in model.losses] == [1, 2, 3]
    assert (state.iteration, state.global_batch, state.epoch) == (3, 3, 0)
    assert state.stopped


class StoppingModel(ToyModel):
    """Upstream's ``Model.should_training_stop``: asked with the plug-ins' answer."""

    def should_training_stop(self) -> bool:
        return len(self.losses) >= 2


def test_model_should_training_stop() -> None:
    model = StoppingModel()
    state = cpu_trainer(total=2).fit(model, ToyData())
    assert [batch for batch, _ in model.losses] == [1, 2]
    assert state.iteration == 2 and state.stopped


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="deliberate: the stop owner is asked after every optimiser step (and validation), "
    "not after batches that only accumulate gradients; see docs/migrating.md#stop-timing",
)
def test_stop_asked_after_every_batch_with_accumulation() -> None:
    class Log(Plain):
        declared_overrides = UniquePluginOverrides(training_batch=True, should_training_stop=True)

        def __init__(self) -> None:
            super().__init__("log")
            self.log: list[str] = []

        def process_training_batch(self, batch: Any, state: Any) -> Any:
            self.log.append("batch")
            return batch

        def should_training_stop(self) -> bool:
            self.log.append("asked")
            return False

    plugin = Log()
    cpu_trainer(total=1, accumulation_steps=2, plugins=[plugin]).fit(ToyModel(), ToyData())
    assert plugin.log.count("batch") == 8
    after_batches = [plugin.log[i + 1] for i, e in enumerate(plugin.log[:-1]) if e == "batch"]
    assert after_batches == ["asked"] * 7  # and after the last one


# ---------------------------------------------------------------------- exceptions
class Pruned(Exception):
    pass


class FailingModel(ToyModel):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        raise self.error

    def test_step(self, batch: Any, step: int) -> None:
        raise self.error


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_train_and_test_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    """Upstream: exceptions in ``train_exceptions`` leave ``fit`` (``test_exceptions``:
    ``test``) as they are, without an error log; the lists are settable."""
    trainer: Any = cpu_trainer()  # Any: the exception lists are upstream's names
    trainer.train_exceptions = [Pruned]
    trainer.test_exceptions = [Pruned]
    error = Pruned("pruned")
    with caplog.at_level(logging.DEBUG), pytest.raises(Pruned) as caught:
        trainer.fit(FailingModel(error), small_data())
    assert caught.value is error
    with caplog.at_level(logging.DEBUG), pytest.raises(Pruned) as caught:
        trainer.test(FailingModel(error), small_data())
    assert caught.value is error
    assert _errors(caplog) == []


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="deliberate: fit and test re-raise every exception (after logging the ones not "
    "listed); see docs/migrating.md#exceptions",
)
def test_fit_swallows_other_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    """Upstream logs an exception not in ``train_exceptions`` and returns False."""
    trainer = cpu_trainer()
    with caplog.at_level(logging.DEBUG):
        succeeded: Any = trainer.fit(FailingModel(ValueError("bad batch")), small_data())
    assert succeeded is False
    assert len(_errors(caplog)) == 1


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="deliberate: fit returns the final TrainingState, test returns None; see "
    "docs/migrating.md#exceptions",
)
def test_fit_returns_true() -> None:
    trainer, model, data = cpu_trainer(), ToyModel(), small_data()
    fitted: Any = trainer.fit(model, data)
    assert fitted is True
    tested: Any = trainer.test(model, data)  # type: ignore[func-returns-value]
    assert tested is True


# ---------------------------------------------------------------------- state
@pytest.mark.xfail(
    strict=True,
    raises=(PluginError, CheckpointError),
    reason="deliberate: plug-in state that a weights-only load would refuse fails at the "
    "save that writes it; see docs/migrating.md#checkpoints",
)
def test_plugin_state_saved_as_is(tmp_path: Path) -> None:
    """Upstream saves whatever ``state_dict()`` returns (a resume then fails to load it)."""
    numpy = pytest.importorskip("numpy")

    class NumpyState(Plain):
        def state_dict(self) -> dict[str, Any]:
            return {"best": numpy.float64(0.5)}

    cpu_trainer(run_dir=tmp_path, plugins=[NumpyState("numpy_state")]).fit(ToyModel(), small_data())
    assert list(tmp_path.glob("*.pth"))


@pytest.mark.xfail(
    strict=True,
    raises=AttributeError,
    reason="deliberate: TrainingState has its own field names and counter timing; see "
    "docs/migrating.md#trainingstate",
)
def test_training_state_fields() -> None:
    state: Any = TrainingState()
    assert (
        state.current_iteration,
        state.global_iteration,
        state.global_epoch,
        state.validation_cycles,
        state.dataset_iter,
        state.early_stop_count,
        state.average_iter_time,
        state.running_iter,
    ) == (0, 0, 0, 0, 0, 0, 0.0, 0)


class StateRecorder(TrainBatch):
    """Notes ``(epoch, batch, global_batch, iteration)`` where a plug-in sees the state."""

    def __init__(self) -> None:
        super().__init__("state")
        self.seen: list[tuple[int, int, int, int]] = []

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        self.seen.append((state.epoch, state.batch, state.global_batch, state.iteration))
        return batch


class StateModel(ToyModel):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, int, int, int]] = []

    def _note(self, where: str, state: TrainingState) -> None:
        self.seen.append((where, state.epoch, state.batch, state.global_batch, state.iteration))

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        self._note("train_step", state)
        return super().train_step(batch, state)

    def optimizer_step(self, state: TrainingState) -> None:
        self._note("optimizer_step", state)
        super().optimizer_step(state)

    def on_training_batch_end(self, state: TrainingState) -> None:
        self._note("batch_end", state)


def test_training_state_counter_timing() -> None:
    """The counters docs/migrating.md#trainingstate maps upstream's to, where a plug-in and
    the model see them: 2 epochs of 3 batches (4, 4, 2 samples), accumulating 2 batches."""
    plugin, model = StateRecorder(), StateModel()
    trainer = cpu_trainer(total=2, unit=TrainingUnit.EPOCH, accumulation_steps=2, plugins=[plugin])
    state = trainer.fit(model, ToyData(size=10, batch_size=4))
    # process_training_batch: the batches before this one; the optimiser steps taken so far.
    assert plugin.seen == [
        (0, 0, 0, 0), (0, 1, 1, 0), (0, 2, 2, 1),
        (1, 0, 3, 2), (1, 1, 4, 2), (1, 2, 5, 3),
    ]  # fmt: skip
    # From train_step on, batch and global_batch count this batch; iteration grows after the
    # optimiser step, which comes every 2nd batch of an epoch and after its last batch.
    assert model.seen == [
        ("train_step", 0, 1, 1, 0), ("batch_end", 0, 1, 1, 0),
        ("train_step", 0, 2, 2, 0), ("optimizer_step", 0, 2, 2, 0), ("batch_end", 0, 2, 2, 1),
        ("train_step", 0, 3, 3, 1), ("optimizer_step", 0, 3, 3, 1), ("batch_end", 0, 3, 3, 2),
        ("train_step", 1, 1, 4, 2), ("batch_end", 1, 1, 4, 2),
        ("train_step", 1, 2, 5, 2), ("optimizer_step", 1, 2, 5, 2), ("batch_end", 1, 2, 5, 3),
        ("train_step", 1, 3, 6, 3), ("optimizer_step", 1, 3, 6, 3), ("batch_end", 1, 3, 6, 4),
    ]  # fmt: skip
    assert (state.epoch, state.batch, state.global_batch, state.iteration) == (2, 0, 6, 4)

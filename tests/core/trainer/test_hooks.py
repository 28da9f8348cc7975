"""The trainer's calls into the model and its plug-ins, recorded in one list and compared exactly.

A recording model (ToyModel underneath) and recording plug-ins append ``Call``s to a shared
``Log``; training states are recorded as ``At(epoch, batch, iteration)`` at the moment of the
call and batches as ``BATCH``. Plug-in ``first`` claims nothing; ``owner`` claims every unique
override. The defaults of the guarded hooks on ``Plugin`` record too, so a call on a plug-in
that does not own the override would show up in the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from helios.data import DataModule
from helios.model import Model
from helios.plugins.hooks import HOOKS, Hook, Phase
from helios.plugins.plugin import GUARDED_HOOKS, Plugin, UniquePluginOverrides
from helios.trainer import Trainer, TrainingState, TrainingUnit
from support.toy import ToyData, ToyDataset, ToyModel

BATCH = "<batch>"


@dataclass(frozen=True)
class At:
    """Where training stood when a hook ran."""

    epoch: int
    batch: int
    iteration: int


@dataclass(frozen=True)
class Call:
    who: str  # "model" or a plug-in id
    hook: str
    args: tuple[Any, ...] = ()
    raw: tuple[Any, ...] = field(default=(), compare=False, repr=False)


def _normalise(value: Any) -> Any:
    if isinstance(value, TrainingState):
        return At(value.epoch, value.batch, value.iteration)
    if isinstance(value, (list, tuple)) and value and all(torch.is_tensor(v) for v in value):
        return BATCH
    return value


class Log(list[Call]):
    def record(self, who: str, hook: str, *args: Any) -> None:
        self.append(Call(who, hook, tuple(_normalise(a) for a in args), args))

    def of(self, who: str, hook: str) -> list[Call]:
        return [c for c in self if c.who == who and c.hook == hook]

    def hooks(self, hook: str) -> list[Call]:
        return [c for c in self if c.hook == hook]


class RecordingModel(ToyModel):
    def __init__(self, log: Log, save_name: str = "toy") -> None:
        super().__init__(save_name)
        self.log = log

    def _rec(self, hook: str, *args: Any) -> None:
        self.log.record("model", hook, *args)

    def setup(self) -> None:
        self._rec("setup")
        super().setup()

    def train(self) -> None:
        self._rec("train")
        super().train()

    def eval(self) -> None:
        self._rec("eval")
        super().eval()

    def on_training_start(self) -> None:
        self._rec("on_training_start")

    def on_training_epoch_start(self, epoch: int) -> None:
        self._rec("on_training_epoch_start", epoch)

    def on_training_batch_start(self, state: TrainingState) -> None:
        self._rec("on_training_batch_start", state)

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        self._rec("train_step", batch, state)
        return super().train_step(batch, state)

    def optimizer_step(self, state: TrainingState) -> None:
        self._rec("optimizer_step", state)
        super().optimizer_step(state)

    def on_training_batch_end(self, state: TrainingState) -> None:
        self._rec("on_training_batch_end", state)

    def on_training_epoch_end(self, epoch: int) -> None:
        self._rec("on_training_epoch_end", epoch)

    def on_training_end(self) -> None:
        self._rec("on_training_end")

    def on_validation_start(self, validation_cycle: int) -> None:
        self._rec("on_validation_start", validation_cycle)
        super().on_validation_start(validation_cycle)

    def valid_step(self, batch: Any, step: int) -> None:
        self._rec("valid_step", batch, step)
        super().valid_step(batch, step)

    def on_validation_end(self, validation_cycle: int) -> None:
        self._rec("on_validation_end", validation_cycle)
        super().on_validation_end(validation_cycle)

    def on_testing_start(self) -> None:
        self._rec("on_testing_start")

    def test_step(self, batch: Any, step: int) -> None:
        self._rec("test_step", batch, step)

    def on_testing_end(self) -> None:
        self._rec("on_testing_end")


class RecordingPlugin(Plugin):
    """Records every hook that is not a unique override."""

    def __init__(self, plug_id: str, log: Log) -> None:
        super().__init__(plug_id)
        self.log = log
        self.seen_in_setup: dict[str, Any] = {}

    def _rec(self, hook: str, *args: Any) -> None:
        self.log.record(self.plugin_id, hook, *args)

    def configure_trainer(self, trainer: Any) -> None:
        self._rec("configure_trainer", trainer)

    def configure_model(self, model: Any) -> None:
        self._rec("configure_model", model)

    def setup(self) -> None:
        self.seen_in_setup = {
            "is_distributed": self.is_distributed,
            "map_loc": self.map_loc,
            "device": self.device,
            "rank": self.rank,
            "trainer": self.trainer,
        }
        self._rec("setup")

    def on_training_start(self) -> None:
        self._rec("on_training_start")

    def on_training_end(self) -> None:
        self._rec("on_training_end")

    def on_validation_start(self, validation_cycle: int) -> None:
        self._rec("on_validation_start", validation_cycle)

    def on_validation_end(self, validation_cycle: int) -> None:
        self._rec("on_validation_end", validation_cycle)

    def on_testing_start(self) -> None:
        self._rec("on_testing_start")

    def on_testing_end(self) -> None:
        self._rec("on_testing_end")


class OwnerPlugin(RecordingPlugin):
    """Owns every unique override; returns a new batch object from each process_* hook."""

    declared_overrides = UniquePluginOverrides(
        training_batch=True, validation_batch=True, testing_batch=True, should_training_stop=True
    )

    def __init__(
        self,
        plug_id: str,
        log: Log,
        stop_after_cycles: int | None = None,
        stop_at_iteration: int | None = None,
    ) -> None:
        super().__init__(plug_id, log)
        self.stop_after_cycles = stop_after_cycles
        self.stop_at_iteration = stop_at_iteration
        self.cycles = 0  # validation cycles ended
        self.iteration = 0  # optimiser steps taken, as the last batch end saw them
        self.returned: dict[str, list[Any]] = {"train": [], "valid": [], "test": []}

    def _fresh(self, split: str, batch: Any) -> list[torch.Tensor]:
        out = [t.clone() for t in batch]
        self.returned[split].append(out)
        return out

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        self._rec("process_training_batch", batch, state)
        return self._fresh("train", batch)

    def process_validation_batch(self, batch: Any, step: int) -> Any:
        self._rec("process_validation_batch", batch, step)
        return self._fresh("valid", batch)

    def process_testing_batch(self, batch: Any, step: int) -> Any:
        self._rec("process_testing_batch", batch, step)
        return self._fresh("test", batch)

    def on_validation_end(self, validation_cycle: int) -> None:
        self.cycles += 1
        super().on_validation_end(validation_cycle)

    def on_training_batch_end(self, state: TrainingState) -> None:
        self.iteration = state.iteration

    def should_training_stop(self) -> bool:
        self._rec("should_training_stop")
        cycles, at = self.stop_after_cycles, self.stop_at_iteration
        return (cycles is not None and self.cycles >= cycles) or (
            at is not None and self.iteration >= at
        )


class SmallData(ToyData):
    """ToyData with ``train``/``valid``/``test`` batches of ``batch_size`` samples per split."""

    def __init__(self, train: int = 2, valid: int = 2, test: int = 2, batch_size: int = 2) -> None:
        super().__init__(size=4, batch_size=batch_size)
        self.batches = (train, valid, test)

    def setup(self) -> None:
        super().setup()
        train, valid, test = (n * self.batch_size for n in self.batches)
        self.train_dataset = ToyDataset(train)
        self.valid_dataset = ToyDataset(valid)
        self.test_dataset = ToyDataset(test)


def make_trainer(**kwargs: Any) -> Trainer:
    return Trainer(device="cpu", progress=False, **kwargs)


@pytest.fixture(autouse=True)
def _defaults_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugin's default guarded hooks record themselves on recording plug-ins."""

    def recording(hook: str) -> Callable[..., Any]:
        original = getattr(Plugin, hook)

        def call(self: Plugin, *args: Any) -> Any:
            if isinstance(self, RecordingPlugin):
                self._rec(hook, *args)
            return original(self, *args)

        return call

    for hook in GUARDED_HOOKS.values():
        monkeypatch.setattr(Plugin, hook, recording(hook))


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def plugins(log: Log) -> tuple[RecordingPlugin, OwnerPlugin]:
    return RecordingPlugin("first", log), OwnerPlugin("owner", log)


# ---------------------------------------------------------------------- expected sequences
PLUGIN_IDS = ("first", "owner")


def each(hook: str, *args: Any) -> list[Call]:
    """``hook`` on every plug-in in registration order, then on the model."""
    return [*(Call(p, hook, args) for p in PLUGIN_IDS), Call("model", hook, args)]


def attach(trainer: Trainer, model: Model) -> list[Call]:
    return [
        Call("first", "configure_trainer", (trainer,)),
        Call("owner", "configure_trainer", (trainer,)),
        Call("first", "configure_model", (model,)),
        Call("first", "setup"),
        Call("owner", "configure_model", (model,)),
        Call("owner", "setup"),
        Call("model", "setup"),
    ]


def train_batch(epoch: int, batch: int, iteration: int) -> list[Call]:
    """One training batch with an optimiser step, then the owner is asked whether to stop."""
    before, taken = At(epoch, batch, iteration), At(epoch, batch + 1, iteration)
    return [
        Call("owner", "process_training_batch", (BATCH, before)),
        Call("model", "on_training_batch_start", (before,)),
        Call("model", "train_step", (BATCH, taken)),
        Call("model", "optimizer_step", (taken,)),
        Call("model", "on_training_batch_end", (At(epoch, batch + 1, iteration + 1),)),
        Call("owner", "should_training_stop"),
    ]


def validation(cycle: int, batches: int = 2) -> list[Call]:
    steps = [
        call
        for step in range(batches)
        for call in (
            Call("owner", "process_validation_batch", (BATCH, step)),
            Call("model", "valid_step", (BATCH, step)),
        )
    ]
    return [
        Call("model", "eval"),
        *each("on_validation_start", cycle),
        *steps,
        *each("on_validation_end", cycle),
        Call("model", "train"),
        Call("owner", "should_training_stop"),
    ]


def epoch_start(epoch: int) -> Call:
    return Call("model", "on_training_epoch_start", (epoch,))


def epoch_end(epoch: int) -> Call:
    return Call("model", "on_training_epoch_end", (epoch,))


# ---------------------------------------------------------------------- exact sequences
def test_fit_epoch_unit_sequence(log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]) -> None:
    trainer = make_trainer(total=2, valid_every=1, plugins=plugins)
    model = RecordingModel(log)
    state = trainer.fit(model, SmallData(train=2, valid=2))

    assert log == [
        *attach(trainer, model),
        Call("model", "train"),
        *each("on_training_start"),
        epoch_start(0),
        *train_batch(0, 0, 0),
        *train_batch(0, 1, 1),
        epoch_end(0),
        *validation(0),
        epoch_start(1),
        *train_batch(1, 0, 2),
        *train_batch(1, 1, 3),
        epoch_end(1),
        *validation(1),
        *each("on_training_end"),
    ]
    assert (state.epoch, state.batch, state.iteration, state.global_batch) == (2, 0, 4, 4)
    assert (state.validation_cycles, state.finished, state.stopped) == (2, True, False)


def test_fit_iteration_unit_sequence(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    # 2 batches an epoch, 3 optimiser steps, validation after steps 2 (not 3: no final one).
    trainer = make_trainer(total=3, unit=TrainingUnit.ITERATION, valid_every=2, plugins=plugins)
    model = RecordingModel(log)
    state = trainer.fit(model, SmallData(train=2, valid=1))

    assert log == [
        *attach(trainer, model),
        Call("model", "train"),
        *each("on_training_start"),
        epoch_start(0),
        *train_batch(0, 0, 0),
        *train_batch(0, 1, 1),
        *validation(0, batches=1),  # after the batch has ended
        epoch_end(0),
        epoch_start(1),
        *train_batch(1, 0, 2),  # the last step stops mid-epoch: no end for epoch 1
        *each("on_training_end"),
    ]
    assert (state.epoch, state.batch, state.iteration, state.validation_cycles) == (1, 1, 3, 1)


def test_fit_without_valid_every_validates_once_at_the_end(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    trainer = make_trainer(total=2, plugins=plugins)
    model = RecordingModel(log)
    trainer.fit(model, SmallData(train=1, valid=1))

    assert log == [
        *attach(trainer, model),
        Call("model", "train"),
        *each("on_training_start"),
        epoch_start(0),
        *train_batch(0, 0, 0),
        epoch_end(0),
        epoch_start(1),
        *train_batch(1, 0, 1),
        epoch_end(1),
        *validation(0, batches=1),
        *each("on_training_end"),
    ]


def test_test_sequence(log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]) -> None:
    trainer = make_trainer(total=1, plugins=plugins)
    model = RecordingModel(log)
    trainer.test(model, SmallData(test=2))

    assert log == [
        *attach(trainer, model),
        Call("model", "eval"),
        *each("on_testing_start"),
        Call("owner", "process_testing_batch", (BATCH, 0)),
        Call("model", "test_step", (BATCH, 0)),
        Call("owner", "process_testing_batch", (BATCH, 1)),
        Call("model", "test_step", (BATCH, 1)),
        *each("on_testing_end"),
    ]


def test_iteration_total_on_an_epoch_boundary_ends_that_epoch(log: Log) -> None:
    trainer = make_trainer(total=4, unit=TrainingUnit.ITERATION)
    state = trainer.fit(RecordingModel(log), SmallData(train=2))

    assert [c.args[0] for c in log.of("model", "on_training_epoch_end")] == [0, 1]
    assert (state.epoch, state.batch) == (2, 0)


# ---------------------------------------------------------------------- ordering and owners
def _fit_and_test(log: Log, plugins: Sequence[Plugin], **kwargs: Any) -> Trainer:
    trainer = make_trainer(plugins=plugins, **kwargs)
    model = RecordingModel(log)
    data = SmallData(train=3, valid=2, test=2)
    trainer.fit(model, data)
    trainer.test(model, data)
    return trainer


PLUGIN_HOOKS = (
    "on_training_start",
    "on_training_end",
    "on_validation_start",
    "on_validation_end",
    "on_testing_start",
    "on_testing_end",
)


def test_every_plugin_hook_runs_before_the_models(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    _fit_and_test(log, plugins, total=3, unit=TrainingUnit.ITERATION, valid_every=1)

    model_calls = [i for i, c in enumerate(log) if c.who == "model" and c.hook in PLUGIN_HOOKS]
    assert len(model_calls) == 2 + 2 * 3 + 2  # training, 3 validations, testing
    for i in model_calls:
        call = log[i]
        assert log[i - 2 : i] == [Call(p, call.hook, call.args) for p in PLUGIN_IDS], call
    # Batch processing comes before anything the model does with that batch.
    for hook, step in (
        ("process_training_batch", "on_training_batch_start"),
        ("process_validation_batch", "valid_step"),
        ("process_testing_batch", "test_step"),
    ):
        for i, call in enumerate(log):
            if call.hook == hook:
                assert log[i + 1].who == "model"
                assert log[i + 1].hook == step


def test_unique_overrides_are_called_on_their_owner_only(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    _fit_and_test(log, plugins, total=2, valid_every=1)

    guarded = [c for c in log if c.hook in GUARDED_HOOKS.values()]
    assert {c.who for c in guarded} == {"owner"}
    assert len(log.hooks("process_training_batch")) == 2 * 3
    assert len(log.hooks("process_validation_batch")) == 2 * 2
    assert len(log.hooks("process_testing_batch")) == 2
    assert len(log.hooks("should_training_stop")) == 2 * 3 + 2  # every step and validation


def test_the_owners_batch_is_what_the_models_step_receives(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    trainer = make_trainer(total=2, valid_every=1, plugins=plugins)
    model, data = RecordingModel(log), SmallData(train=3, valid=2, test=2)
    fit_state = trainer.fit(model, data)
    trainer.test(model, data)
    owner = plugins[1]

    for split, process, step in (
        ("train", "process_training_batch", "train_step"),
        ("valid", "process_validation_batch", "valid_step"),
        ("test", "process_testing_batch", "test_step"),
    ):
        received = [c.raw[0] for c in log.of("model", step)]
        assert len(received) == len(owner.returned[split]) > 0
        for got, returned in zip(received, owner.returned[split], strict=True):
            assert got is returned
        # The owner got the loader's own batch (a list of tensors), never its own output.
        for call in log.of("owner", process):
            assert isinstance(call.raw[0], list)
            assert all(call.raw[0] is not r for r in owner.returned[split])

    # process_training_batch gets the trainer's live state; the others get the batch number.
    assert all(c.raw[1] is fit_state for c in log.of("owner", "process_training_batch"))
    assert [c.args[1] for c in log.of("owner", "process_validation_batch")] == [0, 1, 0, 1]
    assert [c.args[1] for c in log.of("owner", "process_testing_batch")] == [0, 1]


# ---------------------------------------------------------------------- stopping
def test_should_training_stop_is_asked_after_every_step_and_every_validation(log: Log) -> None:
    owner = OwnerPlugin("owner", log, stop_after_cycles=2)
    trainer = make_trainer(total=5, valid_every=1, plugins=[owner])
    state = trainer.fit(RecordingModel(log), SmallData(train=3, valid=2))

    asks = [i for i, c in enumerate(log) if c.hook == "should_training_stop"]
    after = [log[i - 1].hook for i in asks]
    # 3 steps, then a validation, per epoch; the second validation stops training.
    assert after == 3 * ["on_training_batch_end"] + ["train"] + 3 * ["on_training_batch_end"] + [
        "train"
    ]
    assert {log[i].who for i in asks} == {"owner"}
    assert len(log.of("model", "valid_step")) == 4
    assert len(log.of("model", "train_step")) == 6
    assert (state.epoch, state.iteration, state.validation_cycles) == (2, 6, 2)
    assert (state.stopped, state.finished) == (True, True)
    assert log[-3:] == [Call("owner", "should_training_stop"), *each("on_training_end")[1:]]


def test_should_training_stop_stops_mid_epoch_in_iteration_unit(log: Log) -> None:
    owner = OwnerPlugin("owner", log, stop_after_cycles=1)
    trainer = make_trainer(total=20, unit=TrainingUnit.ITERATION, valid_every=4, plugins=[owner])
    state = trainer.fit(RecordingModel(log), SmallData(train=3, valid=2))

    assert len(log.of("owner", "should_training_stop")) == 4 + 1  # 4 steps, 1 validation
    assert (state.epoch, state.batch, state.iteration, state.stopped) == (1, 1, 4, True)
    assert len(log.of("model", "train_step")) == 4
    # The batch that triggered the validation ended before it; epoch 1 does not end.
    assert log.of("model", "on_training_batch_end")[-1].args == (At(1, 1, 4),)
    assert [c.args for c in log.of("model", "on_training_epoch_end")] == [(0,)]


@pytest.mark.parametrize("valid", [0, 1], ids=["no-validation-set", "validation-set"])
def test_should_training_stop_stops_at_an_optimiser_step_between_validations(
    log: Log, valid: int
) -> None:
    # Epoch unit, validation every 2 epochs: nothing validates before step 4 (epoch 1, batch 1).
    owner = OwnerPlugin("owner", log, stop_at_iteration=4)
    data = SmallData(train=3, valid=valid) if valid else _NoValid()
    trainer = make_trainer(total=5, valid_every=2, plugins=[owner])
    state = trainer.fit(RecordingModel(log), data)

    assert (state.epoch, state.batch, state.iteration, state.stopped) == (
        (1, 1, 4, True) if valid else (2, 0, 4, True)  # _NoValid: 2 batches an epoch
    )
    assert len(log.of("model", "train_step")) == 4
    assert log.of("model", "on_training_batch_end")[-1].args == (
        At(1, 1, 4) if valid else At(1, 2, 4),
    )
    assert not log.hooks("on_validation_start")  # stopped before the first one was due
    assert len(log.of("owner", "should_training_stop")) == 4
    # Step 4 ends epoch 1 when it has 2 batches: a complete epoch still ends.
    ended = [epoch_end(1)] if not valid else []
    assert log[-3 - len(ended) :] == [
        Call("owner", "should_training_stop"),
        *ended,
        *each("on_training_end")[1:],
    ]


class StoppingModel(RecordingModel):
    """The model's own stop rule: stop once ``at`` optimiser steps are taken."""

    def __init__(self, log: Log, at: int) -> None:
        super().__init__(log)
        self.at = at
        self.iteration = 0

    def on_training_batch_end(self, state: TrainingState) -> None:
        super().on_training_batch_end(state)
        self.iteration = state.iteration

    def should_training_stop(self) -> bool:
        self._rec("should_training_stop")
        return self.iteration >= self.at


def test_the_models_stop_rule_is_ored_with_the_owners_and_asked_after_it(log: Log) -> None:
    owner = OwnerPlugin("owner", log, stop_at_iteration=5)
    trainer = make_trainer(total=5, plugins=[owner])
    state = trainer.fit(StoppingModel(log, at=3), SmallData(train=2, valid=1))

    assert (state.iteration, state.stopped) == (3, True)
    asks = [c.who for c in log.hooks("should_training_stop")]
    assert asks == ["owner", "model"] * 3 + ["owner", "model"]  # 3 steps, the final validation
    assert len(log.of("model", "train_step")) == 3


def test_a_true_owner_answer_is_not_asked_of_the_model(log: Log) -> None:
    owner = OwnerPlugin("owner", log, stop_at_iteration=2)
    trainer = make_trainer(total=5, plugins=[owner])
    state = trainer.fit(StoppingModel(log, at=10), SmallData(train=2, valid=1))

    assert (state.iteration, state.stopped) == (2, True)
    asks = [c.who for c in log.hooks("should_training_stop")]
    assert asks == ["owner", "model", "owner", "owner"]  # the last: the final validation's


def test_the_models_stop_rule_alone_stops_training(log: Log) -> None:
    trainer = make_trainer(total=5, unit=TrainingUnit.ITERATION, valid_every=2)
    state = trainer.fit(StoppingModel(log, at=3), SmallData(train=2, valid=1))

    assert (state.iteration, state.stopped, state.validation_cycles) == (3, True, 1)
    assert [c.who for c in log.hooks("should_training_stop")] == ["model"] * 4  # 3 steps, 1 cycle


def test_nothing_is_asked_when_nothing_can_stop(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(Model, "should_training_stop", lambda self: asked.append("model") or False)
    trainer = make_trainer(total=2, valid_every=1, plugins=[RecordingPlugin("first", log)])
    state = trainer.fit(ToyModel(), SmallData(train=2, valid=1))

    assert (state.iteration, state.validation_cycles, state.stopped) == (4, 2, False)
    # Model's own default is never called (the trainer knows it answers False): no call per step.
    assert asked == []
    assert not log.hooks("should_training_stop")


class ScriptedMetric(RecordingModel):
    """Reports ``values[cycle]`` as the metric ``score`` after each validation."""

    def __init__(self, log: Log, values: Sequence[float]) -> None:
        super().__init__(log)
        self.values = list(values)

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        self.metrics["score"] = self.values[validation_cycle]


@pytest.mark.parametrize(
    ("mode", "patience", "values", "validations", "best", "stopped"),
    [
        ("min", 2, [3.0, 2.0, 2.5, 2.1, 1.0, 0.5], 4, 2.0, True),
        ("min", 1, [3.0, 2.0, 1.0, 1.0, 0.5, 0.1], 4, 1.0, True),  # equal is no improvement
        ("max", 3, [1.0, 2.0, 1.5, 1.8, 1.9, 3.0], 5, 2.0, True),
        ("max", 2, [1.0, 2.0, 1.5, 3.0, 2.9, 2.8], 6, 3.0, True),  # runs out on the last one
        ("max", 1, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 6, 6.0, False),  # always improving
    ],
)
def test_early_stopping_stops_after_patience_validations_without_improvement(
    log: Log,
    mode: str,
    patience: int,
    values: list[float],
    validations: int,
    best: float,
    stopped: bool,
) -> None:
    trainer = make_trainer(
        total=6, valid_every=1, early_stop_metric="score", early_stop_mode=mode, patience=patience
    )
    state = trainer.fit(ScriptedMetric(log, values), SmallData(train=1, valid=1))

    assert state.validation_cycles == validations
    assert state.epoch == validations
    assert state.best_metric == best
    assert state.stopped is stopped
    assert len(log.of("model", "on_training_end")) == 1


def test_early_stopping_in_iteration_unit_counts_validations_not_steps(log: Log) -> None:
    trainer = make_trainer(
        total=50,
        unit=TrainingUnit.ITERATION,
        valid_every=3,
        early_stop_metric="score",
        patience=1,
    )
    state = trainer.fit(ScriptedMetric(log, [2.0, 1.0, 1.5, 0.0]), SmallData(train=4, valid=1))

    assert (state.validation_cycles, state.iteration, state.stopped) == (3, 9, True)
    assert (state.best_metric, state.early_stop_count) == (1.0, 1)


def test_early_stopping_on_an_unknown_metric_says_which_ones_exist(log: Log) -> None:
    trainer = make_trainer(total=2, valid_every=1, early_stop_metric="nope", patience=1)
    with pytest.raises(KeyError) as caught:
        trainer.fit(RecordingModel(log), SmallData(train=1, valid=1))
    assert caught.value.args[0] == (
        "early_stop_metric 'nope' is not in RecordingModel.metrics after validation "
        "(it has: ['valid_loss']); set it in on_validation_end"
    )


# ---------------------------------------------------------------------- configuration
def test_configure_hooks_and_setup_run_once_per_plugin_and_per_model(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    trainer = make_trainer(total=1, plugins=plugins)
    first_model, second_model = RecordingModel(log), RecordingModel(log)
    data = SmallData()
    trainer.fit(first_model, data)
    trainer.test(first_model, data)
    trainer.fit(first_model, data)
    before_second = len(log)
    trainer.test(second_model, data)
    trainer.fit(second_model, data)

    for plugin_id in PLUGIN_IDS:
        assert log.of(plugin_id, "configure_trainer") == [
            Call(plugin_id, "configure_trainer", (trainer,))
        ]
        assert log.of(plugin_id, "configure_model") == [
            Call(plugin_id, "configure_model", (first_model,)),
            Call(plugin_id, "configure_model", (second_model,)),
        ]
        assert len(log.of(plugin_id, "setup")) == 1
    # A new model is configured by every plug-in at the start of its first run.
    assert log[before_second : before_second + 3] == [
        Call("first", "configure_model", (second_model,)),
        Call("owner", "configure_model", (second_model,)),
        Call("model", "setup"),
    ]


def test_setup_sees_the_placement_and_the_trainer(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    trainer = make_trainer(total=1, plugins=plugins)
    trainer.test(RecordingModel(log), SmallData())

    for plugin in plugins:
        assert plugin.seen_in_setup == {
            "is_distributed": False,
            "map_loc": {"cuda:0": "cpu"},  # as helios-ml sets it on the CPU
            "device": torch.device("cpu"),
            "rank": 0,
            "trainer": trainer,
        }
        assert plugin.seen_in_setup["trainer"] is trainer


def test_plugin_properties_are_unset_before_a_run(log: Log) -> None:
    plugin = RecordingPlugin("lonely", log)
    make_trainer(total=1, plugins=[plugin])
    with pytest.raises(RuntimeError, match=r"^plug-in 'lonely' has no trainer yet: "):
        _ = plugin.trainer
    with pytest.raises(RuntimeError, match=r"^plug-in 'lonely' has no device yet: "):
        _ = plugin.device


def _without_set_up(calls: Sequence[Call]) -> list[Call]:
    skip = {"configure_trainer", "configure_model", "setup"}
    return [c for c in calls if c.hook not in skip]


def test_a_second_fit_after_test_trains_again_from_a_fresh_state(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    trainer = make_trainer(total=2, valid_every=1, plugins=plugins)
    model = RecordingModel(log)
    data = SmallData(train=2, valid=1, test=1)

    first = trainer.fit(model, data).to_dict()
    first_fit = list(log)
    trainer.test(model, data)
    log.clear()
    second = trainer.fit(model, data)

    assert second.to_dict() == first
    assert (second.iteration, second.validation_cycles, second.finished) == (4, 2, True)
    assert _without_set_up(log) == _without_set_up(first_fit)
    assert len(model.losses) == 2 * 4


def test_test_after_fit_uses_the_trained_weights(log: Log) -> None:
    trainer = make_trainer(total=2)
    model = RecordingModel(log)
    data = SmallData(train=2, valid=1, test=1)
    trainer.fit(model, data)
    trained = {k: v.clone() for k, v in model.network.state_dict().items()}

    trainer.test(model, data)

    tested = model.network.state_dict()
    assert all(torch.equal(tested[k], trained[k]) for k in trained)


# ---------------------------------------------------------------------- gradient accumulation
def test_accumulation_steps_the_optimiser_once_per_n_batches_and_at_epoch_end(log: Log) -> None:
    trainer = make_trainer(total=2, accumulation_steps=2)
    state = trainer.fit(RecordingModel(log), SmallData(train=5, valid=1))

    assert [c.args[0] for c in log.of("model", "optimizer_step")] == [
        At(0, 2, 0),
        At(0, 4, 1),
        At(0, 5, 2),  # the epoch's last batch flushes a partial group
        At(1, 2, 3),
        At(1, 4, 4),
        At(1, 5, 5),
    ]
    assert (state.iteration, state.global_batch) == (6, 10)
    assert len(log.of("model", "train_step")) == 10


def test_accumulation_with_iteration_unit_counts_optimiser_steps(log: Log) -> None:
    trainer = make_trainer(total=4, unit=TrainingUnit.ITERATION, accumulation_steps=2)
    state = trainer.fit(RecordingModel(log), SmallData(train=5, valid=1))

    assert [c.args[0] for c in log.of("model", "optimizer_step")] == [
        At(0, 2, 0),
        At(0, 4, 1),
        At(0, 5, 2),
        At(1, 2, 3),
    ]
    assert (state.iteration, state.global_batch) == (4, 7)


class GradientCheck(ToyModel):
    """No dropout; at each optimiser step, compares the gradient with that of the mean loss."""

    def __init__(self) -> None:
        super().__init__()
        self.group: list[Any] = []
        self.checked = 0

    def setup(self) -> None:
        self.network = nn.Sequential(nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 1))
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=0.1)

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        self.group.append(batch)
        return super().train_step(batch, state)

    def optimizer_step(self, state: TrainingState) -> None:
        params = list(self.network.parameters())
        with torch.enable_grad():
            mean = sum(nn.functional.mse_loss(self.network(x), y) for x, y in self.group)
            assert isinstance(mean, torch.Tensor)
            expected = torch.autograd.grad(mean / len(self.group), params)
        for param, grad in zip(params, expected, strict=True):
            assert param.grad is not None
            torch.testing.assert_close(param.grad, grad)
        self.checked += 1
        self.group.clear()
        super().optimizer_step(state)


def test_accumulated_gradient_is_that_of_the_mean_loss() -> None:
    model = GradientCheck()
    make_trainer(total=2, accumulation_steps=3).fit(model, SmallData(train=6, valid=1))
    assert model.checked == 4


# ---------------------------------------------------------------------- misc
class _NoValid(DataModule):
    def setup(self) -> None:
        self.train_dataset = ToyDataset(4)
        self.train_params.batch_size = 2


def test_valid_every_without_a_validation_set_skips_validation(
    log: Log, plugins: tuple[RecordingPlugin, OwnerPlugin]
) -> None:
    state = make_trainer(total=2, valid_every=1, plugins=plugins).fit(
        RecordingModel(log), _NoValid()
    )
    assert state.validation_cycles == 0
    assert not log.hooks("on_validation_start")
    assert len(log.hooks("should_training_stop")) == 4  # after each step only


def _ids(calls: Iterable[Call]) -> list[str]:
    return [f"{c.who}.{c.hook}" for c in calls]


def test_hooks_run_in_plugin_registration_order(log: Log) -> None:
    plugins = [RecordingPlugin(name, log) for name in ("c", "a", "b")]
    trainer = make_trainer(total=1, plugins=plugins[:2])
    trainer.register_plugin(plugins[2])
    assert list(trainer.plugins) == ["c", "a", "b"]
    trainer.test(RecordingModel(log), SmallData())
    assert _ids(c for c in log if c.hook == "on_testing_start") == [
        "c.on_testing_start",
        "a.on_testing_start",
        "b.on_testing_start",
        "model.on_testing_start",
    ]


def test_the_recorder_sees_a_non_owner_default_hook(log: Log) -> None:
    """Guards the harness: a default guarded hook on a non-owner would be in the log."""
    plugin = RecordingPlugin("first", log)
    batch = [torch.zeros(1)]
    assert plugin.process_training_batch(batch, TrainingState()) is batch
    assert plugin.should_training_stop() is False
    assert log == [
        Call("first", "process_training_batch", (BATCH, At(0, 0, 0))),
        Call("first", "should_training_stop"),
    ]


# ---------------------------------------------------------------------- the hook table
def _recorder(hook: Hook) -> Callable[..., Any]:
    """A method recording ``hook`` and answering as the default does (the batch, False, {})."""

    def method(self: TracingPlugin, *args: Any) -> Any:
        self.log.record(self.plugin_id, hook.name, *args)
        if hook.flag is not None and args:  # process_*_batch(batch, ...)
            return args[0]
        if hook.name == GUARDED_HOOKS["should_training_stop"]:
            return False
        return {} if hook.phase is Phase.CHECKPOINT and not args else None

    method.__name__ = hook.name
    return method


class TracingPlugin(Plugin):
    """Overrides every hook of the table (and claims every unique override): records each call."""

    declared_overrides = UniquePluginOverrides(**dict.fromkeys(GUARDED_HOOKS, True))

    def __init__(self, log: Log) -> None:
        super().__init__("tracer")
        self.log = log


for _hook in HOOKS:
    setattr(TracingPlugin, _hook.name, _recorder(_hook))
TracingPlugin.__abstractmethods__ = frozenset()


def documented_order(epochs: int, batches: int, valid_batches: int, test_batches: int) -> list[str]:
    """The hooks a plug-in overriding all of them receives in a *resumed* fit of ``epochs``
    epochs (validation and a checkpoint after each one), then a test, as docs/trainer.md
    nests them; within each block, hooks come in the order of the table."""

    def of(phase: Phase) -> list[Hook]:
        return [h for h in HOOKS if h.phase is phase]

    training = of(Phase.TRAINING)
    start, end = (h.name for h in training if not h.args and not h.per_step)
    epoch_start, epoch_end = (h.name for h in training if h.args == ("epoch",))
    per_batch = [h.name for h in training if h.per_step]  # one optimiser step per batch
    valid_start, valid_batch, valid_end = (h.name for h in of(Phase.VALIDATION))
    test_start, test_batch, test_end = (h.name for h in of(Phase.TESTING))
    load, save = (h.name for h in of(Phase.CHECKPOINT))
    stop = GUARDED_HOOKS["should_training_stop"]  # also asked after every validation

    order = [h.name for h in of(Phase.CONFIGURE)] + [load, start]
    for epoch in range(epochs):
        order += [epoch_start, *per_batch * batches, epoch_end]
        order += [valid_start, *[valid_batch] * valid_batches, valid_end, stop]
        order += [save] if epoch < epochs - 1 else []  # the last one: the final checkpoint
    order += [save, end]
    return [*order, load, test_start, *[test_batch] * test_batches, test_end]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, list[str]]:
    """One epoch trained and checkpointed, then resumed for two more epochs and tested: the
    calls the tracing plug-in received in the resumed trainer, and the documented order."""
    run_dir = tmp_path_factory.mktemp("traced")
    data = SmallData(train=2, valid=1, test=2)
    first = make_trainer(total=1, valid_every=1, run_dir=run_dir, plugins=[TracingPlugin(Log())])
    first.fit(ToyModel(), data)  # its checkpoint holds the tracer's state: the next run loads it
    log = Log()
    trainer = make_trainer(
        total=3, valid_every=1, checkpoint_every=1, run_dir=run_dir, plugins=[TracingPlugin(log)]
    )
    model = ToyModel()
    trainer.fit(model, data)
    trainer.test(model, data)
    return log, documented_order(epochs=2, batches=2, valid_batches=1, test_batches=2)


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_each_hook_fires_in_its_documented_order(hook: Hook, traced: tuple[Log, list[str]]) -> None:
    log, expected = traced
    fired = [i for i, call in enumerate(log) if call.hook == hook.name]
    assert fired, f"{hook.name} never fired"
    assert fired == [i for i, name in enumerate(expected) if name == hook.name]
    assert {len(log[i].args) for i in fired} == {len(hook.args)}
    assert {log[i].who for i in fired} == {"tracer"}


def test_the_documented_order_is_the_whole_trace(traced: tuple[Log, list[str]]) -> None:
    log, expected = traced
    assert [call.hook for call in log] == expected
    # The counters each step hook sees: epoch 1 resumed at iteration 2, then epoch 2.
    steps = [c.args for c in log if c.hook in ("on_optimizer_step_start", "on_optimizer_step_end")]
    assert steps == [
        (At(1, 1, 2),),
        (At(1, 1, 3),),
        (At(1, 2, 3),),
        (At(1, 2, 4),),
        (At(2, 1, 4),),
        (At(2, 1, 5),),
        (At(2, 2, 5),),
        (At(2, 2, 6),),
    ]
    assert [c.args for c in log if c.hook == "on_training_epoch_start"] == [(1,), (2,)]
    assert [c.args for c in log if c.hook == "on_validation_end"] == [(1,), (2,)]  # 0 was before

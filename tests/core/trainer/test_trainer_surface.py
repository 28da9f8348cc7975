"""The trainer and plug-in surface helios-ml users know: ``trainer.model``/``datamodule``/
``local_rank``, ``train_exceptions``/``test_exceptions`` and the plug-in helpers that fill them,
``configure_trainer`` registering, ``map_loc`` on the CPU, the typed plug-in surface."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
import torch

from helios.model import Model
from helios.plugins.errors import PluginConflictError, PluginIdTakenError
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer, TrainingState
from support.toy import ToyData, ToyModel


def make_trainer(**kwargs: Any) -> Trainer:
    return Trainer(total=1, device="cpu", progress=False, **kwargs)


class Plain(Plugin):
    def setup(self) -> None:
        pass


class SelfRegistering(Plain):
    """Registers itself from configure_trainer, as helios-ml's first-party plug-ins do."""

    def configure_trainer(self, trainer: Trainer) -> None:
        self._register_in_trainer(trainer)


# ---------------------------------------------------------------------- model, datamodule, ranks
class Peeking(Plain):
    """Notes what the trainer tells it at configure_trainer and setup."""

    def configure_trainer(self, trainer: Trainer) -> None:
        self.configured_with = (trainer.model, trainer.datamodule)

    def setup(self) -> None:
        self.map_loc_at_setup = self.map_loc


def test_model_and_datamodule_are_the_runs_from_before_configure_trainer() -> None:
    peeking = Peeking("peek")
    trainer = make_trainer(plugins=[peeking])
    for name in ("model", "datamodule"):
        with pytest.raises(RuntimeError, match=rf"^Trainer\.{name} is set by fit") as caught:
            getattr(trainer, name)
        assert str(caught.value) == (
            f"Trainer.{name} is set by fit(model, datamodule) or test(model, datamodule), and "
            "neither has run yet"
        )
    model, data = ToyModel(), ToyData(size=16)
    trainer.fit(model, data)
    assert trainer.model is model and trainer.datamodule is data
    assert peeking.configured_with == (model, data)
    other, other_data = ToyModel(), ToyData(size=16)
    trainer.test(other, other_data)
    assert trainer.model is other and trainer.datamodule is other_data


def test_map_loc_on_the_cpu_maps_cuda_0_to_the_cpu() -> None:
    peeking = Peeking("peek")
    model = ToyModel()
    make_trainer(plugins=[peeking]).test(model, ToyData(size=16))
    assert peeking.map_loc_at_setup == {"cuda:0": "cpu"}
    assert model.map_loc == {"cuda:0": "cpu"}
    # it is a valid map_location for torch.load
    buffer = io.BytesIO()
    torch.save(torch.ones(1), buffer)
    buffer.seek(0)
    assert torch.load(buffer, map_location=peeking.map_loc, weights_only=True).device.type == "cpu"


def test_rank_is_global_and_local_rank_is_the_device_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trainer = make_trainer()
    assert (trainer.rank, trainer.local_rank) == (0, 0)
    # the second machine of a 2 x 2 run: environment only, no process group is started
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    trainer = make_trainer()
    assert (trainer.rank, trainer.local_rank) == (3, 1)
    assert trainer.placement()["rank"] == 1  # what models and plug-ins get as their rank


# ---------------------------------------------------------------------- exceptions
class Pruned(Exception):
    pass


class Failing(ToyModel):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        raise self.error

    def test_step(self, batch: Any, step: int) -> None:
        raise self.error


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _run(trainer: Trainer, training: bool, error: BaseException) -> None:
    run = trainer.fit if training else trainer.test
    with pytest.raises(type(error)) as caught:
        run(Failing(error), ToyData(size=16))
    assert caught.value is error


@pytest.mark.parametrize("training", [True, False], ids=["fit", "test"])
def test_train_exceptions_leave_fit_quietly_and_test_exceptions_leave_test(
    caplog: pytest.LogCaptureFixture, training: bool
) -> None:
    quiet = make_trainer()
    quiet.train_exceptions = [Pruned] if training else []  # settable, as in helios-ml
    quiet.test_exceptions = [] if training else [Pruned]
    with caplog.at_level(logging.DEBUG, logger="helios"):
        _run(quiet, training, Pruned("expected"))
    assert _errors(caplog) == []

    logged = make_trainer()  # the other kind of run's list does not count
    (logged.test_exceptions if training else logged.train_exceptions).append(Pruned)
    with caplog.at_level(logging.DEBUG, logger="helios"):
        _run(logged, training, Pruned("unexpected"))
    assert _errors(caplog) == [
        "training failed at epoch 0, iteration 0" if training else "testing failed"
    ]


def test_register_exception_adds_to_both_lists_once() -> None:
    trainer = make_trainer()
    trainer.register_exception(Pruned, KeyboardInterrupt)
    trainer.register_exception(Pruned)
    assert trainer.train_exceptions == trainer.test_exceptions == [Pruned, KeyboardInterrupt]
    assert trainer.train_exceptions is not trainer.test_exceptions


def test_the_exception_lists_take_lists_of_exception_classes() -> None:
    trainer = make_trainer()
    for bad in ([Pruned("an instance")], (Pruned,), [int]):
        with pytest.raises(TypeError, match=r"^Trainer\.train_exceptions must be") as caught:
            trainer.train_exceptions = bad  # type: ignore[assignment]
        assert str(caught.value) == (
            "Trainer.train_exceptions must be a list of exception classes, e.g. "
            f"[optuna.TrialPruned], found {bad!r}"
        )
    assert trainer.train_exceptions == []


class Appending(Plain):
    """helios-ml's way: a plug-in appends its exceptions from configure_trainer."""

    def __init__(self, exc: Any) -> None:
        super().__init__(f"appending_{exc!r}")
        self.exc = exc

    def configure_trainer(self, trainer: Trainer) -> None:
        self._append_train_exceptions(self.exc, trainer)
        self._append_test_exceptions(self.exc, trainer)


def test_plugins_append_exceptions_one_or_a_list_each_once() -> None:
    trainer = make_trainer()
    Appending(RuntimeError).configure_trainer(trainer)
    assert trainer.train_exceptions == trainer.test_exceptions == [RuntimeError]
    Appending([ValueError, TypeError, RuntimeError]).configure_trainer(trainer)
    expected = [RuntimeError, ValueError, TypeError]
    assert trainer.train_exceptions == trainer.test_exceptions == expected


def test_an_appended_exception_leaves_fit_quietly(caplog: pytest.LogCaptureFixture) -> None:
    trainer = make_trainer(plugins=[Appending(Pruned)])  # configured at the start of fit
    with caplog.at_level(logging.DEBUG, logger="helios"):
        _run(trainer, True, Pruned("pruned"))
    assert _errors(caplog) == []


def test_append_refuses_what_is_not_an_exception_class() -> None:
    trainer = make_trainer()
    with pytest.raises(TypeError, match=r"^_append_train_exceptions\(\) takes") as caught:
        Appending([ValueError, Pruned("x")]).configure_trainer(trainer)
    assert str(caught.value) == (
        "_append_train_exceptions() takes an exception class or a list of them, found "
        "Pruned('x'); pass e.g. optuna.TrialPruned (the class, not an instance)"
    )
    assert trainer.train_exceptions == []  # nothing of a refused list is added


# ---------------------------------------------------------------------- registration
def test_configure_trainer_registers_once_per_instance() -> None:
    trainer = make_trainer()
    plugin = SelfRegistering("mine")
    plugin.configure_trainer(trainer)
    plugin.configure_trainer(trainer)
    assert trainer.plugins == {"mine": plugin}
    state = trainer.fit(ToyModel(), ToyData(size=16))  # configured again at the fit: no error
    assert state.finished and trainer.plugins == {"mine": plugin}


def test_another_plugin_with_the_same_id_is_a_key_error() -> None:
    trainer = make_trainer()
    first = SelfRegistering("mine")
    first.configure_trainer(trainer)
    with pytest.raises(KeyError) as caught:
        SelfRegistering("mine").configure_trainer(trainer)
    assert isinstance(caught.value, PluginIdTakenError)
    assert isinstance(caught.value, PluginConflictError)
    assert str(caught.value) == (
        "a plug-in with id 'mine' is registered already (<SelfRegistering plugin_id='mine'>); "
        "cannot also register <SelfRegistering plugin_id='mine'>: register one of them"
    )
    with pytest.raises(KeyError):
        trainer.register_plugin(Plain("mine"))
    assert trainer.plugins == {"mine": first}


def test_the_plugin_surface_is_typed_for_the_trainer() -> None:
    import typing

    import helios.plugins.plugin as module

    namespace = {**vars(module), "Trainer": Trainer, "Model": Model, "TrainingState": TrainingState}
    hints = typing.get_type_hints(Plugin.configure_trainer, namespace)
    assert hints["trainer"] is Trainer
    assert typing.get_type_hints(Plugin.configure_model, namespace)["model"] is Model
    process = typing.get_type_hints(Plugin.process_training_batch, namespace)
    assert process["state"] is TrainingState
    trainer_property = typing.get_type_hints(Plugin.trainer.fget, namespace)  # type: ignore[attr-defined]
    assert trainer_property["return"] is Trainer

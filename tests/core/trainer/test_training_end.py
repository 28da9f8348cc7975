"""An exception registered with ``register_exception`` raised by one ``on_training_end`` leaves
``fit`` after every other ``on_training_end`` (plug-ins' and the model's) has run."""

from __future__ import annotations

from pathlib import Path

import pytest

from helios import checkpoint as ckpt
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer
from support.toy import ToyData, ToyModel


class Stop(Exception):
    """What a plug-in raises at the end of training (e.g. optuna.TrialPruned)."""


class Ending(Plugin):
    def __init__(self, plugin_id: str, calls: list[str], raises: type[Exception] | None) -> None:
        super().__init__(plugin_id)
        self.calls, self.raises = calls, raises

    def setup(self) -> None:
        pass

    def on_training_end(self) -> None:
        self.calls.append(self.plugin_id)
        if self.raises is not None:
            raise self.raises(self.plugin_id)


class EndingModel(ToyModel):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def on_training_end(self) -> None:
        self.calls.append("model")


def test_the_first_registered_exception_leaves_fit_after_the_checkpoint(tmp_path: Path) -> None:
    calls: list[str] = []
    plugins = [Ending(f"p{i}", calls, r) for i, r in enumerate([Stop, None, Stop])]
    trainer = Trainer(total=1, run_dir=tmp_path, progress=False, plugins=plugins)
    trainer.register_exception(Stop)
    with pytest.raises(Stop) as caught:
        trainer.fit(EndingModel(calls), ToyData())
    assert str(caught.value) == "p0"  # the first one raised
    assert calls == ["p0", "p1", "p2", "model"]
    (path,) = ckpt.list_checkpoints(tmp_path, "toy")
    assert ckpt.load_checkpoint(path)["state"]["finished"]  # saved before on_training_end


def test_every_training_end_ran_before_the_registered_exception() -> None:
    calls: list[str] = []
    plugins = [Ending("p0", calls, Stop), Ending("p1", calls, None)]
    trainer = Trainer(total=1, progress=False, plugins=plugins)
    trainer.register_exception(Stop)
    with pytest.raises(Stop):
        trainer.fit(EndingModel(calls), ToyData())
    assert calls == ["p0", "p1", "model"]


def test_an_unregistered_exception_stops_at_once() -> None:
    calls: list[str] = []
    plugins = [Ending("p0", calls, Stop), Ending("p1", calls, None)]
    trainer = Trainer(total=1, progress=False, plugins=plugins)
    with pytest.raises(Stop):
        trainer.fit(EndingModel(calls), ToyData())
    assert calls == ["p0"]

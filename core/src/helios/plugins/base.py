"""The plug-in base class :class:`Plugin` and its :class:`UniquePluginOverrides`.

The documented module is :mod:`helios.plugins.plugin`, which hands these on with the registry.
They live here, below the plug-in host, so that the host's checks can use them while the
registry faces sit above the host. No torch at import time; torch and trainer types appear
in annotations only.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from helios.plugins.hooks import GUARDED_HOOKS

if TYPE_CHECKING:
    import torch

    from helios.model import Model
    from helios.trainer import Trainer, TrainingState

__all__ = ["Plugin", "UniquePluginOverrides", "overridden_hooks"]


@dataclass
class UniquePluginOverrides:
    """Flags for the actions that at most one plug-in of a trainer may perform.

    Two plug-ins processing the same batch, or both deciding when training stops, would
    give undefined behaviour; the loader and the trainer refuse such a pair.
    """

    training_batch: bool = False
    validation_batch: bool = False
    testing_batch: bool = False
    should_training_stop: bool = False

    def claimed(self) -> frozenset[str]:
        """The names of the flags that are set."""
        return frozenset(f.name for f in dataclasses.fields(self) if getattr(self, f.name))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every flag name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


class Plugin(abc.ABC):
    """Base class of plug-ins that extend the Helios trainer.

    A plug-in's hooks run *before* the model's. A plug-in claims its unique overrides in the
    class attribute ``declared_overrides``; each instance gets its own copy as
    :attr:`unique_overrides`. A plug-in shipped as a distribution also sets ``plugin_id`` on
    the class so the loader can verify it against its manifest without instantiating it.

    :param plug_id: the name under which the trainer registers the plug-in; defaults to the
        class attribute ``plugin_id``.
    """

    plugin_id: str
    declared_overrides: ClassVar[UniquePluginOverrides] = UniquePluginOverrides()

    def __init__(self, plug_id: str | None = None) -> None:
        if plug_id is None:
            plug_id = getattr(type(self), "plugin_id", None)
            if plug_id is None:
                raise TypeError(
                    f"{type(self).__name__}() needs a plug-in id: pass it as "
                    f"{type(self).__name__}(plug_id=...) or set the class attribute plugin_id"
                )
        if not isinstance(plug_id, str) or not plug_id:
            raise TypeError(
                f"plug_id must be a non-empty string such as 'my_plugin', found {plug_id!r}"
            )
        self.plugin_id = plug_id
        self._overrides = dataclasses.replace(type(self).declared_overrides)
        self._is_distributed = False
        self._map_loc: str | dict[str, str] = ""
        self._device: torch.device | None = None
        self._rank = 0
        self._trainer: Trainer | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} plugin_id={self.plugin_id!r}>"

    @property
    def _plug_id(self) -> str:
        """The plug-in's id under helios-ml's attribute name: the same as :attr:`plugin_id`."""
        return self.plugin_id

    @_plug_id.setter
    def _plug_id(self, value: str) -> None:
        self.plugin_id = value

    @property
    def unique_overrides(self) -> UniquePluginOverrides:
        """The set of unique overrides the plug-in uses."""
        return self._overrides

    @property
    def is_distributed(self) -> bool:
        """Whether distributed training is being used."""
        return self._is_distributed

    @is_distributed.setter
    def is_distributed(self, value: bool) -> None:
        self._is_distributed = value

    @property
    def map_loc(self) -> str | dict[str, str]:
        """The location to map loaded weights from a checkpoint or pre-trained file."""
        return self._map_loc

    @map_loc.setter
    def map_loc(self, value: str | dict[str, str]) -> None:
        self._map_loc = value

    @property
    def device(self) -> torch.device:
        """The device on which the plug-in is running (set by the trainer before setup)."""
        if self._device is None:
            raise RuntimeError(self._unattached("device"))
        return self._device

    @device.setter
    def device(self, value: torch.device) -> None:
        self._device = value

    @property
    def rank(self) -> int:
        """The local rank (device index on its machine) that the plug-in is running on.

        This is ``Trainer.local_rank``, not the global ``Trainer.rank``: on the second machine
        of a two-machine run the first process has rank 0 here and a global rank of, say, 8.
        Ask ``self.trainer.rank`` for the global rank (e.g. to act once per run on rank 0).
        """
        return self._rank

    @rank.setter
    def rank(self, value: int) -> None:
        self._rank = value

    @property
    def trainer(self) -> Trainer:
        """The trainer this plug-in is attached to (set by the trainer before setup)."""
        if self._trainer is None:
            raise RuntimeError(self._unattached("trainer"))
        return self._trainer

    @trainer.setter
    def trainer(self, value: Trainer) -> None:
        self._trainer = value

    def _unattached(self, what: str) -> str:
        return (
            f"plug-in {self.plugin_id!r} has no {what} yet: the trainer assigns it when fit() or "
            "test() starts, before setup(); register the plug-in with a Trainer and call fit() "
            "or test() first"
        )

    def configure_trainer(self, trainer: Trainer) -> None:  # noqa: B027 - optional hook
        """Configure the trainer before training or testing (e.g. register exceptions).

        A plug-in that should register itself when a script calls
        ``plugin.configure_trainer(trainer)`` (as ``CUDAPlugin`` and ``OptunaPlugin`` do)
        calls :meth:`_register_in_trainer` here.
        """

    def configure_model(self, model: Model) -> None:  # noqa: B027 - optional hook
        """Configure the model before training or testing (e.g. change its save name)."""

    @abc.abstractmethod
    def setup(self) -> None:
        """Construct all required state for the plug-in."""

    def on_training_start(self) -> None:  # noqa: B027 - optional hook
        """Perform any necessary actions when training starts."""

    def on_training_epoch_start(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called at the start of each epoch (from 0), before the model's hook.

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def process_training_batch(self, batch: Any, state: TrainingState) -> Any:
        """Process the training batch before the model's ``train_step``."""
        return batch

    def on_training_batch_start(self, state: TrainingState) -> None:  # noqa: B027 - optional hook
        """Called for each training batch, after ``process_training_batch`` and before the
        model's hook and ``train_step``; ``state`` is the trainer's live training state.

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def on_optimizer_step_start(self, state: TrainingState) -> None:  # noqa: B027 - optional hook
        """Called at each optimiser step with the gradients ready, before the model's
        ``optimizer_step`` (e.g. to inspect or clip gradients).

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def on_optimizer_step_end(self, state: TrainingState) -> None:  # noqa: B027 - optional hook
        """Called at each optimiser step after the model's ``optimizer_step``: the weights are
        updated and ``state.iteration`` counts this step (e.g. to update an average of the
        weights).

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def on_training_batch_end(self, state: TrainingState) -> None:  # noqa: B027 - optional hook
        """Called after each training batch (and its optimiser step, if one was due), before
        the model's hook.

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def on_training_epoch_end(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called when the batches of an epoch are all done, before the model's hook.

        A shared hook: every registered plug-in receives it, in registration order.
        """

    def on_training_end(self) -> None:  # noqa: B027 - optional hook
        """Perform any necessary actions when training ends."""

    def on_validation_start(self, validation_cycle: int) -> None:  # noqa: B027 - optional hook
        """Perform any necessary actions when validation starts."""

    def process_validation_batch(self, batch: Any, step: int) -> Any:
        """Process the validation batch before the model's ``valid_step``."""
        return batch

    def on_validation_end(self, validation_cycle: int) -> None:  # noqa: B027 - optional hook
        """Perform any necessary actions when validation ends."""

    def should_training_stop(self) -> bool:
        """Return True to stop training; False lets it continue."""
        return False

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore the plug-in's state from a checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        """The plug-in's state to save in checkpoints."""
        return {}

    def on_testing_start(self) -> None:  # noqa: B027 - optional hook
        """Perform any actions when testing starts."""

    def process_testing_batch(self, batch: Any, step: int) -> Any:
        """Process the testing batch before the model's ``test_step``."""
        return batch

    def on_testing_end(self) -> None:  # noqa: B027 - optional hook
        """Perform any necessary actions when testing ends."""

    # ------------------------------------------------------------------ helpers for subclasses
    def _register_in_trainer(self, trainer: Trainer) -> None:
        """Register this plug-in in ``trainer`` under its id, with the trainer's checks.

        Registering the same instance again does nothing, so ``configure_trainer`` may call it
        every time it runs.

        :raises PluginIdTakenError: (a :class:`KeyError`) when another plug-in holds the id.
        """
        trainer.register_plugin(self)

    def _append_train_exceptions(
        self,
        exc: type[BaseException] | Iterable[type[BaseException]],
        trainer: Trainer,
    ) -> None:
        """Let ``exc`` (one exception class or several) leave ``trainer.fit`` without the error
        log; a class listed already is not added twice."""
        _append_exceptions(exc, trainer.train_exceptions, "_append_train_exceptions")

    def _append_test_exceptions(
        self,
        exc: type[BaseException] | Iterable[type[BaseException]],
        trainer: Trainer,
    ) -> None:
        """Let ``exc`` (one exception class or several) leave ``trainer.test`` without the error
        log; a class listed already is not added twice."""
        _append_exceptions(exc, trainer.test_exceptions, "_append_test_exceptions")


def _append_exceptions(
    exc: type[BaseException] | Iterable[type[BaseException]],
    into: list[type[BaseException]],
    caller: str,
) -> None:
    """Add each exception class of ``exc`` to ``into`` once; anything else is a TypeError."""
    classes: list[object] = [exc]
    if isinstance(exc, Iterable) and not isinstance(exc, (type, str, bytes)):
        classes = list(exc)
    checked: list[type[BaseException]] = []
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(
                f"{caller}() takes an exception class or a list of them, found {cls!r}; pass "
                "e.g. optuna.TrialPruned (the class, not an instance)"
            )
        checked.append(cls)
    for cls in checked:
        if cls not in into:
            into.append(cls)


def overridden_hooks(cls: type[Plugin]) -> frozenset[str]:
    """The override flags whose guarded hook ``cls`` (or a base below Plugin) redefines."""
    return frozenset(
        flag
        for flag, hook in GUARDED_HOOKS.items()
        if getattr(cls, hook, None) is not getattr(Plugin, hook)
    )

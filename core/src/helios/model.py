"""The :class:`Model` users subclass: networks, optimiser, steps, hooks and state."""

from __future__ import annotations

import abc
import contextlib
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from helios.trainer import Trainer, TrainingState

__all__ = ["Model"]

_NO_OP = contextlib.nullcontext()  # reusable: the per-step path allocates nothing


class Model(abc.ABC):
    """A trainable model as the trainer drives it.

    :meth:`setup` builds ``self.network`` (an ``nn.Module``) and ``self.optimizer``; the trainer
    moves the network to the device and, when distributed, wraps it in
    ``DistributedDataParallel``. :meth:`train_step` returns the loss; the trainer calls
    ``backward`` (scaled for gradient accumulation) and :meth:`optimizer_step` on boundaries.
    Validation fills :attr:`metrics`, which early stopping and plug-ins read.

    :param save_name: the stem of this model's checkpoint files.
    """

    network: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def __init__(self, save_name: str) -> None:
        self.save_name = save_name
        self.metrics: dict[str, float] = {}
        self.is_distributed = False
        self.rank = 0
        self.device = torch.device("cpu")
        self.map_loc: str | dict[str, str] = "cpu"
        self.trainer: Trainer | None = None

    @property
    def module(self) -> nn.Module:
        """The network without its DistributedDataParallel wrapper."""
        network = self.network
        return (
            network.module if isinstance(network, nn.parallel.DistributedDataParallel) else network
        )

    @abc.abstractmethod
    def setup(self) -> None:
        """Build ``self.network`` and ``self.optimizer`` (and optionally ``self.scheduler``)."""

    @abc.abstractmethod
    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        """Compute and return the loss of one batch (the trainer calls backward)."""

    def optimizer_step(self, state: TrainingState) -> None:
        """Apply the accumulated gradients; called once per ``accumulation_steps`` batches."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()

    def valid_step(self, batch: Any, step: int) -> None:  # noqa: B027 - optional hook
        """Evaluate one validation batch; accumulate into :attr:`metrics` in the hooks."""

    def test_step(self, batch: Any, step: int) -> None:  # noqa: B027 - optional hook
        """Evaluate one testing batch."""

    def train(self) -> None:
        """Put the network in training mode (called by the trainer)."""
        self.network.train()

    def eval(self) -> None:
        """Put the network in evaluation mode (called by the trainer)."""
        self.network.eval()

    def no_sync(self, skip: bool) -> contextlib.AbstractContextManager[Any]:
        """Skip DDP's gradient all-reduce while accumulating (``skip`` true); else a no-op."""
        network = self.network
        if skip and isinstance(network, nn.parallel.DistributedDataParallel):
            return network.no_sync()
        return _NO_OP

    def on_training_start(self) -> None:  # noqa: B027 - optional hook
        """Called once when training starts (after plug-ins' ``on_training_start``)."""

    def on_training_epoch_start(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called at the start of each epoch."""

    def on_training_batch_start(self, state: TrainingState) -> None:  # noqa: B027
        """Called before each training batch."""

    def on_training_batch_end(self, state: TrainingState) -> None:  # noqa: B027
        """Called after each training batch."""

    def on_training_epoch_end(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called at the end of each epoch."""

    def on_training_end(self) -> None:  # noqa: B027 - optional hook
        """Called once when training ends."""

    def should_training_stop(self) -> bool:
        """Return True to stop training; asked after every optimiser step and every validation.

        It is ORed with the ``should_training_stop`` of the plug-in that owns that override,
        which is asked first. The trainer asks only when one of them is defined, so the
        default costs nothing per step. In a distributed run, True on any rank stops every rank
        at the same step.
        """
        return False

    def on_validation_start(self, validation_cycle: int) -> None:  # noqa: B027
        """Called before a validation cycle (reset running metrics here)."""

    def on_validation_end(self, validation_cycle: int) -> None:  # noqa: B027
        """Called after a validation cycle (finalise :attr:`metrics` here)."""

    def on_testing_start(self) -> None:  # noqa: B027 - optional hook
        """Called before testing."""

    def on_testing_end(self) -> None:  # noqa: B027 - optional hook
        """Called after testing."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint stores: network, optimiser and scheduler states."""
        state: dict[str, Any] = {
            "network": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.module.load_state_dict(state_dict["network"])
        self.optimizer.load_state_dict(state_dict["optimizer"])
        if self.scheduler is not None and "scheduler" in state_dict:
            self.scheduler.load_state_dict(state_dict["scheduler"])

"""The :class:`Model` users subclass: networks, optimiser, steps, hooks and state."""

from __future__ import annotations

import abc
import contextlib
import inspect
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

if TYPE_CHECKING:
    from helios.trainer import Trainer, TrainingState

__all__ = ["MissingMetricError", "Model"]

#: When the trainer steps ``Model.scheduler``: after each optimiser step, or after each
#: validation cycle (with ``Model.scheduler_metric``, if the scheduler follows a metric).
SCHEDULER_INTERVALS = ("step", "validation")


class MissingMetricError(KeyError):
    """A metric named in the settings is not in ``model.metrics`` after validation.

    A :class:`KeyError` whose text reads as written (not quoted, as a plain one's is).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_NO_OP = contextlib.nullcontext()  # reusable: the per-step path allocates nothing


class Model(abc.ABC):
    """A trainable model as the trainer drives it.

    :meth:`setup` builds ``self.network`` (an ``nn.Module``) and ``self.optimizer``; the trainer
    moves the network to the device and, when distributed, wraps it in
    ``DistributedDataParallel``. :meth:`train_step` returns the loss; the trainer calls
    ``backward`` (scaled for gradient accumulation) and :meth:`optimizer_step` on boundaries.
    Validation fills :attr:`metrics`, which early stopping and plug-ins read.

    A ``scheduler`` set in :meth:`setup` is stepped after every optimiser step by default.
    With ``scheduler_interval = "validation"`` it is stepped after every validation cycle
    instead, and with ``scheduler_metric`` set it is given that metric of :attr:`metrics`, as
    ``ReduceLROnPlateau`` needs. ``fit`` checks these settings before the first step.

    :param save_name: the stem of this model's checkpoint files.
    """

    network: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    #: "step" (after each optimiser step) or "validation" (after each validation cycle).
    scheduler_interval: str = "step"
    #: With ``scheduler_interval = "validation"``: the key of :attr:`metrics` passed to
    #: ``scheduler.step(value)``; None steps it with no argument.
    scheduler_metric: str | None = None

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
        """Apply the accumulated gradients; called once per ``accumulation_steps`` batches.

        Steps :attr:`scheduler` too, unless ``scheduler_interval`` is "validation".
        """
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()

    def step_scheduler_after_validation(self) -> None:
        """Step :attr:`scheduler` after a validation cycle, when ``scheduler_interval`` is
        "validation"; the trainer calls it right after the model's ``on_validation_end``.

        With ``scheduler_metric`` set, the scheduler gets ``metrics[scheduler_metric]``; in a
        distributed run every rank gets rank 0's value, so the learning rates stay equal.

        :raises MissingMetricError: when the metric is not in :attr:`metrics`.
        """
        scheduler = self.scheduler
        if scheduler is None or self.scheduler_interval != "validation":
            return
        name = self.scheduler_metric
        if name is None:
            scheduler.step()
            return
        if name not in self.metrics:
            raise MissingMetricError(
                f"scheduler_metric {name!r} is not in {type(self).__name__}.metrics after "
                f"validation (it has: {', '.join(sorted(self.metrics)) or 'nothing'}); set "
                f"metrics[{name!r}] in on_validation_end, or change scheduler_metric"
            )
        value = float(self.metrics[name])
        if self.is_distributed and dist.is_initialized():
            shared = torch.tensor([value], dtype=torch.float64, device=self.device)
            dist.broadcast(shared, src=0)
            value = float(shared.item())
        step: Any = scheduler.step  # LRScheduler's stub takes an epoch; this one a metric
        step(value)

    def check_scheduler(self, *, validates: bool) -> None:
        """Refuse scheduler settings that could not work, before the first step (``fit``
        calls it after :meth:`setup`); ``validates`` says whether validation cycles run."""
        owner = type(self).__name__
        interval, metric = self.scheduler_interval, self.scheduler_metric
        if interval not in SCHEDULER_INTERVALS:
            raise ValueError(
                f"{owner}.scheduler_interval must be 'step' (after each optimiser step) or "
                f"'validation' (after each validation cycle), found {interval!r}"
            )
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise ValueError(
                f"{owner}.scheduler_metric must be a key of metrics such as 'valid_loss', or "
                f"None, found {metric!r}"
            )
        scheduler = self.scheduler
        if scheduler is None:
            return
        kind = type(scheduler).__name__
        follows_metric = _takes_metric(scheduler)
        if interval == "step" and follows_metric:
            raise ValueError(
                f"{owner}.scheduler is a {kind}, whose step() needs a metric, and "
                "scheduler_interval is 'step'; set scheduler_interval = 'validation' and "
                "scheduler_metric to the key of metrics it follows (e.g. 'valid_loss')"
            )
        if interval == "step" and metric is not None:
            raise ValueError(
                f"{owner}.scheduler_metric is {metric!r}, which is only read with "
                "scheduler_interval = 'validation' (found 'step'); set scheduler_interval = "
                "'validation', or scheduler_metric = None"
            )
        if interval == "validation" and not validates:
            raise ValueError(
                f"{owner}.scheduler_interval is 'validation', but the data module has no "
                "valid_dataset, so the scheduler would never step; set a valid_dataset in "
                "its setup(), or scheduler_interval = 'step'"
            )
        if interval == "validation" and follows_metric and metric is None:
            raise ValueError(
                f"{owner}.scheduler is a {kind}, whose step() needs a metric; set "
                "scheduler_metric to the key of metrics it follows (e.g. 'valid_loss')"
            )
        if interval == "validation" and not follows_metric and metric is not None:
            raise ValueError(
                f"{owner}.scheduler is a {kind}, whose step() takes no metric, and "
                f"scheduler_metric is {metric!r}; set scheduler_metric = None to step it once "
                "per validation cycle, or use a scheduler that follows a metric, such as "
                "ReduceLROnPlateau"
            )

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


def _takes_metric(scheduler: object) -> bool:
    """Whether ``scheduler.step`` has a required argument (the metric), as
    ``ReduceLROnPlateau.step(metrics)`` has; ``LRScheduler.step(epoch=None)`` has none."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return True
    try:
        parameters = inspect.signature(scheduler.step).parameters.values()  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is p.empty for p in parameters)

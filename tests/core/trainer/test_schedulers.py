"""Learning-rate schedulers stepped per optimiser step or per validation cycle (with a metric),
their checks before the first step, and exact resume with them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau, StepLR

from helios.distributed import spawn
from helios.model import MissingMetricError
from helios.trainer import Trainer, TrainingState
from support.crash_resume import assert_same, run
from support.toy import ToyData, ToyModel

MakeScheduler = Callable[[torch.optim.Optimizer], Any]


class Scheduled(ToyModel):
    """The toy model with a scheduler; records the learning rate after every batch."""

    def __init__(
        self,
        make_scheduler: MakeScheduler,
        interval: str = "step",
        metric: str | None = None,
        fixed_metric: float | None = None,
    ) -> None:
        super().__init__()
        self.make_scheduler, self.fixed_metric = make_scheduler, fixed_metric
        self.scheduler_interval, self.scheduler_metric = interval, metric
        self.lrs: list[float] = []

    def setup(self) -> None:
        super().setup()
        self.scheduler = self.make_scheduler(self.optimizer)

    def on_validation_end(self, validation_cycle: int) -> None:
        super().on_validation_end(validation_cycle)
        if self.fixed_metric is not None:  # never improves: a plateau from the second cycle
            self.metrics["valid_loss"] = self.fixed_metric

    def on_training_batch_end(self, state: TrainingState) -> None:
        self.lrs.append(self.optimizer.param_groups[0]["lr"])


def halving(optimizer: torch.optim.Optimizer) -> StepLR:
    return StepLR(optimizer, step_size=1, gamma=0.5)


def plateau(optimizer: torch.optim.Optimizer) -> ReduceLROnPlateau:
    return ReduceLROnPlateau(optimizer, factor=0.5, patience=0)


def fit(model: Scheduled, data: ToyData | None = None, **kwargs: Any) -> None:
    settings: dict[str, Any] = {"total": 4, "unit": "iteration", "valid_every": 2}
    settings.update(kwargs)
    Trainer(device="cpu", progress=False, **settings).fit(model, data or ToyData(size=32))


def test_by_default_the_scheduler_steps_after_every_optimiser_step() -> None:
    model = Scheduled(halving)
    fit(model)
    assert model.lrs == [0.025, 0.0125, 0.00625, 0.003125]


def test_interval_validation_steps_after_each_validation_cycle_only() -> None:
    model = Scheduled(halving, interval="validation")
    fit(model)  # validation after steps 2 and 4, after that batch's on_training_batch_end
    assert model.lrs == [0.05, 0.05, 0.025, 0.025]


def test_reduce_on_plateau_follows_the_metric_after_each_validation() -> None:
    model = Scheduled(plateau, interval="validation", metric="valid_loss", fixed_metric=1.0)
    fit(model, valid_every=1)
    # cycle 0 sets the best value; each later cycle without improvement halves the rate, seen
    # at the next batch's end (validation runs after on_training_batch_end)
    assert model.lrs == [0.05, 0.05, 0.025, 0.0125]
    assert isinstance(model.scheduler, ReduceLROnPlateau)
    assert model.scheduler.best == 1.0


def test_a_metric_missing_after_validation_names_it_and_what_metrics_has() -> None:
    model = Scheduled(plateau, interval="validation", metric="accuracy")
    with pytest.raises(MissingMetricError) as caught:
        fit(model)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == (
        "scheduler_metric 'accuracy' is not in Scheduled.metrics after validation (it has: "
        "valid_loss); set metrics['accuracy'] in on_validation_end, or change scheduler_metric"
    )
    assert model.lrs == [0.05, 0.05]  # the first cycle, after batch 2 ended, raised


def _lambda(optimizer: torch.optim.Optimizer) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: 1.0)


class NeedsMetric:
    """A scheduler of one's own whose step takes the metric."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.seen: list[float] = []

    def step(self, value: float) -> None:
        self.seen.append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}


REFUSED = {
    "plateau stepped per optimiser step": (
        plateau, "step", None, True,
        "Scheduled.scheduler is a ReduceLROnPlateau, whose step() needs a metric, and "
        "scheduler_interval is 'step'; set scheduler_interval = 'validation' and "
        "scheduler_metric to the key of metrics it follows (e.g. 'valid_loss')",
    ),
    "own scheduler that needs a metric, per step": (
        NeedsMetric, "step", None, True,
        "Scheduled.scheduler is a NeedsMetric, whose step() needs a metric, and "
        "scheduler_interval is 'step'; set scheduler_interval = 'validation' and "
        "scheduler_metric to the key of metrics it follows (e.g. 'valid_loss')",
    ),
    "a metric with interval step": (
        halving, "step", "valid_loss", True,
        "Scheduled.scheduler_metric is 'valid_loss', which is only read with "
        "scheduler_interval = 'validation' (found 'step'); set scheduler_interval = "
        "'validation', or scheduler_metric = None",
    ),
    "per validation without validation data": (
        halving, "validation", None, False,
        "Scheduled.scheduler_interval is 'validation', but the data module has no "
        "valid_dataset, so the scheduler would never step; set a valid_dataset in its "
        "setup(), or scheduler_interval = 'step'",
    ),
    "plateau without a metric": (
        plateau, "validation", None, True,
        "Scheduled.scheduler is a ReduceLROnPlateau, whose step() needs a metric; set "
        "scheduler_metric to the key of metrics it follows (e.g. 'valid_loss')",
    ),
    "a metric for a scheduler that takes none": (
        _lambda, "validation", "valid_loss", True,
        "Scheduled.scheduler is a LambdaLR, whose step() takes no metric, and "
        "scheduler_metric is 'valid_loss'; set scheduler_metric = None to step it once per "
        "validation cycle, or use a scheduler that follows a metric, such as "
        "ReduceLROnPlateau",
    ),
    "an unknown interval": (
        halving, "epoch", None, True,
        "Scheduled.scheduler_interval must be 'step' (after each optimiser step) or "
        "'validation' (after each validation cycle), found 'epoch'",
    ),
    "an empty metric name": (
        plateau, "validation", "", True,
        "Scheduled.scheduler_metric must be a key of metrics such as 'valid_loss', or None, "
        "found ''",
    ),
}  # fmt: skip


class NoValidation(ToyData):
    def setup(self) -> None:
        super().setup()
        self.valid_dataset = None


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_settings_that_cannot_work_are_refused_before_the_first_step(
    case: tuple[MakeScheduler, str, str | None, bool, str],
) -> None:
    make, interval, metric, validates, message = case
    model = Scheduled(make, interval=interval, metric=metric)
    data = ToyData(size=32) if validates else NoValidation(size=32)
    with pytest.raises(ValueError, match=re.escape(message[:40])) as caught:
        fit(model, data, valid_every=None)
    assert str(caught.value) == message
    assert model.losses == []


def test_own_scheduler_with_a_metric_gets_the_value_per_validation() -> None:
    model = Scheduled(NeedsMetric, interval="validation", metric="valid_loss", fixed_metric=0.5)
    fit(model, total=3, valid_every=1)
    assert isinstance(model.scheduler, NeedsMetric)
    assert model.scheduler.seen == [0.5, 0.5, 0.5]


def test_testing_alone_does_not_check_the_scheduler() -> None:
    model = Scheduled(plateau, interval="step")  # would be refused by fit
    Trainer(total=1, device="cpu", progress=False).test(model, NoValidation(size=32))


def test_resume_with_a_scheduler_stepped_per_validation_is_exact(tmp_path: Path) -> None:
    def make_model() -> Scheduled:
        return Scheduled(
            lambda o: ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.3),
            interval="validation",
            metric="valid_loss",
        )

    def make_data() -> ToyData:
        return ToyData(size=64, batch_size=8)  # 8 batches an epoch

    settings = {"total": 14, "unit": "iteration", "valid_every": 1, "checkpoint_every": 3}
    straight = run(tmp_path / "straight", make_model, make_data, **settings)
    resumed = run(tmp_path / "resumed", make_model, make_data, crash_at=11, **settings)
    assert_same(resumed, straight)
    # the test means something: the rate fell before the stop and again after the resume
    lrs = [straight.lrs[batch] for batch in sorted(straight.lrs)]
    assert lrs[0] > lrs[8] > lrs[-1]


# ---------------------------------------------------------------------- distributed
def test_in_ddp_every_rank_steps_with_rank_0s_metric(tmp_path: Path) -> None:
    from support.ddp_features import plateau_rank

    spawn(plateau_rank, 2, args=(str(tmp_path),))
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # rank 0's metric never improves (the rate halves from cycle 1 on, seen at the next
    # batch's end); rank 1's always does
    assert seen[0] == seen[1] == {"lrs": [0.05, 0.05, 0.025, 0.0125]}

"""A pruned DDP trial started by helios.distributed.spawn: the ranks return from fit, and the
process that asked the trial sees optuna.TrialPruned through check_pruned (real gloo ranks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from optuna_job import METRIC

from helios_optuna import OptunaPlugin
from helios_optuna.plugin import PRUNED_ATTR


def test_the_parent_of_pruned_ddp_ranks_sees_trial_pruned(
    tmp_path: Path,
    storage_url: str,
    run_job: Callable[..., Any],
    evidence: Callable[..., dict[str, Any]],
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="ddp")
    trial = study.ask()
    plugin = OptunaPlugin(trial, METRIC)  # the parent's: it trains nothing itself
    proc = run_job(
        tmp_path,
        storage=storage_url,
        study="ddp",
        trial=trial.number,
        world_size=2,
        total=4,
        tell=False,  # the ranks leave the trial RUNNING: only the mark tells the parent
        prune={"cycle": 1, "numbers": [trial.number]},
    )
    assert proc.returncode == 0, proc.stderr
    rank0 = evidence(tmp_path, 0)
    assert rank0["pruned"] and evidence(tmp_path, 1)["pruned"]
    with pytest.raises(optuna.TrialPruned) as caught:
        plugin.check_pruned()
    value = dict(rank0["cycle_metrics"])[1]
    assert str(caught.value) == f"trial 0 was pruned after validation cycle 1 ({METRIC}={value!r})"
    stored = optuna.load_study(study_name="ddp", storage=storage_url).trials[0]
    assert stored.state is TrialState.RUNNING
    assert stored.user_attrs[PRUNED_ATTR] == {
        "validation_cycle": 1,
        "metric": METRIC,
        "value": value,
    }

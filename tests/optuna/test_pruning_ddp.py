"""A pruned DDP trial started by helios.distributed.spawn (real gloo ranks): every rank's fit
raises optuna.TrialPruned, spawn raises it in the driver, so a driver that forgets
check_pruned() still records the trial PRUNED; check_pruned() also answers in the driver from
the mark rank 0 leaves in the storage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from optuna_job import METRIC

from helios.distributed import spawn
from helios_optuna import OptunaPlugin
from helios_optuna.plugin import PRUNED_ATTR


def test_a_driver_that_forgets_check_pruned_still_records_the_ddp_trial_pruned(
    tmp_path: Path, storage_url: str, evidence: Callable[..., dict[str, Any]]
) -> None:
    from optuna_job import run_rank

    study = optuna.create_study(storage=storage_url, study_name="ddp")
    config = {"run_dir": str(tmp_path), "storage": storage_url, "study": "ddp", "total": 4}
    config |= {"tell": False, "forgetful": True, "prune": {"cycle": 1, "numbers": [0]}}

    def objective(trial: optuna.trial.Trial) -> float:  # no check_pruned(), no except
        spawn(run_rank, 2, args=({**config, "trial": trial.number},))
        raise AssertionError("spawn returned: the ranks' TrialPruned did not reach the driver")

    study.optimize(objective, n_trials=1)

    stored = study.trials[0]
    assert stored.state is TrialState.PRUNED
    rank0, rank1 = evidence(tmp_path, 0), evidence(tmp_path, 1)
    assert stored.intermediate_values == dict(rank0["cycle_metrics"])
    for rank in (rank0, rank1):  # every rank raised it from fit, after the whole ending
        assert rank["pruned"] and rank["state"]["stopped"]
        assert [c for c, _ in rank["cycle_metrics"]] == [0, 1]
        # The final checkpoint (global batch 8: 2 epochs of 4 batches a rank) was written
        # before the model's on_training_end ran, and it is the last one.
        files = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pth"))
        assert files[-1] == "toy_ddp_trial-0_step000000008.pth"
        assert [name for name in rank["ended_with"] if name.endswith(".pth")] == files


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

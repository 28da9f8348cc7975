"""A trial whose process is SIGKILLed resumes under the same trial, from its checkpoint."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState


def test_a_killed_trial_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path: Path,
    storage_url: str,
    run_job: Callable[..., Any],
    evidence: Callable[..., dict[str, Any]],
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="resume")
    study.enqueue_trial({"lr": 0.01, "hidden": 16})  # fixed: an unseeded draw may diverge to NaN
    killed = study.ask()
    config = {"storage": storage_url, "study": "resume", "total": 4, "checkpoint_every": 2}
    # 8 batches per epoch: cycle 2 (the third) is validated (and reported) at batch 24, the
    # newest checkpoint is from batch 16 (epoch 2), and the kill comes at batch 28.
    first = run_job(tmp_path / "killed", trial=killed.number, kill_at=28, **config)
    assert first.returncode == -signal.SIGKILL, first.stderr
    stored = optuna.load_study(study_name="resume", storage=storage_url).trials[0]
    assert stored.state is TrialState.RUNNING
    assert sorted(stored.intermediate_values) == [0, 1, 2]
    assert sorted(  # (a killed run's lock file stays in newer cores: the next run locks it)
        p.name for p in (tmp_path / "killed" / "checkpoints").iterdir() if p.suffix != ".lock"
    ) == ["toy_trial-0_step000000016.pth"]

    second = run_job(tmp_path / "killed", trial=killed.number, **config)
    assert second.returncode == 0, second.stderr  # -W error: no warning about cycle 2 either
    resumed = evidence(tmp_path / "killed")
    assert [c for c, _ in resumed["cycle_metrics"]] == [2, 3]  # from epoch 2's checkpoint
    assert [step for step, _ in resumed["calls"]["report"]] == [3]  # cycle 2 was stored
    assert resumed["trial"] == 0 and resumed["save_name"] == "toy_trial-0"

    study.enqueue_trial(stored.params)  # the same hyper-parameters, never interrupted
    reference = study.ask()
    third = run_job(tmp_path / "reference", trial=reference.number, **config)
    assert third.returncode == 0, third.stderr

    again, uninterrupted = optuna.load_study(study_name="resume", storage=storage_url).trials
    assert again.state is uninterrupted.state is TrialState.COMPLETE
    assert again.params == uninterrupted.params == stored.params
    assert again.intermediate_values == uninterrupted.intermediate_values  # bitwise floats
    assert again.value == uninterrupted.value == again.intermediate_values[3]
    assert evidence(tmp_path / "reference")["suggested"] == resumed["suggested"]
    weights = [
        torch.load(tmp_path / name / "params.pt", weights_only=True)
        for name in ("killed", "reference")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

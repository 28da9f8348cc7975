"""A trial whose process is SIGKILLed resumes under the same trial, from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from conftest import HERE, TESTS


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
    ) == ["toy_resume_trial-0_step000000016.pth"]

    second = run_job(tmp_path / "killed", trial=killed.number, **config)
    assert second.returncode == 0, second.stderr  # -W error: no warning about cycle 2 either
    resumed = evidence(tmp_path / "killed")
    assert [c for c, _ in resumed["cycle_metrics"]] == [2, 3]  # from epoch 2's checkpoint
    assert [step for step, _ in resumed["calls"]["report"]] == [3]  # cycle 2 was stored
    assert resumed["trial"] == 0 and resumed["save_name"] == "toy_resume_trial-0"

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


def start_job(run_dir: Path, **config: Any) -> subprocess.Popen[str]:
    """``optuna_job`` in a fresh interpreter, its standard streams piped to this test."""
    config = {"run_dir": str(run_dir), **config}
    path = os.pathsep.join(p for p in (str(HERE), str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "optuna_job", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_a_trial_killed_between_fit_and_tell_is_told_on_resume(
    tmp_path: Path,
    storage_url: str,
    run_job: Callable[..., Any],
    evidence: Callable[..., dict[str, Any]],
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="resume")
    study.enqueue_trial({"lr": 0.01, "hidden": 16})
    study.enqueue_trial({"lr": 0.01, "hidden": 16})
    killed, reference = study.ask(), study.ask()
    config = {"storage": storage_url, "study": "resume", "total": 3, "checkpoint_every": 1}

    job = start_job(tmp_path / "killed", trial=killed.number, pause_before_tell=True, **config)
    try:
        assert job.stdout is not None
        assert job.stdout.readline() == "fitted\n"  # fit returned; the study is not told yet
    finally:
        job.kill()
        _, stderr = job.communicate(timeout=300)
    assert job.returncode == -signal.SIGKILL, stderr
    fitted = json.loads((tmp_path / "killed" / "fitted").read_text(encoding="utf-8"))
    assert optuna.load_study(study_name="resume", storage=storage_url).trials[0].state is (
        TrialState.RUNNING
    )

    resumed = run_job(tmp_path / "killed", trial=killed.number, **config)
    assert resumed.returncode == 0, resumed.stderr
    again = evidence(tmp_path / "killed")
    assert again["cycle_metrics"] == [] and again["calls"]["report"] == []  # finished already
    assert again["metrics"] == fitted  # from the checkpoint

    straight = run_job(tmp_path / "reference", trial=reference.number, **config)
    assert straight.returncode == 0, straight.stderr
    told, uninterrupted = optuna.load_study(study_name="resume", storage=storage_url).trials
    assert told.state is uninterrupted.state is TrialState.COMPLETE
    assert told.value == uninterrupted.value == fitted["valid_loss"]
    assert told.intermediate_values == uninterrupted.intermediate_values


def test_a_pruned_trial_killed_between_fit_and_tell_is_told_pruned_on_resume(
    tmp_path: Path, storage_url: str, run_job: Callable[..., Any]
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="resume")
    trial = study.ask()
    config = {
        "storage": storage_url,
        "study": "resume",
        "total": 3,
        "prune": {"cycle": 0, "numbers": [trial.number]},
    }
    job = start_job(tmp_path, trial=trial.number, pause_before_tell=True, **config)
    try:
        assert job.stdout is not None
        assert job.stdout.readline() == "fitted\n"
    finally:
        job.kill()
        job.communicate(timeout=300)
    assert job.returncode == -signal.SIGKILL

    resumed = run_job(tmp_path, trial=trial.number, **config)
    assert resumed.returncode == 0, resumed.stderr
    stored = optuna.load_study(study_name="resume", storage=storage_url).trials[0]
    assert stored.state is TrialState.PRUNED and list(stored.intermediate_values) == [0]


def test_an_unexpected_error_tells_the_trial_failed(
    tmp_path: Path, storage_url: str, run_job: Callable[..., Any]
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="resume")
    trial = study.ask()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "toy_resume_trial-0_step000000008.pth").write_bytes(b"junk")
    failed = run_job(tmp_path, trial=trial.number, storage=storage_url, study="resume")
    assert failed.returncode == 1
    assert "CheckpointError: no usable checkpoint for 'toy_resume_trial-0'" in failed.stderr
    stored = optuna.load_study(study_name="resume", storage=storage_url).trials[0]
    assert stored.state is TrialState.FAIL

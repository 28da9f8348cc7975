"""Exact resume: a run SIGKILLed and resumed equals an uninterrupted run, bit for bit."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from support.runs import finished, train

# 64 samples, batch 8: 8 batches an epoch.
CASES = {
    "iteration-unit, mid-epoch kill": {"unit": "iteration", "total": 20, "kill_at": 13},
    "iteration-unit, 2 workers, accumulation": {
        "unit": "iteration", "total": 10, "accumulation_steps": 2, "num_workers": 2, "kill_at": 11,
    },
    "epoch-unit, kill at the epoch boundary": {"unit": "epoch", "total": 3, "kill_at": 16},
    "epoch-unit, 2 workers, mid-epoch kill, accumulation": {
        "unit": "epoch", "total": 3, "num_workers": 2, "accumulation_steps": 3, "kill_at": 12,
    },
    "iteration-unit, checkpoint every 3, validation": {
        "unit": "iteration", "total": 12, "checkpoint_every": 3, "valid_every": 2, "kill_at": 10,
    },
}  # fmt: skip


@pytest.mark.parametrize("config", CASES.values(), ids=CASES.keys())
def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path, config: dict[str, Any]) -> None:
    settings = {k: v for k, v in config.items() if k != "kill_at"}
    expected_params, expected_losses = finished(tmp_path / "straight", **settings)

    killed = train(tmp_path / "resumed", **config)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    params, losses = finished(tmp_path / "resumed", **settings)

    assert losses == expected_losses
    assert params.keys() == expected_params.keys()
    for name, value in params.items():
        assert torch.equal(value, expected_params[name]), name


def test_finished_run_is_not_retrained(tmp_path: Path) -> None:
    finished(tmp_path, unit="iteration", total=4)
    lines = (tmp_path / "losses.jsonl").read_text().splitlines()
    finished(tmp_path, unit="iteration", total=4)
    assert (tmp_path / "losses.jsonl").read_text().splitlines() == lines

"""Run :mod:`support.toy` trainings in fresh processes, as a user's script would run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

TESTS = Path(__file__).resolve().parents[1]


def train(run_dir: Path, **config: Any) -> subprocess.CompletedProcess[str]:
    """Train in a subprocess (it may be killed); a hang fails after 300 s instead of blocking."""
    config = {"run_dir": str(run_dir), **config}
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "support.toy", json.dumps(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
        check=False,
    )


def finished(run_dir: Path, **config: Any) -> tuple[dict[str, torch.Tensor], dict[int, float]]:
    """Train to the end; the final parameters and rank 0's batch → loss record."""
    from support.toy import read_losses

    proc = train(run_dir, **config)
    assert proc.returncode == 0, proc.stderr
    return torch.load(run_dir / "params.pt", weights_only=True), read_losses(run_dir)

"""A 2-rank gloo DDP trial: rank 0 alone talks to the study; pruning stops every rank."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState


def test_a_ddp_trial_reports_from_rank_0_and_stops_every_rank_on_pruning(
    tmp_path: Path,
    storage_url: str,
    run_job: Callable[..., Any],
    evidence: Callable[..., dict[str, Any]],
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="ddp")
    trial = study.ask()
    proc = run_job(
        tmp_path,
        storage=storage_url,
        study="ddp",
        trial=trial.number,
        world_size=2,
        total=4,
        prune={"cycle": 1, "numbers": [trial.number]},  # steps count from 0
    )
    assert proc.returncode == 0, proc.stderr
    rank0, rank1 = evidence(tmp_path, 0), evidence(tmp_path, 1)

    # Only rank 0 reported and asked the pruner, once per validation cycle.
    assert rank0["calls"] == {
        "report": [[c, v] for c, v in rank0["cycle_metrics"]],
        "should_prune": [False, True],
    }
    assert rank1["calls"] == {"report": [], "should_prune": []}
    # Both ranks validated (each its own shard), stopped after cycle 1 and saw the pruning.
    for rank in (rank0, rank1):
        assert [c for c, _ in rank["cycle_metrics"]] == [0, 1]
        assert rank["state"]["stopped"] and rank["state"]["epoch"] == 2
        assert rank["pruned"] and rank["trial"] == 0 and rank["save_name"] == "toy_ddp_trial-0"
    assert rank0["cycle_metrics"] != rank1["cycle_metrics"]

    stored = optuna.load_study(study_name="ddp", storage=storage_url).trials[0]
    assert stored.state is TrialState.PRUNED
    assert stored.intermediate_values == dict(rank0["cycle_metrics"])  # rank 0's metric
    # Rank 0 sampled the hyper-parameters; rank 1 received them and trained the same network.
    assert rank0["suggested"] == rank1["suggested"] == stored.params

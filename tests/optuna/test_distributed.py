"""A 2-rank gloo DDP trial: rank 0 alone talks to the study; pruning stops every rank, and
``fit`` raises optuna.TrialPruned on every rank, which spawn raises in the driver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from helios.distributed import spawn
from helios_optuna.plugin import PRUNED_ATTR


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


def test_study_optimize_over_spawned_ranks_records_pruned_and_completed_trials(
    tmp_path: Path, storage_url: str, evidence: Callable[..., dict[str, Any]]
) -> None:
    """The objective neither calls check_pruned() nor catches anything: the ranks'
    optuna.TrialPruned leaves spawn, and study.optimize records trial 0 PRUNED."""
    from optuna_job import METRIC, run_rank

    study = optuna.create_study(storage=storage_url, study_name="ddp")

    def objective(trial: optuna.trial.Trial) -> float:
        run_dir = tmp_path / f"trial-{trial.number}"
        config = {"run_dir": str(run_dir), "storage": storage_url, "study": "ddp", "total": 4}
        config |= {"trial": trial.number, "tell": False, "forgetful": True}
        config |= {"prune": {"cycle": 1, "numbers": [0]}}
        spawn(run_rank, 2, args=(config,))
        value: float = evidence(run_dir, 0)["metrics"][METRIC]
        return value

    study.optimize(objective, n_trials=2)

    pruned, completed = study.trials
    assert pruned.state is TrialState.PRUNED
    assert sorted(pruned.intermediate_values) == [0, 1]
    assert pruned.user_attrs[PRUNED_ATTR]["validation_cycle"] == 1
    assert completed.state is TrialState.COMPLETE
    rank0 = evidence(tmp_path / "trial-1", 0)
    assert completed.value == rank0["metrics"][METRIC]
    assert completed.intermediate_values == dict(rank0["cycle_metrics"])
    assert sorted(completed.intermediate_values) == [0, 1, 2, 3]
    assert PRUNED_ATTR not in completed.user_attrs

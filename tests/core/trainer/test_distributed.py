"""2-rank DDP on gloo (CPU), spawned in-process on a free port."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from support.runs import finished, train

DDP = {"world_size": 2, "unit": "iteration", "total": 8, "size": 64, "batch_size": 8}


def test_ddp_trains_checkpoints_and_resumes_identically(tmp_path: Path) -> None:
    from support.toy import read_losses

    expected_params, expected_losses = finished(tmp_path / "straight", **DDP)
    assert len(expected_losses) == 8  # 64 samples / 2 ranks / batch 8 = 4 batches an epoch
    expected_rank1 = read_losses(tmp_path / "straight", "losses-1.jsonl")
    assert expected_rank1 != expected_losses  # each rank sees its own shard

    killed = train(tmp_path / "resumed", kill_at=5, **DDP)
    assert killed.returncode != 0
    assert "ProcessExitedException" in killed.stderr or str(signal.SIGKILL.value) in killed.stderr
    assert sorted(
        p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()
    )  # written by rank 0

    params, losses = finished(tmp_path / "resumed", **DDP)
    assert losses == expected_losses
    assert read_losses(tmp_path / "resumed", "losses-1.jsonl") == expected_rank1
    for name, value in params.items():
        assert torch.equal(value, expected_params[name]), name


def test_a_failing_rank_ends_every_rank_with_its_error(tmp_path: Path) -> None:
    proc = train(tmp_path, kill_at=3, kill_rank=1, fail=True, **DDP)
    assert proc.returncode == 1
    assert "ValueError: rank 0 fails on purpose at batch 3" not in proc.stderr
    assert "ValueError: rank 1 fails on purpose at batch 3" in proc.stderr
    assert "ProcessRaisedException" in proc.stderr


def test_torchrun_is_detected_and_matches_spawn(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from support.runs import TESTS

    spawned, _ = finished(tmp_path / "spawned", **DDP)
    config = {  # ranks from torchrun
        **DDP,
        "world_size": 1,
        "run_dir": str(tmp_path / "torchrun"),
        "record_teardown": True,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "support.toy", json.dumps(config)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "still referenced" not in proc.stderr
    for rank in (0, 1):  # the script never calls shutdown(): helios took its group down at exit
        seen = json.loads((tmp_path / "torchrun" / f"teardown{rank}.json").read_text())
        assert seen["initialized"] is False, rank
        if sys.platform == "linux":
            assert seen["threads"], "no thread names read from /proc/self/task"
            assert [t for t in seen["threads"] if "gloo" in t] == [], (rank, seen["threads"])
    params = torch.load(tmp_path / "torchrun" / "params.pt", weights_only=True)
    for name, value in params.items():
        assert torch.equal(value, spawned[name]), name


@pytest.mark.parametrize(
    ("worsening", "expected"),
    [
        (0, {"iteration": 3, "cycles": 3, "stopped": True}),  # patience 2: stops after cycle 3
        (1, {"iteration": 12, "cycles": 12, "stopped": False}),  # rank 1's metric does not count
    ],
)
def test_early_stopping_follows_rank_0_on_every_rank(
    tmp_path: Path, worsening: int, expected: dict[str, object]
) -> None:
    import json

    from helios.distributed import spawn
    from support.toy import early_stop_rank

    spawn(early_stop_rank, 2, args=(str(tmp_path), worsening))
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert seen == [expected, expected]


def test_a_spawned_rank_frees_its_process_group_and_ends_gloo_threads_before_exit(
    tmp_path: Path,
) -> None:
    """A gloo thread still alive when the interpreter finalises can abort a rank that
    succeeded (SIGABRT); spawn joins them first (what each rank saw at exit, from atexit)."""
    import json
    import sys

    from helios.distributed import spawn
    from support.toy import teardown_rank

    spawn(teardown_rank, 2, args=(str(tmp_path),))
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"teardown{rank}.json").read_text(encoding="utf-8"))
        assert seen["initialized"] is False
        assert seen["group alive"] is False, rank
        if sys.platform == "linux":
            assert seen["threads"], "no thread names read from /proc/self/task"
            assert [t for t in seen["threads"] if "gloo" in t] == [], (rank, seen["threads"])


def test_shutdown_names_a_process_group_that_something_still_holds(tmp_path: Path) -> None:
    """A DistributedDataParallel model kept past shutdown keeps its group (and threads)."""
    import os
    import subprocess
    import sys
    import textwrap

    from helios.distributed import free_port

    script = textwrap.dedent(
        f"""
        import gc, os
        import torch, torch.distributed as dist
        from helios.distributed import shutdown

        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="{free_port()}")
        dist.init_process_group("gloo", rank=0, world_size=1)
        kept = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 1))
        shutdown()
        print("initialized after shutdown:", dist.is_initialized())
        del kept
        gc.collect()  # the group goes now, and its threads with it
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "initialized after shutdown: False\n"
    assert proc.stderr == (
        "rank 0: the process group is still referenced after destroy_process_group (a "
        "DistributedDataParallel model still in use?), so its worker threads outlive it and the "
        "process may abort at exit; drop such references before helios.distributed.shutdown() "
        "runs (with spawn: before the rank's function returns)\n"
    )

"""One owner per run: ``fit`` locks run_dir + save_name, and checks run_dir before the first step.

Other processes are real ones (``lock_holder.py``); each test waits for the line a process
prints at a known point, never for a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helios.checkpoint import list_checkpoints, load_checkpoint
from helios.distributed import free_port
from helios.runlock import RunDirError, RunLock, RunLockedError, prepare_run_dir
from helios.trainer import Trainer, TrainingUnit
from support.capabilities import run_in_read_only
from support.runs import TESTS
from support.toy import ToyData, ToyModel

HOLDER = Path(__file__).with_name("lock_holder.py")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


def refusal(run_dir: Path, pid: int, name: str = "toy") -> str:
    return (
        f"run {name!r} in {run_dir} is in use: process {pid} holds {run_dir / f'.{name}.lock'}; "
        "wait for that run to end (or stop it), or use another run_dir or save_name"
    )


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    """Started helper processes; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start(holders: list[subprocess.Popen[str]], mode: str, run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), mode, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    holders.append(proc)
    return proc


def line(proc: subprocess.Popen[str]) -> str:
    """The next line the process prints (it blocks until the process gets there)."""
    assert proc.stdout is not None
    text = proc.stdout.readline()
    assert text, f"the process ended first: {proc.communicate()[1]}"
    return text.rstrip("\n")


def go_on(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()


def trainer(run_dir: Path, **kwargs: object) -> Trainer:
    settings: dict[str, object] = {
        "total": 6, "unit": TrainingUnit.ITERATION, "checkpoint_every": 1, "run_dir": run_dir,
        "device": "cpu", "progress": False, **kwargs,
    }  # fmt: skip
    return Trainer(**settings)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the lock itself
def test_a_second_lock_on_one_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = RunLock.acquire(tmp_path, "toy")
    assert (tmp_path / ".toy.lock").read_text(encoding="utf-8").split()[0] == str(os.getpid())
    with pytest.raises(RunLockedError) as caught:
        RunLock.acquire(tmp_path, "toy")  # another open file, so flock refuses it in-process too
    assert str(caught.value) == refusal(tmp_path, os.getpid())
    assert caught.value.holder == os.getpid()
    with RunLock.acquire(tmp_path, "toy_trial-1"):  # trials share a run dir under other names
        pass
    first.release()
    first.release()  # twice does nothing
    assert not (tmp_path / ".toy.lock").exists()  # a run that ends leaves no lock file
    with RunLock.acquire(tmp_path, "toy") as again:
        assert again.held
    assert not again.held


def test_the_lock_dies_with_its_process_not_with_a_forked_child(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = start(holders, "lock-fork", tmp_path)
    word, pid, child = line(holder).split()
    assert (word, int(pid)) == ("locked", holder.pid)
    with pytest.raises(RunLockedError) as caught:
        RunLock.acquire(tmp_path, "toy")
    assert str(caught.value) == refusal(tmp_path, holder.pid)

    holder.kill()  # SIGKILL: no clean-up runs
    assert holder.wait() == -signal.SIGKILL
    try:
        os.kill(int(child), 0)  # the forked child still lives (it inherited the descriptor)
        with RunLock.acquire(tmp_path, "toy") as lock:  # the stale file is simply locked
            assert lock.held
    finally:
        os.kill(int(child), signal.SIGKILL)


def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".toy.lock")
    with pytest.raises(RunDirError) as caught:
        RunLock.acquire(tmp_path, "toy")
    assert str(caught.value) == (
        f"the lock file {tmp_path / '.toy.lock'} is not a regular file; remove it, or pass "
        "another run_dir"
    )
    (tmp_path / ".toy.lock").unlink()
    (tmp_path / "elsewhere").write_text("", encoding="utf-8")
    (tmp_path / ".toy.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirError, match=r"cannot open the lock file .*\.toy\.lock \("):
        RunLock.acquire(tmp_path, "toy")


@pytest.mark.parametrize("name", ["", "a/b", "..", "nul\0"])
def test_a_save_name_that_is_not_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="a run name must be a non-empty file name"):
        RunLock.acquire(tmp_path, name)


# ---------------------------------------------------------------------- two trainers
def test_a_second_trainer_on_a_live_run_is_refused_before_it_trains(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    first = start(holders, "fit", tmp_path)
    assert line(first) == f"training {first.pid}"  # after step 3, holding the run
    files = sorted(p.name for p in tmp_path.iterdir())

    model = ToyModel()
    with pytest.raises(RunLockedError) as caught:
        trainer(tmp_path).fit(model, ToyData())
    assert str(caught.value) == refusal(tmp_path, first.pid)
    assert model.losses == []  # refused before the first step: nothing resumed, nothing saved
    assert sorted(p.name for p in tmp_path.iterdir()) == files

    other = ToyModel("toy_trial-1")  # another save name in the same run dir trains meanwhile
    trainer(tmp_path, total=2).fit(other, ToyData())
    assert [batch for batch, _ in other.losses] == [1, 2]

    go_on(first)
    _, err = first.communicate()
    assert first.returncode == 0, err
    assert [p.name for p in list_checkpoints(tmp_path, "toy")] == [
        f"toy_step{step:09d}.pth" for step in (4, 5, 6)
    ]
    assert load_checkpoint(tmp_path / "toy_step000000006.pth")["state"]["finished"] is True
    assert not (tmp_path / ".toy.lock").exists()


# ---------------------------------------------------------------------- the run dir
def test_a_run_dir_that_is_a_file_is_refused_before_the_first_step(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    model = ToyModel()
    with pytest.raises(RunDirError) as caught:
        trainer(a_file, checkpoint_every=None).fit(model, ToyData())
    assert str(caught.value) == (
        f"run_dir {a_file} is a file, expected a folder; pass another run_dir (or move the "
        "file away)"
    )
    assert model.losses == []


def test_a_run_dir_under_a_file_is_refused_before_the_first_step(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    model = ToyModel()
    with pytest.raises(RunDirError) as caught:
        trainer(a_file / "sub" / "run", checkpoint_every=None).fit(model, ToyData())
    assert str(caught.value) == (
        f"run_dir {a_file / 'sub' / 'run'} cannot be created: {a_file} is a file, not a "
        f"folder; pass a run_dir that is not under a file (or move {a_file} away)"
    )
    assert model.losses == []


@pytest.mark.parametrize("below", [False, True], ids=["the folder", "a folder to make in it"])
def test_a_read_only_run_dir_is_refused_before_the_first_step(tmp_path: Path, below: bool) -> None:
    proc, read_only, run_dir = run_in_read_only(
        tmp_path,
        below,
        lambda run_dir: [sys.executable, str(HOLDER), "fit-once", str(run_dir)],
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr
    where = f"cannot be created: {read_only} " if below else ""
    assert proc.stdout == (
        f"RunDirError: run_dir {run_dir} {where}is not writable (Permission denied); make it "
        "writable, or pass another run_dir (0)\n"
    )
    assert list(read_only.iterdir()) == []


def test_prepare_run_dir_makes_the_folder_and_leaves_nothing_in_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "a" / "b"
    prepare_run_dir(run_dir)
    assert run_dir.is_dir()
    assert list(run_dir.iterdir()) == []


# ---------------------------------------------------------------------- distributed
def ranks(run_dir: Path) -> list[str]:
    """Two ranks of one run, started as torchrun would (no agent that ends the others)."""
    world = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HOLDER), "rank", str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, **world, "RANK": str(rank), "LOCAL_RANK": str(rank)},
        )
        for rank in (0, 1)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_in_ddp_rank_0_holds_the_lock_and_every_rank_fails_with_its_refusal(
    tmp_path: Path,
) -> None:
    with RunLock.acquire(tmp_path, "toy"):
        refused = ranks(tmp_path)
    assert refused == [f"RunLockedError: {refusal(tmp_path, os.getpid())} (0)"] * 2

    rank0, rank1 = (out.split() for out in ranks(tmp_path))
    assert rank0[:2] == ["ok", "0"] and rank1[:2] == ["ok", "1"]
    assert rank0[3] == rank1[3] == rank0[2]  # both read rank 0's pid in the lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "toy_step000000001.pth",
        "toy_step000000002.pth",
    ]


# ---------------------------------------------------------------------- dead writers
def test_the_temporary_file_of_a_writer_killed_mid_write_is_removed_by_the_next_run(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    writer = start(holders, "fit-save", tmp_path)
    assert line(writer) == f"writing {writer.pid}"  # in the middle of step 3's checkpoint
    temporary = tmp_path / f".toy_step000000003.pth.tmp-{writer.pid}"
    assert temporary.is_file()
    writer.kill()
    assert writer.wait() == -signal.SIGKILL
    assert temporary.exists()  # left behind
    others = [
        tmp_path / ".toy_trial-1_step000000001.pth.tmp-1",  # another save name's
        tmp_path / ".toy_step000000001.pth.tmp-x",  # not a writer's name
    ]
    for other in others:
        other.write_bytes(b"not ours")

    model = ToyModel()
    trainer(tmp_path).fit(model, ToyData())
    assert [batch for batch, _ in model.losses] == [3, 4, 5, 6]  # from step 2
    assert not temporary.exists()
    assert all(other.exists() for other in others)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        f"toy_step{step:09d}.pth" for step in (4, 5, 6)
    ]

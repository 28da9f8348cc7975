"""Sampler checkpoints: written atomically, read as hostile input, and a study resumed with them
proposes exactly what the uninterrupted study proposes (killed between trials and mid-trial)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from helios_optuna import (
    SamplerCheckpointError,
    checkpoint_sampler,
    restore_sampler,
    sampler_checkpoints,
)
from helios_optuna import sampler as sampler_module

JOB = Path(__file__).with_name("study_job.py")
TRIALS = 8


def _trial(seed: int = 1) -> optuna.Trial:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    return study.ask()


def test_a_checkpoint_restores_the_sampler_state(tmp_path: Path) -> None:
    trial = _trial()
    trial.suggest_float("x", 0, 1)
    path = checkpoint_sampler(trial, tmp_path / "samplers")
    assert path == tmp_path / "samplers" / "sampler_trial-0.pkl"
    assert sorted(p.name for p in path.parent.iterdir()) == ["sampler_trial-0.pkl"]  # no temp
    restored = restore_sampler(tmp_path / "samplers")
    assert isinstance(restored, optuna.samplers.TPESampler)
    # the same state: both draw the same next value
    study_a = optuna.create_study(sampler=trial.study.sampler)
    study_b = optuna.create_study(sampler=restored)
    assert study_a.ask().suggest_float("y", 0, 1) == study_b.ask().suggest_float("y", 0, 1)


def test_no_checkpoint_restores_none(tmp_path: Path) -> None:
    assert restore_sampler(tmp_path / "absent") is None
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a checkpoint")
    assert restore_sampler(tmp_path / "empty") is None


def test_checkpoints_sort_by_trial_number_not_by_name(tmp_path: Path) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(11):
        checkpoint_sampler(study.ask(), tmp_path)
    assert list(sampler_checkpoints(tmp_path)) == list(range(11))
    # lexically sampler_trial-9.pkl is last; the newest is trial 10's
    study.sampler = optuna.samplers.TPESampler(seed=0)
    checkpoint_sampler(study.ask(), tmp_path)  # trial 11
    assert isinstance(restore_sampler(tmp_path), optuna.samplers.TPESampler)
    assert isinstance(restore_sampler(tmp_path, 9), optuna.samplers.RandomSampler)
    with pytest.raises(LookupError) as caught:
        restore_sampler(tmp_path, 12)
    assert str(caught.value) == (
        f"no sampler checkpoint of trial 12 in {str(tmp_path)!r} (it holds trials 0, 1, 2, 3, "
        "…, 10, 11); pass one of those numbers, or None for the newest"
    )


def test_a_pickle_naming_os_system_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {tmp_path / 'owned'}",))

    (tmp_path / "sampler_trial-0.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(SamplerCheckpointError) as caught:
        restore_sampler(tmp_path)
    path = tmp_path / "sampler_trial-0.pkl"
    assert str(caught.value) == (
        f"the sampler checkpoint {str(path)!r} names the global posix.system, which a sampler "
        "checkpoint may not use (only Optuna's samplers and distributions and NumPy's random "
        "state are resolved); if you wrote it and trust it, pass trusted=['posix:system'] to "
        "restore_sampler, else delete it"
    )
    assert not (tmp_path / "owned").exists()


def test_a_global_imported_into_an_optuna_module_is_refused(tmp_path: Path) -> None:
    """A name an Optuna module imported from elsewhere (typing.cast) is not its own."""
    import optuna.samplers._tpe.sampler as tpe

    assert callable(tpe.cast)
    # protocol 0: GLOBAL 'module\nname', then STOP
    (tmp_path / "sampler_trial-3.pkl").write_bytes(b"coptuna.samplers._tpe.sampler\ncast\n.")
    with pytest.raises(SamplerCheckpointError, match=r"names the global optuna\.samplers\._tpe"):
        restore_sampler(tmp_path)


def test_a_file_that_is_no_sampler_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sampler_trial-0.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}))
    with pytest.raises(SamplerCheckpointError) as caught:
        restore_sampler(tmp_path)
    assert str(caught.value) == (
        f"the sampler checkpoint {str(path)!r} holds a dict, not an optuna sampler; write it "
        "with checkpoint_sampler, or delete it"
    )
    path.write_bytes(b"\x80\x05garbage")
    with pytest.raises(SamplerCheckpointError, match=r"cannot be read \(UnpicklingError"):
        restore_sampler(tmp_path)


def test_only_regular_files_of_bounded_size_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "elsewhere.pkl"
    real.write_bytes(pickle.dumps(optuna.samplers.RandomSampler(seed=0)))
    link = tmp_path / "sampler_trial-0.pkl"
    link.symlink_to(real)
    with pytest.raises(SamplerCheckpointError, match=r"cannot be opened as a regular file"):
        restore_sampler(tmp_path)
    link.unlink()
    os.mkfifo(link)  # a reader of a FIFO would block forever
    with pytest.raises(SamplerCheckpointError) as caught:
        restore_sampler(tmp_path)
    assert str(caught.value) == (
        f"the sampler checkpoint {str(link)!r} is not a regular file; replace it with the file "
        "checkpoint_sampler wrote"
    )
    link.unlink()
    real.rename(link)
    monkeypatch.setattr(sampler_module, "MAX_SAMPLER_BYTES", 100)
    size = link.stat().st_size
    with pytest.raises(SamplerCheckpointError) as caught:
        restore_sampler(tmp_path)
    assert str(caught.value) == (
        f"the sampler checkpoint {str(link)!r} has {size} bytes, more than the 100 a sampler "
        "checkpoint may have; it is not one: delete it"
    )


def test_a_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "samplers").write_text("")
    with pytest.raises(SamplerCheckpointError) as caught:
        restore_sampler(tmp_path / "samplers")
    assert str(caught.value) == (
        f"the sampler checkpoint folder {str(tmp_path / 'samplers')!r} is not a directory; pass "
        "the folder that checkpoint_sampler writes to (it is created on the first checkpoint)"
    )


def test_a_trusted_global_is_resolved(tmp_path: Path) -> None:
    from study_job import OwnSampler

    study = optuna.create_study(sampler=OwnSampler(seed=0))
    checkpoint_sampler(study.ask(), tmp_path)
    with pytest.raises(SamplerCheckpointError, match=r"names the global study_job\.OwnSampler"):
        restore_sampler(tmp_path)
    restored = restore_sampler(tmp_path, trusted=["study_job:OwnSampler"])
    assert isinstance(restored, OwnSampler)


# --- the key test: resume proposes exactly what the uninterrupted study proposes -------------


def _tune(tmp: Path, *, restore: bool = True, stop: list[Any] | None = None) -> Any:
    config = {
        "url": f"sqlite:///{tmp / 'study.db'}",
        "samplers": str(tmp / "samplers"),
        "restore": restore,
        "seed": 11,
        "trials": TRIALS,
        "stop": stop,
    }
    return subprocess.Popen(
        [sys.executable, str(JOB), "tune", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> None:
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err


def _kill_at(process: subprocess.Popen[str], event: str) -> None:
    """Wait for the worker to print ``event`` (it then blocks on stdin), and SIGKILL it."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line == event, process.communicate(timeout=60)[1]
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _proposals(tmp: Path) -> list[dict[str, Any]]:
    study = optuna.load_study(study_name="key", storage=f"sqlite:///{tmp / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert all(t.state is TrialState.COMPLETE for t in trials)
    return [t.params for t in trials]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    _finish(_tune(tmp))
    proposed = _proposals(tmp)
    assert len(proposed) == TRIALS
    return proposed


@pytest.mark.parametrize(
    ("stop", "kept"),
    [(["between", 4], 5), (["mid", 5], 5)],
    ids=["killed-between-trials", "killed-mid-trial"],
)
def test_a_resumed_study_proposes_what_the_uninterrupted_one_did(
    tmp_path: Path, uninterrupted: list[dict[str, Any]], stop: list[Any], kept: int
) -> None:
    _kill_at(_tune(tmp_path, stop=stop), f"{stop[0]} {stop[1]}")
    study = optuna.load_study(study_name="key", storage=f"sqlite:///{tmp_path / 'study.db'}")
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states.count(TrialState.COMPLETE) == kept
    assert states.count(TrialState.RUNNING) == (stop[0] == "mid")
    _finish(_tune(tmp_path))
    assert _proposals(tmp_path) == uninterrupted


def test_without_the_sampler_checkpoint_a_resumed_study_proposes_otherwise(
    tmp_path: Path, uninterrupted: list[dict[str, Any]]
) -> None:
    """What the helpers fix: a resumed process starts its seeded sampler from the beginning."""
    _kill_at(_tune(tmp_path, stop=["between", 4]), "between 4")
    _finish(_tune(tmp_path, restore=False))
    proposed = _proposals(tmp_path)
    assert proposed[:5] == uninterrupted[:5]
    assert proposed[5:] != uninterrupted[5:]


def test_a_pickle_allocating_a_huge_bytearray_is_refused_before_it_allocates(
    tmp_path: Path,
) -> None:
    # protocol 2: bytearray(2**31) in 30 bytes, the size as a 4-byte int
    crafted = b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x80\x85R."
    (tmp_path / "sampler_trial-0.pkl").write_bytes(crafted)
    with pytest.raises(SamplerCheckpointError, match=r"names the global builtins\.bytearray"):
        restore_sampler(tmp_path)

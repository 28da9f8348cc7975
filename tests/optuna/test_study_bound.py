"""Checkpoints belong to one trial of one study: save names carry the study's name, and the
plug-in's state its name, trial number and start time; anything else is refused at resume."""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
import torch
from optuna_job import METRIC, TunedModel
from packaging.version import Version

from helios import checkpoint as ckpt
from helios.trainer import Trainer
from helios_optuna import OptunaPlugin, attach_trial
from helios_optuna.plugin import file_safe, save_suffix
from support.toy import ToyData


def fit(trial: optuna.trial.BaseTrial, run_dir: Path, total: int = 2) -> TunedModel:
    model = TunedModel(save_name="toy")
    plugin = OptunaPlugin(trial, METRIC)
    trainer = Trainer(
        total=total, valid_every=1, run_dir=run_dir, seed=7, progress=False, plugins=[plugin]
    )
    trainer.fit(model, ToyData())
    return model


def started(trial: optuna.trial.Trial) -> str:
    """The start of ``trial`` as the plug-in's state and messages give it: UTC, ISO 8601."""
    assert trial.datetime_start is not None
    return trial.datetime_start.astimezone(datetime.timezone.utc).isoformat()


FIX = (
    "a trial resumes only its own checkpoints: pass another run_dir (one per study: e.g. "
    "named after the study), or delete"
)


def test_a_new_study_in_the_same_run_dir_trains_apart(tmp_path: Path, storage_url: str) -> None:
    runs = tmp_path / "runs"
    first = fit(optuna.create_study(storage=storage_url, study_name="tune").ask(), runs)
    second = fit(optuna.create_study(storage=storage_url, study_name="tune-2").ask(), runs)
    assert (first.save_name, second.save_name) == ("toy_tune_trial-0", "toy_tune-2_trial-0")
    assert [c for c, _ in second.cycle_metrics] == [0, 1]  # trained, not resumed
    assert len(ckpt.list_checkpoints(runs, "toy_tune_trial-0")) == 1
    assert len(ckpt.list_checkpoints(runs, "toy_tune-2_trial-0")) == 1


def test_a_study_deleted_and_created_again_is_refused(tmp_path: Path) -> None:
    runs, database = tmp_path / "runs", tmp_path / "study.db"
    old = optuna.create_study(storage=f"sqlite:///{database}", study_name="tune").ask()
    fit(old, runs)
    database.unlink()
    new = optuna.create_study(storage=f"sqlite:///{database}", study_name="tune").ask()
    assert new.number == old.number == 0 and started(new) != started(old)

    model = TunedModel(save_name="toy")
    trainer = Trainer(
        total=2, valid_every=1, run_dir=runs, progress=False, plugins=[OptunaPlugin(new, METRIC)]
    )
    with pytest.raises(ckpt.CheckpointError) as caught:
        trainer.fit(model, ToyData())
    assert str(caught.value) == (
        f"run_dir {runs} (save name 'toy_tune_trial-0') holds checkpoints of trial 0 of study "
        f"'tune' started {started(old)}, and this run is trial 0 of study 'tune' started "
        f"{started(new)}; {FIX} toy_tune_trial-0_step000000016.pth from {runs} to train this "
        "trial from the start"
    )
    assert model.cycle_metrics == []


def rewrite_state(path: Path, **changes: object) -> None:
    data = torch.load(path, weights_only=True)
    state = data["plugins"]["optuna"]
    for key, value in changes.items():
        if value is None:
            state.pop(key)
        else:
            state[key] = value
    ckpt.save_checkpoint(data, path, keep=0)


def test_a_state_of_the_old_format_is_refused(tmp_path: Path, storage_url: str) -> None:
    trial = optuna.create_study(storage=storage_url, study_name="tune").ask()
    fit(trial, tmp_path)
    (path,) = ckpt.list_checkpoints(tmp_path, "toy_tune_trial-0")
    rewrite_state(path, study=None, datetime_start=None, reported_cycles=None, last_reported=2)
    with pytest.raises(ckpt.CheckpointError) as caught:
        fit(trial, tmp_path)
    assert str(caught.value) == (
        f"run_dir {tmp_path} (save name 'toy_tune_trial-0') holds a state of helios-optuna "
        "before 0.3, which names no study (trial 0), and this run is trial 0 of study 'tune' "
        f"started {started(trial)}; {FIX} {path.name} from {tmp_path} to train this trial "
        "from the start"
    )


def test_a_state_of_the_wrong_type_is_refused(tmp_path: Path, storage_url: str) -> None:
    trial = optuna.create_study(storage=storage_url, study_name="tune").ask()
    fit(trial, tmp_path)
    (path,) = ckpt.list_checkpoints(tmp_path, "toy_tune_trial-0")
    rewrite_state(path, trial="0" * 500)
    with pytest.raises(ckpt.CheckpointError) as caught:
        fit(trial, tmp_path)
    assert str(caught.value) == (
        "the optuna plug-in's state in the checkpoint has trial='"
        + "0" * 79
        + "... (502 characters), expected int; delete the file to resume from the one before it"
    )


def test_a_finished_trial_resumed_by_its_own_study_is_not_refused(
    tmp_path: Path, storage_url: str
) -> None:
    trial = optuna.create_study(storage=storage_url, study_name="tune").ask()
    first = fit(trial, tmp_path)
    again = fit(trial, tmp_path)
    assert again.cycle_metrics == [] and again.metrics == first.metrics


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("tune", None),  # None: kept as it is
        ("lr.search_v2-b", None),
        ("x" * 48, None),
        ("a/b c", "a-b-c"),
        ("x" * 49, "x" * 48),
        ("../étude", "..--tude"),  # "/" and "é" replaced; dots are safe inside a file name
    ],
)
def test_study_names_are_made_file_safe(name: str, cut: str | None) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    assert file_safe(name) == (name if cut is None else f"{cut}-{digest}")


def test_a_fixed_trial_keeps_the_suffix_without_a_study() -> None:
    assert save_suffix(optuna.trial.FixedTrial({}, number=3)) == "_trial-3"


def test_a_fixed_trial_takes_the_checkpoint_of_its_number_only(
    tmp_path: Path, storage_url: str
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="tune")
    trained = fit(study.ask(), tmp_path)
    (path,) = ckpt.list_checkpoints(tmp_path, "toy_tune_trial-0")
    params = study.trials[0].params

    def fixed(number: int) -> TunedModel:
        model = TunedModel(save_name="toy_tune")  # + "_trial-<n>": the trained trial's name
        plugin = OptunaPlugin(optuna.trial.FixedTrial(params, number=number), METRIC)
        Trainer(total=2, run_dir=tmp_path, progress=False, plugins=[plugin]).fit(model, ToyData())
        return model

    assert fixed(0).metrics == trained.metrics  # loaded the final checkpoint, trained nothing
    other = path.with_name("toy_tune_trial-1_step000000016.pth")
    other.write_bytes(path.read_bytes())  # trial 0's checkpoint under trial 1's name
    with pytest.raises(ckpt.CheckpointError) as caught:
        fixed(1)
    assert str(caught.value) == (
        f"run_dir {tmp_path} (save name 'toy_tune_trial-1') holds checkpoints of trial 0 of "
        f"study 'tune' started {started(study.trials[0])}, and this run is trial 1 of no "  # type: ignore[arg-type]
        f"study (a FixedTrial); {FIX} {other.name} from {tmp_path} to train this trial from "
        "the start"
    )


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Switch this process's local time zone (TZ, then time.tzset); restored afterwards."""

    def switch(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield switch
    monkeypatch.undo()
    time.tzset()


@pytest.mark.skipif(
    Version(optuna.__version__) < Version("5"),
    reason="Optuna 4 stores a trial's start as the writer's local time, without a zone",
)
def test_a_trial_resumes_in_another_time_zone(tmp_path: Path, zone: Callable[[str], None]) -> None:
    runs, url = tmp_path / "runs", f"sqlite:///{tmp_path / 'study.db'}"
    zone("UTC")
    trial = optuna.create_study(storage=url, study_name="tune").ask()
    fit(trial, runs, total=2)
    zone("Asia/Tokyo")  # another machine of the study, or a container without TZ
    again = attach_trial(optuna.load_study(study_name="tune", storage=url), trial.number)
    assert again.datetime_start is not None and trial.datetime_start is not None
    assert again.datetime_start.isoformat() != trial.datetime_start.isoformat()
    model = fit(again, runs, total=3)  # the same trial: resumed, one more cycle trained
    assert [c for c, _ in model.cycle_metrics] == [2]

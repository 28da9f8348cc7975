"""In-process checks of the demo's parts: atomic writes, the run folder and its lock, the stored
settings, the curves' title."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from matplotlib.figure import Figure
from optuna.trial import TrialState, create_trial

from helios.atomic import write_atomic
from helios.demo import DemoError, plots, study
from helios.demo.run import LOCK, MARKER, _check_run_dir, _locked, _mark
from helios.runlock import RunLock
from support.capabilities import run_in_read_only


# ---------------------------------------------------------------------- the run folder
def test_a_run_dir_under_a_file_is_one_line_naming_the_path_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helios.cli import main

    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    assert main(["demo", "--run-dir", str(a_file / "sub")]) == 1
    assert capsys.readouterr().err == (
        f"helios: error: --run-dir {a_file / 'sub'} cannot be created: {a_file} is a file, not "
        f"a folder; pass a --run-dir that is not under a file (or move {a_file} away)\n"
    )
    assert a_file.read_text(encoding="utf-8") == ""

    # A terminal escape in the argument (here: red text) reaches the screen escaped.
    assert main(["demo", "--run-dir", str(a_file / "\x1b[31mred")]) == 1
    assert capsys.readouterr().err == (
        f"helios: error: --run-dir {a_file}/\\x1b[31mred cannot be created: {a_file} is a file, "
        f"not a folder; pass a --run-dir that is not under a file (or move {a_file} away)\n"
    )


@pytest.mark.parametrize("below", [False, True], ids=["the folder", "a folder to make in it"])
def test_a_read_only_run_dir_is_one_line_before_anything_is_printed(
    tmp_path: Path, below: bool
) -> None:
    proc, read_only, run_dir = run_in_read_only(
        tmp_path,
        below,
        lambda run_dir: [sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir)],
    )
    assert (proc.returncode, proc.stdout) == (1, "")  # before the report and the slow start
    where = f"cannot be created: {read_only} " if below else ""
    assert proc.stderr == (
        f"helios: error: --run-dir {run_dir} {where}is not writable (Permission denied); make "
        "it writable, or pass another --run-dir\n"
    )
    assert list(read_only.iterdir()) == []


def test_a_second_demo_is_refused_before_anything_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helios.cli import main

    with RunLock.acquire(tmp_path, "helios-demo"):
        assert main(["demo", "--run-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no report: the refusal comes first
    assert captured.err == (
        f"helios: error: another helios demo (process {os.getpid()}) is running in {tmp_path} "
        f"(it holds {tmp_path / '.helios-demo.lock'}); wait for it to end, or pass another "
        "--run-dir\n"
    )


@pytest.mark.parametrize("seed", ["-1", "4294967296", "9" * 30])
def test_a_seed_out_of_range_is_one_line_before_anything_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: str
) -> None:
    from helios.cli import main
    from helios.demo.run import MAX_SEED
    from helios.trainer import MAX_SEED as TRAINER_MAX_SEED

    assert MAX_SEED == TRAINER_MAX_SEED  # the trainer's range, known without importing torch
    assert main(["demo", "--seed", seed, "--run-dir", str(tmp_path / "run")]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        f"helios: error: --seed must be a whole number from 0 to {MAX_SEED}, found {seed}; "
        "pass another --seed\n",
    )
    assert not (tmp_path / "run").exists()


def test_a_folder_with_only_a_stale_lock_counts_as_new(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("12345 elsewhere\n", encoding="utf-8")  # a demo killed early
    _check_run_dir(tmp_path)  # no error
    with _locked(tmp_path):
        assert (tmp_path / LOCK).read_text(encoding="utf-8").split()[0] == str(os.getpid())
    assert list(tmp_path.iterdir()) == []


def test_temporary_files_of_a_demo_killed_mid_write_are_removed_by_the_next(
    tmp_path: Path,
) -> None:
    from helios.atomic import temporary_name

    # Killed while writing its marker: the folder holds only that temporary file (and a lock).
    marker_tmp = temporary_name(tmp_path / MARKER)  # the name helios.atomic gives it
    marker_tmp.write_text("{", encoding="utf-8")
    (tmp_path / LOCK).write_text("12345 elsewhere\n", encoding="utf-8")
    _check_run_dir(tmp_path)  # counts as new: nothing in it is someone else's
    with _locked(tmp_path):
        assert not marker_tmp.exists()
    _mark(tmp_path)

    # Killed while drawing a picture; the other files are not the demo's temporary files.
    picture_tmp = temporary_name(tmp_path / plots.CURVES)
    picture_tmp.write_bytes(b"\x89PNG")
    kept = [tmp_path / ".notes.txt.0123abcd.tmp", tmp_path / f".{MARKER}.tmp"]
    for path in kept:
        path.write_text("mine", encoding="utf-8")
    link = temporary_name(tmp_path / plots.HISTORY)
    link.symlink_to(tmp_path / ".notes.txt.0123abcd.tmp")
    with _locked(tmp_path):
        assert not picture_tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MARKER, link.name, *(p.name for p in kept)]
    )


def test_a_second_demo_in_one_folder_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = RunLock.acquire(tmp_path, "helios-demo")
    try:
        with pytest.raises(DemoError) as info, _locked(tmp_path):
            pytest.fail("two demos hold one folder")
    finally:
        first.release()
    assert str(info.value) == (
        f"another helios demo (process {os.getpid()}) is running in {tmp_path} (it holds "
        f"{tmp_path / '.helios-demo.lock'}); wait for it to end, or pass another --run-dir"
    )


# ---------------------------------------------------------------------- atomic writes


def test_the_marker_and_the_pictures_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []

    def spy(path: Path, write: Any, **options: Any) -> Path:
        written.append(path)
        return write_atomic(path, write, **options)

    monkeypatch.setattr("helios.atomic.write_atomic", spy)
    monkeypatch.setattr(plots, "write_atomic", spy)
    _mark(tmp_path)
    figure = Figure()
    figure.add_subplot().plot([1, 2], [3, 4])
    plots.save(figure, tmp_path / "picture.png")
    assert written == [tmp_path / MARKER, tmp_path / "picture.png"]
    assert (tmp_path / "picture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "picture.png"]


# ---------------------------------------------------------------------- the stored settings


def _settings(run_dir: Path, epochs: int = 4, seed: int = 3) -> study.DemoSettings:
    run_dir.mkdir(exist_ok=True)
    return study.DemoSettings(run_dir=run_dir, trials=1, epochs=epochs, seed=seed, device="cpu")


def _tuner(settings: study.DemoSettings) -> study.Tuner:
    plugin: Any = object
    return study.Tuner(settings, plugin, lambda s, n: s.ask())


def _raw_study(settings: study.DemoSettings) -> optuna.Study:
    return optuna.create_study(
        storage=settings.storage, study_name=study.STUDY_NAME, direction="maximize"
    )


def _changed(settings: study.DemoSettings, epochs: int, seed: int) -> str:
    return (
        f"the study in {settings.run_dir / 'study.db'} was tuned with --epochs {epochs} --seed "
        f"{seed}, and this run asks for --epochs {settings.epochs} --seed {settings.seed}; rerun "
        f"with --epochs {epochs} --seed {seed} to resume it, or add --fresh to start over"
    )


def test_the_settings_are_stored_in_one_attribute(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "run")
    assert _tuner(settings).study.user_attrs == {"demo-settings": {"epochs": 4, "seed": 3}}
    assert _tuner(settings).study.user_attrs == {"demo-settings": {"epochs": 4, "seed": 3}}
    with pytest.raises(DemoError) as info:
        _tuner(_settings(tmp_path / "run", seed=4))
    assert str(info.value) == _changed(_settings(tmp_path / "run", seed=4), 4, 3)


def test_a_study_of_an_older_demo_keeps_its_two_attributes(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "run")
    old = _raw_study(settings)
    old.set_user_attr("epochs", 4)
    old.set_user_attr("seed", 3)
    old.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, intermediate_values={1: 0.5}))
    assert len(_tuner(settings).study.trials) == 1  # the same settings: resumed
    changed = _settings(tmp_path / "run", epochs=5)
    with pytest.raises(DemoError) as info:
        _tuner(changed)
    assert str(info.value) == _changed(changed, 4, 3)


def test_a_run_killed_while_storing_the_old_attributes_is_not_blamed_on_seed_none(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "run", epochs=5, seed=7)
    _raw_study(settings).set_user_attr("epochs", 4)  # killed before "seed" was written
    tuner = _tuner(settings)  # no trials yet: the settings are simply stored
    assert tuner.study.user_attrs["demo-settings"] == {"epochs": 5, "seed": 7}


def test_trials_without_their_settings_are_refused_with_fresh(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "run")
    old = _raw_study(settings)
    old.set_user_attr("epochs", 4)
    old.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, intermediate_values={1: 0.5}))
    with pytest.raises(DemoError) as info:
        _tuner(settings)
    assert str(info.value) == (
        f"the study in {tmp_path / 'run' / 'study.db'} holds trials but not the --epochs and "
        "--seed they were tuned with; add --fresh to start over"
    )


# ---------------------------------------------------------------------- the curves


def test_the_curves_title_counts_only_the_trials_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    curve = {1: 0.8, 2: 0.9}
    trials = [
        create_trial(state=TrialState.COMPLETE, value=0.9, intermediate_values=curve),
        create_trial(state=TrialState.COMPLETE, value=0.95, intermediate_values={1: 0.9, 2: 0.95}),
        create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.5}),
        create_trial(state=TrialState.FAIL, intermediate_values={1: 0.4}),
        create_trial(state=TrialState.RUNNING, intermediate_values={1: 0.6}),
    ]
    for number, trial in enumerate(trials):
        trial.number = number
    figures: list[Figure] = []

    def keep(figure: Figure, path: Path) -> Path:
        figures.append(figure)
        return path

    monkeypatch.setattr(plots, "save", keep)
    plots.plot_curves(trials, trials[1], 2, tmp_path / plots.CURVES)
    [figure] = figures
    suptitle: Any = figure.get_suptitle()
    assert suptitle == "Validation accuracy epoch by epoch: 3 trials (2 completed, 1 pruned)"

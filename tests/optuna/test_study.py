"""Study helpers: create_or_load_study survives the creation race of a fresh database, and
create_study_starting_from_trial rewinds a SQLite study on a copy."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from helios_optuna import (
    StudyCreationError,
    checkpoint_sampler,
    create_or_load_study,
    create_study_starting_from_trial,
    restore_sampler,
    sampler_checkpoints,
)
from helios_optuna import study as study_module

JOB = Path(__file__).with_name("study_job.py")
RACERS = 4


def race(url: str, *, helper: bool, racers: int = RACERS) -> list[dict[str, Any]]:
    """Start ``racers`` processes, wait until each is ready (imports done), release them with
    one line each on their stdin (the barrier), and return what each reports."""
    config = json.dumps({"url": url, "helper": helper})
    processes = [
        subprocess.Popen(
            [sys.executable, str(JOB), "race", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(racers)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.communicate()[1]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _studies(path: Path) -> list[str]:
    return sorted(s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{path}"))


def test_racing_processes_on_a_fresh_sqlite_file_all_get_the_study(tmp_path: Path) -> None:
    reports = race(f"sqlite:///{tmp_path / 'fresh.db'}", helper=True)
    assert reports == [{"ok": True, "study": "race"}] * RACERS
    assert _studies(tmp_path / "fresh.db") == ["race"]


@pytest.mark.xfail(
    reason="optuna issue 1092: plain create_study(load_if_exists=True) can lose the creation "
    "race on a fresh database (whether it does in one run depends on scheduling)",
    strict=False,
)
def test_plain_optuna_can_lose_the_same_race(tmp_path: Path) -> None:
    reports = race(f"sqlite:///{tmp_path / 'fresh.db'}", helper=False)
    assert [r for r in reports if not r["ok"]] == []


def test_the_race_is_retried_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that keeps answering with the race's error ends in a clear error."""
    calls = []

    def always_racing(**kwargs: Any) -> optuna.Study:
        calls.append(kwargs)
        raise sqlalchemy.exc.OperationalError(
            "CREATE TABLE studies", {}, sqlite3.OperationalError("table studies already exists")
        )

    monkeypatch.setattr(optuna, "create_study", always_racing)
    monkeypatch.setattr(study_module, "_MAX_WAIT_S", 0.0)
    url = "postgresql://tuner:secret@db.example.org/optuna"
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(StudyCreationError) as caught:
        create_or_load_study(storage=storage, study_name="s", load_if_exists=True)
    assert len(calls) == study_module.CREATE_ATTEMPTS == 10
    assert str(caught.value) == (
        f"could not create or load study 's' in 'sqlite:///{tmp_path / 'db.sqlite'}': 10 "
        "attempts met the database being created by another process, the last with "
        "OperationalError: (sqlite3.OperationalError) table studies already exists; check that "
        "the database is reachable and not being rebuilt, then start the process again"
    )
    assert "secret" not in study_module._shown(sqlalchemy.engine.make_url(url))


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    (tmp_path / "not-a-db.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlalchemy.exc.DatabaseError, match="not a database"):
        create_or_load_study(
            storage=f"sqlite:///{tmp_path / 'not-a-db.sqlite'}", study_name="s", load_if_exists=True
        )


def test_load_if_exists_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="load_if_exists") as caught:
        create_or_load_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    assert str(caught.value) == (
        "create_or_load_study needs load_if_exists=True (found None): it creates the study or "
        "loads the one that exists; pass load_if_exists=True"
    )


@pytest.mark.parametrize(
    ("storage", "found"),
    [(None, "None (in-memory storage)"), (optuna.storages.InMemoryStorage(), "InMemoryStorage")],
)
def test_rdb_storage_is_required(storage: Any, found: str) -> None:
    with pytest.raises(TypeError) as caught:
        create_or_load_study(storage=storage, load_if_exists=True)
    assert str(caught.value) == (
        f"create_or_load_study needs the study in RDB storage (a URL or "
        f"optuna.storages.RDBStorage), found {found}; pass storage='sqlite:///study.db' (or a "
        "postgresql:// or mysql:// URL)"
    )


def test_a_storage_string_that_is_no_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not a database URL") as caught:
        create_or_load_study(storage="study.db", load_if_exists=True)
    assert str(caught.value) == (
        "create_or_load_study: storage 'study.db' is not a database URL; pass an RDB URL such "
        "as 'sqlite:///study.db' or 'postgresql://user@host/db'"
    )


def test_an_rdb_storage_object_works_and_loads_the_same_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = create_or_load_study(storage=url, study_name="s", load_if_exists=True)
    first.enqueue_trial({"x": 1.0})
    again = create_or_load_study(
        storage=optuna.storages.RDBStorage(url), study_name="s", load_if_exists=True
    )
    assert [t.state for t in again.trials] == [TrialState.WAITING]


def test_backups_of_the_study_and_the_samplers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    samplers = tmp_path / "samplers"
    study = create_or_load_study(storage=url, study_name="s", load_if_exists=True)
    checkpoint_sampler(study.ask(), samplers)
    for _ in range(2):
        create_or_load_study(samplers, True, True, storage=url, study_name="s", load_if_exists=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "samplers",
        "samplers_bkp-0",
        "samplers_bkp-1",
        "tune.db",
        "tune_bkp-0.db",
        "tune_bkp-1.db",
    ]
    assert _studies(tmp_path / "tune_bkp-1.db") == ["s"]
    assert list(sampler_checkpoints(tmp_path / "samplers_bkp-0")) == [0]


def test_a_backup_of_a_database_server_is_refused() -> None:
    with pytest.raises(ValueError, match="backs up SQLite files only") as caught:
        create_or_load_study(
            backup_study=True,
            storage="postgresql://tuner:secret@db.example.org/optuna",
            load_if_exists=True,
        )
    assert str(caught.value) == (
        "create_or_load_study(backup_study=True) backs up SQLite files only, found storage "
        "'postgresql://tuner:***@db.example.org/optuna'; back a database server up with its "
        "own tools (pg_dump, mysqldump) and pass backup_study=False"
    )


def test_a_checkpointed_sampler_of_another_type_replaces_the_given_one_with_a_warning(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    study = create_or_load_study(storage=url, study_name="s", load_if_exists=True)
    checkpoint_sampler(study.ask(), tmp_path / "samplers")  # the default: TPE
    same = create_or_load_study(
        tmp_path / "samplers",
        storage=url,
        study_name="s",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=1),
    )
    assert isinstance(same.sampler, optuna.samplers.TPESampler)
    with pytest.warns(UserWarning, match="replaces the RandomSampler") as caught:
        other = create_or_load_study(
            tmp_path / "samplers",
            storage=url,
            study_name="s",
            load_if_exists=True,
            sampler=optuna.samplers.RandomSampler(seed=1),
        )
    assert isinstance(other.sampler, optuna.samplers.TPESampler)
    assert [str(w.message) for w in caught] == [
        "the sampler checkpoint holds a TPESampler, which replaces the RandomSampler passed as "
        "sampler; to start the new sampler afresh, move the sampler checkpoints away (or pass "
        "sampler_path=None)"
    ]


# --- create_study_starting_from_trial ---------------------------------------------------------


def _tuned(tmp_path: Path, trials: int = 6) -> tuple[str, Path, list[dict[str, Any]]]:
    """A study of ``trials`` TPE trials with sampler checkpoints, plus another study in the file."""
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    samplers = tmp_path / "samplers"
    study = create_or_load_study(
        storage=url,
        study_name="s",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=2),
    )
    study.set_user_attr("owner", "me")
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", -1, 1)
        trial.report(x, 0)
        study.tell(trial, x * x)
        checkpoint_sampler(trial, samplers)
    optuna.create_study(storage=url, study_name="other").enqueue_trial({"y": 1})
    return url, samplers, [t.params for t in study.trials]


def test_starting_from_a_trial_keeps_the_earlier_ones_and_samples_on(tmp_path: Path) -> None:
    url, samplers, params = _tuned(tmp_path)
    before = {t.number: t for t in optuna.load_study(study_name="s", storage=url).trials}
    study = create_study_starting_from_trial(
        4,
        sampler_path=samplers,
        storage=url,
        study_name="s",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=2),
    )
    kept = study.trials
    assert [t.number for t in kept] == [0, 1, 2, 3]
    for trial in kept:
        old = before[trial.number]
        assert (trial.params, trial.values, trial.intermediate_values, trial.datetime_start) == (
            old.params,
            old.values,
            old.intermediate_values,
            old.datetime_start,
        )
    assert study.user_attrs == {"owner": "me"}
    other = optuna.load_study(study_name="other", storage=url)  # untouched
    assert [t.state for t in other.trials] == [TrialState.WAITING]
    assert list(sampler_checkpoints(samplers)) == [0, 1, 2, 3]
    # trial 4 again: the sampler of trial 3's checkpoint draws what trial 4 drew
    assert study.ask().suggest_float("x", -1, 1) == params[4]["x"]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["samplers", "samplers_bkp-0", "tune.db", "tune_bkp-0.db"]  # no temp files
    assert (
        len(
            optuna.load_study(
                study_name="s", storage=f"sqlite:///{tmp_path / 'tune_bkp-0.db'}"
            ).trials
        )
        == 6
    )


def test_a_failure_midway_leaves_study_and_samplers_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, samplers, _ = _tuned(tmp_path)
    database = (tmp_path / "tune.db").read_bytes()

    def failing_replace(source: Any, target: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(study_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        create_study_starting_from_trial(
            2, False, False, samplers, storage=url, study_name="s", load_if_exists=True
        )
    monkeypatch.undo()
    assert (tmp_path / "tune.db").read_bytes() == database
    assert list(sampler_checkpoints(samplers)) == [0, 1, 2, 3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samplers", "tune.db"]
    assert sorted(p.name for p in samplers.iterdir()) == [
        f"sampler_trial-{n}.pkl" for n in range(6)
    ]
    assert restore_sampler(samplers) is not None


def test_starting_from_a_trial_needs_a_sqlite_file() -> None:
    with pytest.raises(ValueError, match="rewrites a study kept in a SQLite file") as caught:
        create_study_starting_from_trial(
            1, storage="postgresql://tuner:secret@db.example.org/optuna", load_if_exists=True
        )
    assert str(caught.value) == (
        "create_study_starting_from_trial rewrites a study kept in a SQLite file, found storage "
        "'postgresql://tuner:***@db.example.org/optuna'; use storage='sqlite:///path/study.db' "
        "(for a database server, copy the kept trials into a new study with optuna.copy_study "
        "and study.add_trials)"
    )


@pytest.mark.parametrize("bad", [-1, True, 1.0])
def test_starting_from_a_trial_needs_a_trial_number(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match="must be a trial number") as caught:
        create_study_starting_from_trial(
            bad, storage=f"sqlite:///{tmp_path / 's.db'}", load_if_exists=True
        )
    assert str(caught.value) == (
        f"create_study_starting_from_trial: trial_id must be a trial number (an int >= 0), "
        f"found {bad!r}; trials numbered below it are kept"
    )
    assert os.listdir(tmp_path) == []


# --- helios.plugins.optuna hands the helpers on, through the manifest checks -----------------


def test_the_documented_module_hands_on_the_helpers() -> None:
    import helios.plugins.optuna as documented
    import helios_optuna
    from helios.plugins._host.first_party import by_id

    row = by_id("optuna")
    assert row is not None
    assert set(row.helpers) <= set(helios_optuna.__all__)
    assert documented.__all__ == [row.class_name, *row.helpers]
    for name in row.helpers:
        assert getattr(documented, name) is getattr(helios_optuna, name)
    with pytest.raises(AttributeError) as caught:
        documented.sampler_checkpoints  # noqa: B018 - ours, not upstream's: not handed on
    assert str(caught.value) == (
        "module 'helios.plugins.optuna' has no attribute 'sampler_checkpoints'; it hands on "
        "OptunaPlugin, StudyArgs, checkpoint_sampler, create_or_load_study, "
        "create_study_starting_from_trial, restore_sampler (the rest of helios-optuna is in "
        "helios_optuna)"
    )


def _import_helper_in_a_process(tmp_path: Path, env: dict[str, str]) -> list[str]:
    script = (
        "import sys\n"
        "try:\n"
        "    from helios.plugins.optuna import create_or_load_study\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "    print(exc)\n"
        "print(sorted({'helios_optuna', 'optuna', 'torch'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_an_incompatible_plugin_hands_on_no_helper_and_imports_nothing(tmp_path: Path) -> None:
    old = tmp_path / "old-optuna" / "optuna-3.6.0.dist-info"
    old.mkdir(parents=True)
    (old / "METADATA").write_text("Metadata-Version: 2.1\nName: optuna\nVersion: 3.6.0\n")
    lines = _import_helper_in_a_process(tmp_path, {"PYTHONPATH": str(old.parent)})
    assert lines[0] == "PluginIncompatibleError"
    assert "requires optuna>=4.0, found optuna 3.6.0" in "\n".join(lines)
    assert lines[-1] == "[]"


def test_a_disabled_plugin_hands_on_no_helper(tmp_path: Path) -> None:
    lines = _import_helper_in_a_process(tmp_path, {"HELIOS_PLUGINS_DISABLE": "optuna"})
    assert lines[:2] == [
        "PluginNotApplicableError",
        "helios.plugins.optuna.create_or_load_study cannot be used here: the plug-in 'optuna' "
        "does not apply on this machine, so its code was never imported:",
    ]
    assert "disabled" in "\n".join(lines)
    assert lines[-1] == "[]"


def test_starting_from_a_trial_without_a_study_name_returns_the_rewound_study(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    study = create_or_load_study(storage=url, study_name="x", load_if_exists=True)
    for k in range(4):
        study.enqueue_trial({"x": float(k)})
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", -9, 9))
    rewound = create_study_starting_from_trial(
        2, storage=url, load_if_exists=True, backup_study=False
    )
    assert (rewound.study_name, [t.params["x"] for t in rewound.trials]) == ("x", [0.0, 1.0])
    assert _studies(tmp_path / "tune.db") == ["x"]  # no new, empty study beside it


def test_a_rewind_and_a_backup_keep_the_file_s_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "a#b"  # URI syntax in the path: the file itself is copied
    folder.mkdir()
    database = folder / "tune.db"
    url = f"sqlite:///{database}"
    study = create_or_load_study(storage=url, study_name="s", load_if_exists=True)
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    database.chmod(0o640)
    create_study_starting_from_trial(1, storage=url, study_name="s", load_if_exists=True)
    assert stat.S_IMODE(database.stat().st_mode) == 0o640
    backup = folder / "tune_bkp-0.db"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640
    kept = optuna.load_study(study_name="s", storage=f"sqlite:///{backup}").trials
    assert len(kept) == 3  # the backup is of this file, before the rewind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b"]  # nothing else opened

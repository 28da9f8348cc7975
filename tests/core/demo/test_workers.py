"""``helios demo --workers N`` and ``--storage URL``: worker processes on one study, one bar,
Ctrl-C and a killed worker, resume; bad counts and URLs refused with the fix."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

from helios.cli import MAX_DEMO_WORKERS, main
from support.studydb import trials

TINY = ("--epochs", "2", "--seed", "3")
WORKERS_LINE = re.compile(
    r"^workers: (\d+) processes \(pids (\d+), (\d+)\), one trial at a time", re.MULTILINE
)


def demo(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m helios demo --run-dir RUN_DIR ARGS`` to the end; a hang fails after 300 s."""
    return subprocess.run(
        [sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _pids(out: str) -> list[int]:
    """The worker process ids from the command's ``workers:`` line."""
    found = WORKERS_LINE.search(out)
    assert found is not None, out
    return [int(found[2]), int(found[3])]


def _gone(pid: int) -> bool:
    """True when process ``pid`` has ended: it no longer exists, or it is a zombie that the
    process which adopted it (its parent was killed) has not reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"  # the state follows the command's name


def _bars(err: str) -> list[str]:
    """The progress bar's frames in stderr (tqdm redraws a line with carriage returns)."""
    return [frame.strip() for frame in re.split(r"[\r\n]", err) if frame.strip()]


def test_two_workers_tune_one_study_with_one_bar(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = demo(run_dir, "--trials", "4", *TINY, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    pids = _pids(proc.stdout)
    assert os.getpid() not in pids and len(set(pids)) == 2
    assert all(_gone(pid) for pid in pids)

    rows = trials(run_dir)
    # 4 trials < the pruner's 5 startup trials: each one completes both epochs.
    assert [(t["number"], t["state"]) for t in rows] == [(n, "COMPLETE") for n in range(4)]
    assert all(sorted(t["steps"]) == [0, 1] and t["value"] == t["steps"][1] for t in rows)
    lines = re.findall(r"^trial +(\d+): completed 2/2 epochs, ", proc.stdout, re.MULTILINE)
    assert sorted(map(int, lines)) == [0, 1, 2, 3]  # one line per trial, in the order they ended
    assert "tuned 4 trial(s) in " in proc.stdout
    assert re.search(r"^best trial: \d, validation accuracy", proc.stdout, re.MULTILINE)
    assert (run_dir / "validation-curves.png").stat().st_size > 0
    assert (run_dir / "optimisation-history.png").stat().st_size > 0
    # One bar, in this process: every frame on stderr is the "tuning" bar, ending at 4/4.
    frames = _bars(proc.stderr)
    assert frames and all(frame.startswith("tuning: ") for frame in frames), proc.stderr
    assert " 4/4 " in frames[-1]


def test_a_study_is_shared_through_storage_and_fresh_deletes_it_there(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    database = tmp_path / "elsewhere" / "study.db"
    database.parent.mkdir()
    url = f"sqlite:///{database}"
    proc = demo(run_dir, "--trials", "2", *TINY, "--workers", "2", "--storage", url)
    assert proc.returncode == 0, proc.stderr
    # Shown whole, however deep the temporary folder is (CI's paths are longer than a laptop's).
    assert f"study: '{url}' (2 trials of up to 2 epochs" in proc.stdout
    assert not (run_dir / "study.db").exists()
    assert len(trials(database)) == 2

    again = demo(run_dir, "--trials", "1", *TINY, "--fresh", "--storage", url)
    assert again.returncode == 0, again.stderr
    assert f"--fresh: deleted the study helios-demo from '{url}'\n" in again.stdout
    assert [(t["number"], t["state"]) for t in trials(database)] == [(0, "COMPLETE")]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_paused(run_dir: Path, stderr: IO[str], *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the demo with trial 1 paused before epoch 2; returns it and its output so far,
    read until both the workers line and the pause line came (the events the tests wait for)."""
    from helios.demo.study import PAUSE_ENV, pause_line

    first = subprocess.Popen(
        [sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, PAUSE_ENV: "1:2"},
        preexec_fn=_default_sigint,  # Ctrl-C as in a terminal (see test_demo)
    )
    assert first.stdout is not None
    printed: list[str] = []
    hang = threading.Timer(300, first.kill)  # only bounds a hang: EOF ends the loop below
    hang.start()
    try:
        for line in first.stdout:  # blocks until the demo prints, or ends at its exit
            printed.append(line)
            text = "".join(printed)
            if pause_line(1, 2) + "\n" in printed and WORKERS_LINE.search(text):
                break
    finally:
        hang.cancel()
    return first, "".join(printed)


def test_ctrl_c_stops_every_worker_and_a_rerun_resumes(tmp_path: Path) -> None:
    from helios.demo.study import pause_line

    run_dir = tmp_path / "run"
    args = ("--trials", "3", "--epochs", "4", "--seed", "3", "--workers", "2")
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as stderr:
        first, printed = _start_paused(run_dir, stderr, *args)
        assert pause_line(1, 2) in printed, printed
        first.send_signal(signal.SIGINT)  # to the command only: it passes it on to its workers
        out, _ = first.communicate(timeout=120)
        stderr.seek(0)
        err = stderr.read()
    assert first.returncode == 130, (printed + out, err)
    assert all(_gone(pid) for pid in _pids(printed + out))
    left = re.search(r"interrupted \(trials? left running: ([0-9, ]+)\); run the same", err)
    assert left is not None, err
    before = trials(run_dir)
    running = [t["number"] for t in before if t["state"] == "RUNNING"]
    assert [int(n) for n in left[1].split(", ")] == running
    assert 1 in running
    assert all(t["state"] in ("COMPLETE", "RUNNING") for t in before)
    assert sorted(next(t for t in before if t["number"] == 1)["steps"]) == [0]

    second = demo(run_dir, *args)
    assert second.returncode == 0, second.stderr
    assert re.search(r"^trial  1: completed 4/4 epochs, .* \(resumed\)$", second.stdout, re.M)
    after = trials(run_dir)
    assert [(t["number"], t["state"]) for t in after] == [(n, "COMPLETE") for n in range(3)]
    resumed = after[1]
    assert resumed["start"] == before[1]["start"]  # the same trial, continued
    assert sorted(resumed["steps"]) == [0, 1, 2, 3]
    assert resumed["steps"][0] == before[1]["steps"][0]


def test_a_killed_worker_stops_the_others_with_a_clear_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ("--trials", "3", "--epochs", "4", "--seed", "3", "--workers", "2")
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as stderr:
        first, printed = _start_paused(run_dir, stderr, *args)
        pids = _pids(printed)
        _kill(*pids)  # the paused worker, and the other one if it still runs
        out, _ = first.communicate(timeout=120)
        stderr.seek(0)
        err = stderr.read()
    assert first.returncode == 1, (printed + out, err)
    message = re.search(
        r"^helios: error: worker ([01]) \(process (\d+)\) ended( in trial \d+)? with exit status "
        r"-9 and no message; the other workers were stopped, and their trials are left "
        r"running: run the same command again to resume them$",
        err,
        re.MULTILINE,
    )
    assert message is not None, err
    assert int(message[2]) == pids[int(message[1])]

    second = demo(run_dir, *args)  # the documented fix: run it again
    assert second.returncode == 0, second.stderr
    after = trials(run_dir)
    assert [(t["number"], t["state"]) for t in after] == [(n, "COMPLETE") for n in range(3)]


def test_workers_of_a_killed_command_stop_and_a_rerun_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ("--trials", "3", "--epochs", "4", "--seed", "3", "--workers", "2")
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as stderr:
        first, printed = _start_paused(run_dir, stderr, *args)
        pids = _pids(printed)
        first.kill()  # SIGKILL: the command cannot pass anything on
        first.wait(timeout=60)
        assert first.stdout is not None
        # The workers hold the same stdout: EOF comes once the last of them has ended.
        killed: list[int] = []

        def kill_left() -> None:  # bounds a hang only, and fails the test
            killed.extend(pids)
            _kill(*pids)

        hang = threading.Timer(300, kill_left)
        hang.start()
        try:
            first.stdout.read()
        finally:
            hang.cancel()
            first.stdout.close()
    assert not killed, "the workers outlived their command"
    assert all(_gone(pid) for pid in pids)
    before = trials(run_dir)
    assert next(t for t in before if t["number"] == 1)["state"] == "RUNNING"

    second = demo(run_dir, *args)
    assert second.returncode == 0, second.stderr
    assert re.search(r"^trial  1: completed 4/4 epochs, .* \(resumed\)$", second.stdout, re.M)
    after = trials(run_dir)
    assert [(t["number"], t["state"]) for t in after] == [(n, "COMPLETE") for n in range(3)]


def test_a_failing_trial_in_a_worker_ends_the_command_with_its_traceback(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "helios-demo.json").write_text('{"written-by": "helios demo"}\n', encoding="utf-8")
    (run_dir / "checkpoints").write_text("", encoding="utf-8")  # the trainers' run_dir: a file
    proc = demo(run_dir, "--trials", "2", "--epochs", "1", "--seed", "3", "--workers", "2")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback (most recent call last):" in proc.stderr
    failed = re.search(
        r"^helios: error: worker ([01]) \(process (\d+)\) failed in trial ([01]): (\S+): .+ "
        r"\(its traceback is above\); the other workers were stopped, and their trials are "
        r"left running: run the same command again to resume them$",
        proc.stderr,
        re.MULTILINE,
    )
    assert failed is not None, proc.stderr
    assert failed[4].endswith("Error")
    assert int(failed[2]) in _pids(proc.stdout)
    states = {t["number"]: t["state"] for t in trials(run_dir)}
    assert states[int(failed[3])] == "FAIL"  # told by the worker before it reported
    assert set(states.values()) <= {"FAIL", "RUNNING"}


def _kill(*pids: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0", "expected a positive integer, found '0'"),
        ("-2", "expected a positive integer, found '-2'"),
        ("two", "expected a positive integer, found 'two'"),
        (
            "9" * 60,
            "expected a positive integer of at most 20 digits, found '"
            + "9" * 40
            + "'... (60 characters)",
        ),
        (
            "33",
            "at most 32 worker processes, found '33': each one is a Python process with its "
            "own torch (hundreds of MB of memory), and more workers than CPU cores only take "
            "turns; pass --workers 32 or fewer (one per CPU core is fastest)",
        ),
    ],
)
def test_a_bad_worker_count_is_refused_with_the_fix(
    value: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert MAX_DEMO_WORKERS == 32
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--run-dir", str(tmp_path / "run"), "--workers", value])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(f"helios demo: error: argument --workers: {error}\n")
    assert not (tmp_path / "run").exists()


EXPECTED = (
    "expected sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DATABASE or "
    "mysql://USER:PASSWORD@HOST/DATABASE (a driver may follow the name: postgresql+psycopg2://); "
    "or leave --storage out for the SQLite file in --run-dir"
)
IN_MEMORY = (
    "is an in-memory SQLite database, which each of the 2 worker processes would see empty and "
    "alone; pass a SQLite file (sqlite:///PATH) or a database server's URL, or leave --storage "
    "out for the SQLite file in --run-dir"
)


@pytest.mark.parametrize(
    ("url", "workers", "error"),
    [
        ("redis://localhost/0", "1", f"'redis://localhost/0' is not a database URL helios demo "
         f"can use: {EXPECTED}"),
        ("postgres://ana:s3cret@db/tune", "1", "'postgres://ana:***@db/tune' is not a database "
         f"URL helios demo can use: {EXPECTED}"),
        ("study.db", "1", f"'study.db' is not a database URL helios demo can use: {EXPECTED}"),
        ("sqlite:///\x1b[2J.db", "1", "'sqlite:///\\x1b[2J.db' is not a database URL helios demo "
         f"can use: {EXPECTED}"),
        ("sqlite://host/study.db", "1", "'sqlite://host/study.db' names a host, but SQLite reads "
         "a file: write sqlite:///relative/path.db or sqlite:////absolute/path.db"),
        ("sqlite://", "2", f"'sqlite://' {IN_MEMORY}"),
        ("sqlite:///:memory:", "2", f"'sqlite:///:memory:' {IN_MEMORY}"),
        ("sqlite:///file:x?mode=memory&uri=true", "2",
         f"'sqlite:///file:x?mode=memory&uri=true' {IN_MEMORY}"),
        ("sqlite:///" + "a" * 2100, "1", "--storage is 2,110 characters long, expected a "
         "database URL of at most 2,048; pass a shorter URL, or leave --storage out for the "
         "SQLite file in --run-dir"),
    ],
)  # fmt: skip
def test_a_bad_storage_url_is_refused_with_the_fix(
    url: str, workers: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert main(["demo", "--run-dir", str(run_dir), "--workers", workers, "--storage", url]) == 1
    prefix = "" if error.startswith("--storage") else "--storage "
    assert capsys.readouterr().err == f"helios: error: {prefix}{error}\n"
    assert not run_dir.exists()  # refused before anything is written


# ---------------------------------------------------------------------- the pieces, in process
def test_urls_are_shown_without_their_password_and_in_memory_sqlite_is_recognised() -> None:
    from helios.demo.storage import in_memory, shown_url

    assert (
        shown_url("postgresql://ana:s3cret@db:5432/tune") == "'postgresql://ana:***@db:5432/tune'"
    )
    assert shown_url("mysql+pymysql://ana:@db/tune") == "'mysql+pymysql://ana:***@db/tune'"
    assert shown_url("postgresql://ana@db/tune") == "'postgresql://ana@db/tune'"  # no password
    assert shown_url("postgresql://ana:se/cret@db/t") == "'postgresql://ana:***@db/t'"  # a "/"
    assert shown_url("sqlite:////tmp/a:b@c.db") == "'sqlite:////tmp/a:b@c.db'"  # a path, kept
    deep = "sqlite:///" + "/deep" * 60 + "/study.db"  # 319 characters: a path is shown whole
    assert shown_url(deep) == f"'{deep}'"
    assert shown_url("sqlite:///" + "x" * 2000).endswith("... (2,010 characters)")
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?cache=shared",
                "sqlite+pysqlite:///file:x?mode=memory&uri=true"):  # fmt: skip
        assert in_memory(url), url
    for url in ("sqlite:///study.db", "sqlite:////tmp/study.db", "postgresql://h/:memory:"):
        assert not in_memory(url), url


def test_a_database_that_cannot_be_opened_names_the_url_and_the_fix(tmp_path: Path) -> None:
    from helios.demo import DemoError
    from helios.demo.storage import open_storage

    url = f"sqlite:///{tmp_path / 'missing' / 'study.db'}"  # its folder does not exist
    with pytest.raises(DemoError) as info:
        open_storage(url)
    assert str(info.value) == (
        f"--storage '{url}': cannot open the study's database ((sqlite3.OperationalError) "
        "unable to open database file); check that the file's folder exists and is writable"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("pg8000") is not None, reason="the pg8000 driver is installed"
)
def test_a_missing_database_driver_names_the_package_to_install() -> None:
    from helios.demo import DemoError
    from helios.demo.storage import open_storage

    with pytest.raises(DemoError) as info:
        open_storage("postgresql+pg8000://ana:s3cret@127.0.0.1:9/tune")
    assert str(info.value) == (
        "--storage 'postgresql+pg8000://ana:***@127.0.0.1:9/tune' needs the database driver "
        "pg8000, which is not installed; pip install pg8000"
    )


def test_a_server_error_that_repeats_the_password_is_shown_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No database server here: the storage fails as a driver does when it echoes the URL.
    import optuna.storages
    from sqlalchemy.exc import OperationalError

    from helios.demo import DemoError
    from helios.demo.storage import open_storage

    def refuse(url: str, **options: Any) -> None:
        raise OperationalError("connect", {}, Exception(f"no route to {url}\nmore detail"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    with pytest.raises(DemoError) as info:
        open_storage("postgresql://ana:s3cret@10.0.0.9/tune")
    assert "s3cret" not in str(info.value)
    assert str(info.value) == (
        "--storage 'postgresql://ana:***@10.0.0.9/tune': cannot open the study's database "
        "((builtins.Exception) no route to postgresql://ana:***@10.0.0.9/tune); check that the "
        "server runs and the URL's user, password, host and database are right"
    )


def test_the_plan_resumes_interrupted_trials_first() -> None:
    from helios.demo.workers import plan

    assert plan([4, 7], 2) == [("resume", 4), ("resume", 7), ("new", -1), ("new", -1)]
    assert plan([], 0) == []

"""Distributed tuning on a real PostgreSQL server: concurrent workers, a DDP trial, a killed
worker resumed by another process.

The server is this session's private one (``support/postgres.py``: ``pgserver``, driver
``psycopg2``); each test gets a database of its own. Workers are real processes
(``postgres_job``); the tests synchronise with them on lines they print at known points, never
on time.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

from support import postgres as private
from support.postgres import NOT_DURABLE, REQUIRE_ENV, PrivatePostgres

needs_server = pytest.mark.postgres

HERE = Path(__file__).parent
TESTS = HERE.parent
#: A process still running after this long has hung: it is killed and the test fails.
HANG_S = 300

postgres_server = private.postgres_server  # the session's private server


@pytest.fixture
def pg_url(postgres_server: PrivatePostgres, request: pytest.FixtureRequest) -> str:
    """A fresh database of the session's server, named after the test, as a SQLAlchemy URL."""
    return postgres_server.new_database(re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:63])


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _command(run_dir: Path, config: dict[str, Any]) -> list[str]:
    config = {"run_dir": str(run_dir), **config}
    return [sys.executable, "-W", "error", "-m", "postgres_job", json.dumps(config)]


class Job:
    """A ``postgres_job`` process the test talks to: lines on its stdin and stdout."""

    def __init__(self, run_dir: Path, **config: Any) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = run_dir / f"{config['name']}.stderr"
        with open(self.stderr_path, "w", encoding="utf-8") as stderr:
            self.proc = subprocess.Popen(
                _command(run_dir, config),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=_env(),
            )
        self.watchdog = threading.Timer(HANG_S, self.proc.kill)  # a hang fails, not blocks
        self.watchdog.start()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def expect(self, prefix: str) -> str:
        """The next line the job prints, which must start with ``prefix``."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}:\n{self.stderr}"
        return line.strip()

    def send(self, line: str) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def wait(self) -> int:
        """Wait for the job to end (stdin closed first); its exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait()
        self.watchdog.cancel()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
def jobs() -> Iterator[Callable[..., Job]]:
    """``jobs(run_dir, **config)`` starts a job; any still running at the end is killed."""
    started: list[Job] = []

    def start(run_dir: Path, **config: Any) -> Job:
        started.append(Job(run_dir, **config))
        return started[-1]

    yield start
    for job in started:
        if job.proc.poll() is None:
            job.proc.kill()
        job.wait()


def run(run_dir: Path, **config: Any) -> tuple[int, str]:
    """Run a job to its end, nothing on its stdin; its exit status and stderr."""
    proc = subprocess.run(
        _command(run_dir, config),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=HANG_S,
        check=False,
    )
    return proc.returncode, proc.stderr


def evidence(run_dir: Path, name: str) -> dict[int, dict[str, Any]]:
    """What the job ``name`` wrote down about each of its trials, by trial number."""
    data = json.loads((run_dir / f"{name}.json").read_text(encoding="utf-8"))
    return {int(number): trial for number, trial in data.items()}


def test_without_its_packages_the_set_skips_or_fails_as_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("pgserver", "psycopg2"):  # as if not installed (cells without the group)
        monkeypatch.setitem(sys.modules, name, None)
    reason = private.postgres_missing()
    assert reason == (
        "the PostgreSQL tests need pgserver and psycopg2, not installed here: "
        "pip install --group postgres (pgserver and psycopg2-binary)"
    )
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        private.unavailable(reason)
    assert (
        str(skipped.value) == f"{reason} (set HELIOS_TESTS_POSTGRES=require to make this a failure)"
    )
    monkeypatch.setenv(REQUIRE_ENV, "require")
    with pytest.raises(pytest.fail.Exception) as failed:
        private.unavailable(reason)
    assert (
        str(failed.value) == f"{reason} (HELIOS_TESTS_POSTGRES=require: nox -s tests installs them)"
    )
    monkeypatch.setenv(REQUIRE_ENV, "yes\n" + "x" * 60)  # shown: its first 40 characters, escaped
    with pytest.raises(pytest.fail.Exception) as bad:
        private.unavailable(reason)
    assert str(bad.value) == (
        f"HELIOS_TESTS_POSTGRES='yes\\n{'x' * 36}'... is not one of "
        "require, skip; set HELIOS_TESTS_POSTGRES=require to fail when PostgreSQL cannot run, "
        "or unset it to skip"
    )


@needs_server
def test_the_server_is_a_real_postgresql(postgres_server: PrivatePostgres) -> None:
    assert postgres_server.version.startswith("PostgreSQL ")
    assert postgres_server.url("x").startswith("postgresql+psycopg2://postgres:@/x?host=/")
    assert [postgres_server.setting(s) for s in NOT_DURABLE] == ["off"] * len(NOT_DURABLE)
    bad = (
        "test database name 'Bad-name': expected [a-z][a-z0-9_]{0,62} (lowercase letters, "
        "digits and underscores, a letter first, at most 63)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(bad)}$"):
        postgres_server.new_database("Bad-name")
    postgres_server.new_database("twice")
    taken = "test database 'twice' exists already on this server: pick another"
    with pytest.raises(ValueError, match=f"^{re.escape(taken)}$"):
        postgres_server.new_database("twice")


@needs_server
def test_a_server_that_does_not_start_fails_with_its_log() -> None:
    private.need_packages()
    root = Path(tempfile.mkdtemp(prefix="helios-postgres-test-"))
    data = root / "data"
    try:
        data.mkdir()
        (data / "PG_VERSION").write_text("16\n", encoding="utf-8")  # never initialised
        with pytest.raises(private.PostgresUnavailable) as failed, private.private_postgres(root):
            pass
    finally:
        shutil.rmtree(root)
    message = str(failed.value)
    version = importlib.metadata.version("pgserver")
    assert message.startswith(
        f"pgserver {version} could not start PostgreSQL in {data}: CalledProcessError: Command "
    )
    assert message.endswith(
        f"; {data / 'log'} ends:\npostgres: could not access the server configuration file "
        f'"{data / "postgresql.conf"}": No such file or directory\n'
    )


WORKERS, TRIALS_EACH, CYCLES, PRUNE_AT = 4, 3, 3, 1


@needs_server
def test_four_workers_optimise_one_study_concurrently(
    tmp_path: Path, pg_url: str, jobs: Callable[..., Job]
) -> None:
    # No study yet: the workers, released together, race to create it (create_or_load_study).
    names = [f"worker-{k}" for k in range(WORKERS)]
    workers = [
        jobs(
            tmp_path,  # one run_dir for all: trials keep apart by their checkpoints' names
            mode="worker",
            name=name,
            storage=pg_url,
            study="shared",
            n_trials=TRIALS_EACH,
            total=CYCLES,
            prune={"cycle": PRUNE_AT},  # even-numbered trials are pruned at step 1
            barrier=True,
        )
        for name in names
    ]
    for worker in workers:  # every worker has started...
        worker.expect("ready")
    for worker in workers:  # ... before any creates the study or asks a trial
        worker.send("go")
    codes = [worker.wait() for worker in workers]
    assert codes == [0] * WORKERS, "\n".join(w.stderr for w in workers)

    trials = optuna.load_study(study_name="shared", storage=pg_url).trials
    assert [t.number for t in trials] == list(range(WORKERS * TRIALS_EACH))
    assert Counter(t.user_attrs["worker"] for t in trials) == dict.fromkeys(names, TRIALS_EACH)
    seen: dict[int, dict[str, Any]] = {}
    for name in names:
        seen.update(evidence(tmp_path, name))
    assert sorted(seen) == [t.number for t in trials]  # each trial ran in one worker
    for trial in trials:
        calls = seen[trial.number]["calls"]
        # Every report a worker made is in the database, bitwise, and nothing else is.
        assert trial.intermediate_values == {step: value for step, value in calls["report"]}
        assert trial.params == seen[trial.number]["params"]
        if trial.number % 2 == 0:
            assert trial.state is TrialState.PRUNED
            assert [s for s, _ in calls["report"]] == list(range(PRUNE_AT + 1))
            assert calls["should_prune"] == [False] * PRUNE_AT + [True]
        else:
            assert trial.state is TrialState.COMPLETE
            assert [s for s, _ in calls["report"]] == list(range(CYCLES))
            assert calls["should_prune"] == [False] * CYCLES
            assert trial.value == trial.intermediate_values[CYCLES - 1]


@needs_server
def test_a_ddp_trial_attaches_to_a_postgresql_study(
    tmp_path: Path,
    pg_url: str,
    run_job: Callable[..., Any],
    evidence: Callable[..., dict[str, Any]],
) -> None:
    study = optuna.create_study(storage=pg_url, study_name="ddp")
    trial = study.ask()
    proc = run_job(
        tmp_path,
        storage=pg_url,
        study="ddp",
        trial=trial.number,
        world_size=2,
        total=3,
        prune={"cycle": 1, "numbers": [trial.number]},
    )
    assert proc.returncode == 0, proc.stderr
    rank0, rank1 = evidence(tmp_path, 0), evidence(tmp_path, 1)
    # Rank 0 alone reported, once per validation cycle, and asked the pruner after each.
    assert rank0["calls"] == {
        "report": [[c, v] for c, v in rank0["cycle_metrics"]],
        "should_prune": [False, True],
    }
    assert rank1["calls"] == {"report": [], "should_prune": []}
    for rank in (rank0, rank1):  # both stopped after cycle 1: the decision reached rank 1
        assert [c for c, _ in rank["cycle_metrics"]] == [0, 1]
        assert rank["pruned"] and rank["trial"] == trial.number

    stored = optuna.load_study(study_name="ddp", storage=pg_url).trials[0]
    assert stored.state is TrialState.PRUNED
    assert stored.intermediate_values == dict(rank0["cycle_metrics"])
    assert rank0["suggested"] == rank1["suggested"] == stored.params


@needs_server
def test_a_killed_worker_s_trial_is_resumed_by_another_process(
    tmp_path: Path, pg_url: str, jobs: Callable[..., Job]
) -> None:
    study = optuna.create_study(storage=pg_url, study_name="resume")
    study.enqueue_trial({"lr": 0.01, "hidden": 16})  # fixed: an unseeded draw may diverge to NaN
    config = {"storage": pg_url, "study": "resume", "total": 4, "checkpoint_every": 2}
    killed = tmp_path / "killed"
    # 8 batches an epoch: cycles 0, 1, 2 are reported at batches 8, 16, 24, the newest
    # checkpoint is epoch 2's (batch 16), and the worker holds at batch 28 until killed.
    worker = jobs(killed, mode="worker", name="worker", n_trials=1, hold_at=28, **config)
    number = int(worker.expect("held ").split()[1])
    worker.proc.send_signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL

    stored = optuna.load_study(study_name="resume", storage=pg_url).trials[number]
    assert stored.state is TrialState.RUNNING
    assert sorted(stored.intermediate_values) == [0, 1, 2]
    checkpoints = sorted(p.name for p in killed.glob("*.pth"))
    assert len(checkpoints) == 1 and checkpoints[0].endswith("_step000000016.pth"), checkpoints

    # Another process, the documented way: attach_trial(study, number), the same run_dir.
    code, stderr = run(killed, mode="resume", name="resume", trial=number, **config)
    assert code == 0, stderr  # -W error: no warning about cycle 2 either
    resumed = evidence(killed, "resume")[number]
    assert [c for c, _ in resumed["cycles"]] == [2, 3]  # from epoch 2's checkpoint
    assert [s for s, _ in resumed["calls"]["report"]] == [3]  # cycle 2 was stored already

    study.enqueue_trial(stored.params)  # the same hyper-parameters, never interrupted
    reference = tmp_path / "reference"
    code, stderr = run(reference, mode="worker", name="worker", n_trials=1, **config)
    assert code == 0, stderr
    (uninterrupted_number,) = evidence(reference, "worker")

    trials = optuna.load_study(study_name="resume", storage=pg_url).trials
    again, uninterrupted = trials[number], trials[uninterrupted_number]
    assert again.state is uninterrupted.state is TrialState.COMPLETE
    assert again.params == uninterrupted.params == stored.params
    assert again.intermediate_values == uninterrupted.intermediate_values  # bitwise floats
    assert again.value == uninterrupted.value == again.intermediate_values[3]
    weights = [
        torch.load(killed / f"params-{number}.pt", weights_only=True),
        torch.load(reference / f"params-{uninterrupted_number}.pt", weights_only=True),
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

"""``helios demo`` in fresh processes: a small study, its outputs, resume, --fresh, errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.cli import main
from support.studydb import trials

SMALL = ("--epochs", "4", "--seed", "3")
PNG = b"\x89PNG\r\n\x1a\n"


def demo(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m helios demo --run-dir RUN_DIR ARGS`` to the end; a hang fails after 300 s."""
    return subprocess.run(
        [sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (which must come first)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One small study (3 trials of 4 epochs), shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    return run_dir, demo(run_dir, "--trials", "3", *SMALL)


def test_a_small_study_is_tuned_tested_and_drawn(
    first_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, proc = first_run
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # The load report comes first, with the CUDA plug-in's verdict for this machine.
    assert out.startswith("helios demo: tune a digit classifier")
    report = re.search(r"^ID\s+DISTRIBUTION\s+STATUS\s+REASON$", out, re.MULTILINE)
    assert report is not None
    assert report.start() < out.index("trial  0:")
    assert re.search(r"^optuna\s+helios-optuna \S+\s+ok\s+ready$", out, re.MULTILINE)
    if torch.cuda.is_available():
        assert re.search(r"^cuda\s+helios-cuda \S+\s+ok\s+ready$", out, re.MULTILINE)
        assert "device: cuda (helios-cuda moves the batches to the GPU)" in out
    else:
        assert re.search(r"^cuda\s+helios-cuda \S+\s+not applicable\s+device-", out, re.MULTILINE)
        assert "device: cpu (helios-cuda is not applicable here: device-" in out

    rows = trials(run_dir)
    assert [(t["number"], t["state"]) for t in rows] == [(n, "COMPLETE") for n in range(3)]
    assert all(sorted(t["steps"]) == [0, 1, 2, 3] for t in rows)  # one per epoch, from 0
    assert all(t["value"] == t["steps"][3] for t in rows)
    best = max(rows, key=lambda t: (t["value"], -t["number"]))
    assert f"best trial: {best['number']}, validation accuracy {best['value']:.4f}" in out
    tested = re.search(
        rf"^test accuracy of trial {best['number']}'s weights: (0\.\d{{4}}) "
        r"\((\d+) of 359 held-out test images\)$",  # the fixed split
        out,
        re.MULTILINE,
    )
    assert tested is not None, out
    assert float(tested[1]) == pytest.approx(int(tested[2]) / 359, abs=1e-4)
    assert float(tested[1]) > 0.5  # 4 epochs: far from chance (0.1), not yet tuned

    printed = re.findall(r"^  (/\S+\.png)  \(", out, re.MULTILINE)
    expected = [run_dir / "validation-curves.png", run_dir / "optimisation-history.png"]
    assert [Path(p) for p in printed] == [p.resolve() for p in expected]
    for path in expected:
        width, height = png_size(path)
        assert width > 600 and height > 400
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints == [f"digits_helios-demo_trial-{n}_step{4 * 34:09d}.pth" for n in range(3)]


def test_fresh_starts_over_and_keeps_files_it_did_not_write(
    first_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(first_run[0], run_dir)
    (run_dir / "notes.txt").write_text("mine", encoding="utf-8")
    proc = demo(run_dir, "--trials", "1", "--fresh", *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert (
        "--fresh: removed study.db, validation-curves.png, optimisation-history.png, "
        f"checkpoints/ from {run_dir}\n" in proc.stdout
    )
    assert "resuming" not in proc.stdout
    assert [(t["number"], t["state"]) for t in trials(run_dir)] == [(0, "COMPLETE")]
    assert (run_dir / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        f"digits_helios-demo_trial-0_step{4 * 34:09d}.pth"
    ]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_study_resumes_its_trials_and_the_running_one(tmp_path: Path) -> None:
    from helios.demo.study import PAUSE_ENV, pause_line

    run_dir = tmp_path / "run"
    args = ("--trials", "3", "--epochs", "12", "--seed", "3")
    # The test-only hook stops trial 1 before its third epoch (two epochs reported, a
    # checkpoint written) until a signal comes: the demo cannot finish first.
    env = {**os.environ, PAUSE_ENV: "1:3"}
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as stderr:
        first = subprocess.Popen(
            [sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            # Ctrl-C as in a terminal: a run started in the background (nohup, `&` in a script)
            # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
            preexec_fn=_default_sigint,
        )
        assert first.stdout is not None
        hang = threading.Timer(300, first.kill)  # only bounds a hang: EOF ends the loop below
        hang.start()
        printed: list[str] = []
        try:
            for line in first.stdout:  # blocks until the demo prints, or ends at its exit
                printed.append(line)
                if line == pause_line(1, 3) + "\n":
                    first.send_signal(signal.SIGINT)  # Ctrl-C, while trial 1 waits for it
                    break
            out, _ = first.communicate(timeout=60)
        finally:
            hang.cancel()
        stderr.seek(0)
        err = stderr.read()
    assert printed and printed[-1] == pause_line(1, 3) + "\n", ("".join(printed), err)
    assert first.returncode == 130, (out, err)
    assert "interrupted (trial left running: 1); run the same command again to resume" in err
    before = trials(run_dir)
    assert [t["state"] for t in before] == ["COMPLETE", "RUNNING"]
    assert sorted(before[0]["steps"]) == list(range(12))
    assert sorted(before[1]["steps"]) == [0, 1]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        f"digits_helios-demo_trial-0_step{12 * 34:09d}.pth",
        f"digits_helios-demo_trial-1_step{2 * 34:09d}.pth",
    ]

    second = demo(run_dir, *args)
    assert second.returncode == 0, second.stderr
    assert (
        "resuming: the study holds 1 finished trial(s) and 1 interrupted one(s) ([1]); "
        "1 new trial(s) to reach --trials 3" in second.stdout
    )
    assert re.search(r"^trial  1: completed 12/12 epochs, .* \(resumed\)$", second.stdout, re.M)
    after = trials(run_dir)
    assert [(t["number"], t["state"]) for t in after] == [(n, "COMPLETE") for n in range(3)]
    assert after[0] == before[0]  # kept as it was
    assert after[1]["start"] == before[1]["start"]  # the same trial, continued
    assert sorted(after[1]["steps"]) == list(range(12))
    assert {s: after[1]["steps"][s] for s in before[1]["steps"]} == before[1]["steps"]


def test_bad_input_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--trials", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "helios demo: error: argument --trials: expected a positive integer, found '0'\n"
    )

    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    assert main(["demo", "--run-dir", str(a_file)]) == 1
    assert capsys.readouterr().err == (
        f"helios: error: --run-dir {a_file} is a file, expected a folder (new, empty, or one an "
        "earlier helios demo wrote); pass another --run-dir\n"
    )

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (foreign / name).write_text("", encoding="utf-8")
    assert main(["demo", "--run-dir", str(foreign)]) == 1
    assert capsys.readouterr().err == (
        f"helios: error: --run-dir {foreign} holds files that helios demo did not write (a.txt, "
        "b.txt, c.txt, ...) and no helios-demo.json; pass a new or empty folder, or the folder "
        "of an earlier helios demo\n"
    )

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / "\x1b[31mred").write_text("", encoding="utf-8")  # a terminal escape in a name
    assert main(["demo", "--run-dir", str(hostile)]) == 1
    assert capsys.readouterr().err == (
        f"helios: error: --run-dir {hostile} holds files that helios demo did not write "
        "(\\x1b[31mred) and no helios-demo.json; pass a new or empty folder, or the folder of "
        "an earlier helios demo\n"
    )


def test_a_missing_extra_names_the_install_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from helios.demo import run

    monkeypatch.setitem(run.EXTRAS, "surely_absent_module", "surely-absent")
    assert main(["demo", "--run-dir", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == (
        "helios: error: helios demo needs surely-absent, which is not installed; install the "
        "demo extra: pip install 'helios-trainer[demo]' (from a checkout: pip install "
        "'./core[demo]')\n"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--run-dir", str(tmp_path / "run"), "--device", "cuda"]) == 1
    captured = capsys.readouterr()
    assert "cuda    helios-cuda" in captured.out  # the report came first
    assert captured.err.startswith(
        "helios: error: --device cuda needs the CUDA plug-in, and it is not applicable here "
        "(device-"
    )
    assert captured.err.rstrip().endswith("; or use --device cpu")
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_changed_setting_is_refused_instead_of_mixing_studies(
    first_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(first_run[0], run_dir)
    proc = demo(run_dir, "--trials", "3", "--epochs", "5", "--seed", "3")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"helios: error: the study in {run_dir / 'study.db'} was tuned with --epochs 4 --seed 3, "
        "and this run asks for --epochs 5 --seed 3; rerun with --epochs 4 --seed 3 to resume "
        "it, or add --fresh to start over\n"
    )
    assert len(trials(run_dir)) == 3


def test_the_demo_is_imported_only_when_it_runs() -> None:
    code = "import sys; from helios.cli import main; main(['plugins', 'list']); print(sorted(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    modules = proc.stdout.splitlines()[-1]
    assert "helios.demo" not in modules and "'torch'" not in modules


def test_auto_device_names_the_kind_of_a_cuda_plugin_it_cannot_use() -> None:
    from types import SimpleNamespace

    from helios.demo import DemoError
    from helios.demo.run import _device
    from helios.plugins._host.verdicts import Kind, Reason

    class Report:
        def __init__(self, verdict: Any) -> None:
            self.verdict = verdict

        def ids(self) -> list[str]:
            return ["cuda"]

        def __getitem__(self, plugin_id: str) -> Any:
            return self.verdict

    incompatible = SimpleNamespace(
        ok=False,
        kind=Kind.INCOMPATIBLE,
        reason=Reason.INCOMPATIBLE_CORE,
        message="helios-cuda 0.1.0 requires helios-trainer>=9",
        fix="pip install -U helios-cuda",
    )
    report: Any = Report(incompatible)
    assert _device(report, "auto") == ("cpu", "helios-cuda is incompatible here: incompatible-core")
    assert _device(report, "cpu") == ("cpu", "--device cpu")
    with pytest.raises(DemoError) as info:
        _device(report, "cuda")
    assert str(info.value) == (
        "--device cuda needs the CUDA plug-in, and it is incompatible here (incompatible-core): "
        "helios-cuda 0.1.0 requires helios-trainer>=9. Fix: pip install -U helios-cuda; or use "
        "--device cpu"
    )


def test_the_test_only_pause_hook_is_off_unless_set_and_refuses_a_bad_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helios.demo import DemoError
    from helios.demo.study import PAUSE_ENV, _pause_point

    monkeypatch.delenv(PAUSE_ENV, raising=False)
    assert _pause_point() is None
    monkeypatch.setenv(PAUSE_ENV, "")
    assert _pause_point() is None
    monkeypatch.setenv(PAUSE_ENV, "1:3")
    assert _pause_point() == (1, 3)
    for bad, shown in [
        ("1", "'1'"),
        ("1:0", "'1:0'"),
        ("a:3", "'a:3'"),
        ("1:3:x", "'1:3:x'"),
        ("\u0661:3", "'\u0661:3'"),  # an Arabic-Indic digit: ASCII digits only
        ("1:" + "9" * 50, "'1:" + "9" * 38 + "'... (52 characters)"),
        ("1:\x1b[2J", "'1:\\x1b[2J'"),  # escaped, never raw to the terminal
    ]:
        monkeypatch.setenv(PAUSE_ENV, bad)
        with pytest.raises(DemoError) as info:
            _pause_point()
        assert str(info.value) == (
            f"HELIOS_DEMO_TEST_PAUSE is {shown}, expected <trial>:<epoch> (whole numbers, epoch "
            "from 1); it is a test-only setting: unset it"
        )


@pytest.mark.parametrize("kind", ["text", "fifo"])
def test_a_study_file_that_is_not_a_database_is_one_line_and_fresh_fixes_it(
    tmp_path: Path, kind: str
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "helios-demo.json").write_text('{"written-by": "helios demo"}\n', encoding="utf-8")
    study = run_dir / "study.db"
    if kind == "fifo":
        os.mkfifo(study)  # SQLite fails on it at once (a hang would fail after 300 s)
    else:
        study.write_text("not a database at all, just some text\n", encoding="utf-8")
    proc = demo(run_dir, "--trials", "1", "--epochs", "1")
    assert proc.returncode == 1
    reason = (
        "(sqlite3.OperationalError) disk I/O error"
        if kind == "fifo"
        else "(sqlite3.DatabaseError) file is not a database"
    )  # SQLite's words, through SQLAlchemy
    assert proc.stderr == (
        f"helios: error: the study's database {study} cannot be opened ({reason}): it is not "
        "one that helios demo wrote; add --fresh to start over (it removes that file), or pass "
        "another --run-dir\n"
    )

    fresh = demo(run_dir, "--trials", "1", "--epochs", "1", "--fresh")  # the fix it names
    assert fresh.returncode == 0, fresh.stderr
    assert f"--fresh: removed study.db from {run_dir}\n" in fresh.stdout
    assert [t["state"] for t in trials(run_dir)] == ["COMPLETE"]


def test_a_damaged_sqlite_study_file_is_not_called_foreign(tmp_path: Path) -> None:
    """A SQLite file the demo may have written (its header is SQLite's) gets both causes: the
    disk or folder, which --fresh would not fix, and damage, which it does."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "helios-demo.json").write_text('{"written-by": "helios demo"}\n', encoding="utf-8")
    study = run_dir / "study.db"
    study.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    proc = demo(run_dir, "--trials", "1", "--epochs", "1")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"helios: error: the study's database {study} cannot be opened ((sqlite3.DatabaseError) "
        "file is not a database); if its disk is full or its folder read-only, fix that and run "
        "the same command again; if the file is damaged, add --fresh to start over (it removes "
        "that file and its trials)\n"
    )

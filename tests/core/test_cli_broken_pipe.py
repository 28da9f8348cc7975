"""``helios ... | head``: a command whose stdout reader has gone stops quietly with status 141.

Each command writes into a real pipe whose reading end was closed before the command started,
so every write fails with EPIPE, as it does once ``head`` has read its lines and exited. Each
runs with stdout block-buffered (the default for a pipe: the write fails when the command
flushes) and unbuffered (``PYTHONUNBUFFERED=1``: the first write fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helios import cli

PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool that SIGPIPE ended


BUFFERING = pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])


def _into_closed_pipe(command: list[str], cwd: Path, *, buffered: bool) -> tuple[int, str]:
    """Run ``command`` with stdout a pipe nobody reads any more; (exit status, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write
    try:
        proc = subprocess.run(
            command,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


def _helios() -> str:
    script = shutil.which("helios", path=os.path.dirname(sys.executable))
    assert script is not None, f"no helios script next to {sys.executable}"
    return script


@BUFFERING
@pytest.mark.parametrize(
    "args",
    [["plugins", "list", "--json"], ["plugins", "list"], ["plugins", "check", "optuna"]],
    ids=" ".join,
)
def test_the_helios_script_stops_quietly(args: list[str], buffered: bool, tmp_path: Path) -> None:
    code, err = _into_closed_pipe([_helios(), *args], tmp_path, buffered=buffered)
    assert (code, err) == (PIPE_CLOSED, "")


@BUFFERING
def test_python_dash_m_helios_stops_quietly(buffered: bool, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "helios", "plugins", "list"]
    code, err = _into_closed_pipe(command, tmp_path, buffered=buffered)
    assert (code, err) == (PIPE_CLOSED, "")


@BUFFERING
def test_version_stops_quietly(buffered: bool, tmp_path: Path) -> None:
    code, err = _into_closed_pipe([_helios(), "--version"], tmp_path, buffered=buffered)
    assert (code, err) == (PIPE_CLOSED, "")


def test_help_stops_quietly(tmp_path: Path) -> None:
    # Buffered only: unbuffered, argparse itself drops the help it cannot write and exits 0.
    code, err = _into_closed_pipe([_helios(), "--help"], tmp_path, buffered=True)
    assert (code, err) == (PIPE_CLOSED, "")


def test_a_usage_error_still_goes_to_stderr_with_status_2(tmp_path: Path) -> None:
    code, err = _into_closed_pipe([_helios(), "plugins", "lsit"], tmp_path, buffered=True)
    assert code == 2
    assert "invalid choice: 'lsit'" in err


@pytest.mark.torch
@BUFFERING
def test_helios_demo_stops_quietly(buffered: bool, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    command = [_helios(), "demo", "--run-dir", str(tmp_path / "demo"), "--trials", "1"]
    code, err = _into_closed_pipe([*command, "--epochs", "1"], tmp_path, buffered=buffered)
    assert code == PIPE_CLOSED
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_broken_pipe_that_is_not_stdout_keeps_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(argv: object) -> int:
        raise BrokenPipeError(32, "a worker's pipe")

    monkeypatch.setattr(cli, "_run", broken)
    with pytest.raises(BrokenPipeError, match="a worker's pipe"):
        cli.main(["plugins", "list"])


def test_an_open_stdout_pipe_gets_everything(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_helios(), "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("{") and proc.stdout.rstrip().endswith("}")

"""A process for the run-lock tests to hold, block, kill and watch (not a test module).

``python lock_holder.py MODE RUN_DIR`` with ``PYTHONPATH`` holding ``tests/``. Every mode says
what it has done on one stdout line, at a point the test waits for, then (where it blocks)
waits for a line on stdin:

- ``lock``: takes the run lock of ``toy``; ``lock-fork`` also starts a forked child that
  outlives it. Prints ``locked <pid> [<child pid>]``, waits, releases.
- ``fit``: trains ``toy`` (6 steps, a checkpoint each); after step 3 prints ``training <pid>``
  and waits, then trains to the end.
- ``fit-save``: trains ``toy`` and blocks in the middle of writing step 3's checkpoint,
  printing ``writing <pid>``: a writer to SIGKILL.
- ``fit-once``: trains ``toy`` once; prints ``ok <steps trained>`` or
  ``<error type>: <message> (<steps trained>)``.
- ``rank``: one rank of a 2-process run (RANK etc. set by the test): prints
  ``ok <rank> <pid> <lock file text>`` read at the start of training, or the error as above.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

from helios.runlock import RunLock
from helios.trainer import Trainer, TrainingState, TrainingUnit
from support.toy import ToyData, ToyModel


def say(line: str) -> None:
    print(line, flush=True)


def wait() -> None:
    sys.stdin.readline()


def wait_forever(connection: Any) -> None:
    connection.recv()  # nothing is ever sent: blocks until the test kills this process


class PausingModel(ToyModel):
    """Prints ``training <pid>`` after step 3 and waits for the test."""

    def on_training_batch_end(self, state: TrainingState) -> None:
        if state.iteration == 3:
            say(f"training {os.getpid()}")
            wait()


class Blocker:
    """Pickling it tells the test and blocks: a checkpoint write stopped half-way."""

    def __reduce__(self) -> tuple[Any, ...]:
        say(f"writing {os.getpid()}")
        wait()
        return (int, (0,))


class BlockingSaveModel(ToyModel):
    """Its state dict at step 3 holds a :class:`Blocker`."""

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        assert self.trainer is not None
        if self.trainer.state.iteration == 3:
            state["blocker"] = Blocker()
        return state


class LockReportingModel(ToyModel):
    """Reads the run's lock file when training starts (on every rank)."""

    def on_training_start(self) -> None:
        assert self.trainer is not None and self.trainer.run_dir is not None
        lock_file = self.trainer.run_dir / ".toy.lock"
        self.lock_text = lock_file.read_text(encoding="utf-8").split()[0]


def trainer(run_dir: Path, **kwargs: Any) -> Trainer:
    settings: dict[str, Any] = {
        "total": 6,
        "unit": TrainingUnit.ITERATION,
        "checkpoint_every": 1,
        "run_dir": run_dir,
        "device": "cpu",
        "progress": False,
        "dist_timeout_s": 60,
        **kwargs,
    }
    return Trainer(**settings)


def report(model: ToyModel, run: Any) -> None:
    try:
        run()
    except Exception as exc:
        say(f"{type(exc).__name__}: {exc} ({len(model.losses)})")
    else:
        say(f"ok {len(model.losses)}")


def main(mode: str, run_dir: Path) -> None:
    if mode in ("lock", "lock-fork"):
        lock = RunLock.acquire(run_dir, "toy")
        child = ""
        if mode == "lock-fork":
            receive, _send = multiprocessing.get_context("fork").Pipe(duplex=False)
            process = multiprocessing.get_context("fork").Process(
                target=wait_forever, args=(receive,), daemon=False
            )
            process.start()
            child = f" {process.pid}"
        say(f"locked {os.getpid()}{child}")
        wait()
        lock.release()
    elif mode == "fit":
        trainer(run_dir).fit(PausingModel(), ToyData())
    elif mode == "fit-save":
        trainer(run_dir).fit(BlockingSaveModel(), ToyData())
    elif mode == "fit-once":
        model = ToyModel()
        report(model, lambda: trainer(run_dir, checkpoint_every=None).fit(model, ToyData()))
    elif mode == "rank":
        reporting = LockReportingModel()
        rank = os.environ["RANK"]

        def run() -> None:
            trainer(run_dir, total=2).fit(reporting, ToyData())
            say(f"ok {rank} {os.getpid()} {reporting.lock_text}")

        try:
            run()
        except Exception as exc:
            say(f"{type(exc).__name__}: {exc} ({len(reporting.losses)})")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

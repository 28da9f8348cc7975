"""``helios demo --workers N``: trials run in N worker processes that share one study.

The command (the parent) creates the study and checks its settings before any worker starts;
then it starts the workers (``spawn``: a fresh interpreter each, safe with torch and SQLite)
and hands out the work one trial at a time over a pipe per worker: first the trials an
interrupted run left running, then new ones, until ``--trials`` is reached. Workers tell the
parent when a trial starts and ends; the parent alone draws the progress bar and the lines
above it.

Stopping: Ctrl-C (SIGINT) in the parent is forwarded to every worker; a worker leaves its
trial running (resumed by the next run, as in one process) and ends. A worker reacts to the
first SIGINT only, so the terminal's Ctrl-C (which reaches the whole process group) and the
parent's copy count once. A worker whose parent dies (killed) interrupts itself the same way:
it watches a pipe that only the parent holds open. A worker that fails stops the others.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any

from helios.demo import DemoError

if TYPE_CHECKING:
    from helios.demo.study import DemoSettings, Tuner

__all__ = ["STOP_WAIT", "Task", "WorkerPool", "plan"]

#: Seconds a stopping worker gets to end its trial's bookkeeping before it is killed.
STOP_WAIT = 60.0

#: ``("resume", number)`` continues an interrupted trial; ``("new", -1)`` asks a new one.
Task = tuple[str, int]


def plan(interrupted: Iterable[int], new: int) -> list[Task]:
    """The work of one run: the interrupted trials first, then ``new`` new ones."""
    return [("resume", number) for number in interrupted] + [("new", -1)] * new


@dataclass
class _Worker:
    """The parent's view of one worker process."""

    index: int
    process: BaseProcess
    conn: Connection
    lifeline: Connection  # never written: its closing tells the worker the parent is gone
    trial: int | None = None  # the trial it works on
    stopped: bool = False  # told to stop (or interrupted): an exit is expected
    failure: str | None = None  # the traceback it sent
    open: bool = True  # its pipe still delivers messages


@dataclass
class WorkerPool:
    """N workers running :func:`plan`'s tasks on the study of ``settings``.

    :param on_trial: called in the parent with each finished trial's line (for the log).
    """

    settings: DemoSettings
    plugin_ids: list[str]
    count: int
    on_trial: Callable[[str], None]
    workers: list[_Worker] = field(default_factory=list)

    def start(self) -> list[int]:
        """Start the workers; returns their process ids."""
        context = multiprocessing.get_context("spawn")
        for index in range(self.count):
            here, there = context.Pipe()
            life_there, life_here = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(self.settings, self.plugin_ids, index, there, life_there),
                name=f"helios-demo-worker-{index}",
                daemon=False,
            )
            process.start()
            there.close()
            life_there.close()
            self.workers.append(_Worker(index, process, here, life_here))
        return [w.process.pid or 0 for w in self.workers]

    def run(self, tasks: list[Task]) -> None:
        """Hand out ``tasks`` until all are done; Ctrl-C and failures stop every worker."""
        queue = deque(tasks)
        try:
            self._serve(queue)
        except BaseException:  # Ctrl-C here, or a bug: no worker outlives the command
            self.stop(interrupt=True)
            raise
        self.stop(interrupt=False)  # every worker has ended by now: this closes the pipes
        for worker in self.workers:
            if worker.failure is not None:
                raise self._failure(worker)

    def _serve(self, queue: deque[Task]) -> None:
        while any(w.process.exitcode is None or w.open for w in self.workers):
            waiting: list[Any] = [w.conn for w in self.workers if w.open]
            waiting += [w.process.sentinel for w in self.workers if w.process.exitcode is None]
            for ready in wait(waiting):
                worker = next(w for w in self.workers if ready in (w.conn, w.process.sentinel))
                if ready is worker.conn:
                    self._receive(worker, queue)
                else:
                    self._ended(worker)
                if worker.failure is not None:
                    self.stop(interrupt=True)
                    return

    def _ended(self, worker: _Worker) -> None:
        """A worker's process ended: read its last words and judge its exit status."""
        self._drain(worker)
        worker.process.join()
        code = worker.process.exitcode
        if code in (130, -signal.SIGINT) and worker.failure is None:
            raise KeyboardInterrupt  # Ctrl-C reached the worker before the command
        if code != 0 and worker.failure is None:
            worker.failure = ""  # killed, or died without a word

    def _receive(self, worker: _Worker, queue: deque[Task] | None) -> None:
        """Read one message; answer with the next task unless ``queue`` is None."""
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.open = False
            return
        kind = message[0]
        if kind == "started":
            worker.trial = message[1]
        elif kind == "finished":
            worker.trial = None
            self.on_trial(message[1])
        elif kind == "failed":
            worker.failure = message[1]
            worker.stopped = True
            return
        if kind in ("ready", "finished") and queue is not None and not worker.stopped:
            task = queue.popleft() if queue else ("stop", -1)
            worker.stopped = task[0] == "stop"
            _send(worker, task)

    def _drain(self, worker: _Worker) -> None:
        """Read what an ended worker sent (its last trial's line, its failure)."""
        while worker.open and worker.conn.poll():
            self._receive(worker, None)
        worker.open = False

    def stop(self, *, interrupt: bool) -> None:
        """Stop every live worker (``interrupt``: now, with SIGINT; else after its trial) and
        wait for each, at most :data:`STOP_WAIT` s before it is killed."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still wait
        try:
            for worker in self.workers:
                if worker.process.exitcode is None:
                    worker.stopped = True
                    if interrupt and worker.process.pid is not None:
                        os.kill(worker.process.pid, signal.SIGINT)
                    else:
                        _send(worker, ("stop", -1))
            for worker in self.workers:
                worker.process.join(STOP_WAIT)
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()
                self._drain(worker)  # lines of trials that ended just now
        finally:
            signal.signal(signal.SIGINT, previous)
            for worker in self.workers:
                worker.conn.close()
                worker.lifeline.close()

    def _failure(self, worker: _Worker) -> DemoError:
        where = f" in trial {worker.trial}" if worker.trial is not None else ""
        who = f"worker {worker.index} (process {worker.process.pid})"
        if worker.failure:
            print(worker.failure, file=sys.stderr, end="")
            last = worker.failure.strip().splitlines()[-1]
            what = f"failed{where}: {last} (its traceback is above)"
        else:
            what = f"ended{where} with exit status {worker.process.exitcode} and no message"
        return DemoError(
            f"{who} {what}; the other workers were stopped, and their trials are left running: "
            "run the same command again to resume them"
        )


def _send(worker: _Worker, task: Task) -> None:
    try:
        worker.conn.send(task)
    except (BrokenPipeError, OSError):
        worker.open = False  # it is gone; its sentinel says how


# ---------------------------------------------------------------------- in the worker
def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """SIGINT in a worker: a KeyboardInterrupt the first time, nothing after."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _watch_parent(lifeline: Connection) -> None:
    """Interrupt this worker when the parent is gone (the pipe's other end closed)."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()
    os.kill(os.getpid(), signal.SIGINT)


def _worker_main(
    settings: DemoSettings,
    plugin_ids: list[str],
    index: int,
    conn: Connection,
    lifeline: Connection,
) -> None:
    """A worker: load the study, then run the trials the parent sends until told to stop.

    It ends with ``os._exit`` once its output is flushed: every write to the study is
    committed by then, and tearing down torch, Optuna and scikit-learn would cost a second.
    """
    signal.signal(signal.SIGINT, _interrupt_once)
    threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True).start()
    code = _work(settings, plugin_ids, index, conn)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _work(settings: DemoSettings, plugin_ids: list[str], index: int, conn: Connection) -> int:
    """The worker's loop; returns its exit status (0, 130 when interrupted, 1 on failure)."""
    try:
        tuner = _tuner(settings, plugin_ids, index)
        conn.send(("ready",))
        while True:
            kind, number = conn.recv()
            if kind == "stop":
                return 0
            conn.send(("finished", _run(tuner, kind, number, conn)))
    except KeyboardInterrupt:
        return 130  # the trial stays RUNNING: the next run resumes it
    except EOFError:
        return 130  # the parent went away between two trials
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("failed", traceback.format_exc()))
        return 1


def _tuner(settings: DemoSettings, plugin_ids: list[str], index: int) -> Tuner:
    from helios.demo.study import Tuner
    from helios.plugins._host.host import load_plugins

    if settings.device == "cpu":
        import torch

        torch.set_num_threads(1)  # as in the command: the network is tiny
    classes = load_plugins(["optuna", *plugin_ids])  # the manifests are checked here too
    from helios_optuna import attach_trial

    return Tuner(settings, classes["optuna"], attach_trial, plugin_ids, worker=index)


def _run(tuner: Tuner, kind: str, number: int, conn: Connection) -> str:
    """Run one task; returns the finished trial's line for the log."""
    from helios.demo.study import summary

    trial = tuner.attach(tuner.study, number) if kind == "resume" else tuner.study.ask()
    conn.send(("started", trial.number))
    line = summary(tuner.run_trial(trial), tuner.settings.epochs)
    return line + " (resumed)" if kind == "resume" else line

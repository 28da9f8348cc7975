"""``helios demo``: the command behind the ``demo`` subcommand of :mod:`helios.cli`.

Order of work: check the run folder and the extras (fast, before torch is imported), print the
plug-in load report, pick the device from it, load the plug-ins through the manifest-checked
loader, tune (resuming an interrupted study), test the best trial, draw the pictures.
With ``--workers N`` (N > 1) the trials run in N worker processes (:mod:`helios.demo.workers`);
everything else, the progress bar included, stays in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helios.atomic import write_text_atomic
from helios.demo import DemoError
from helios.demo.storage import check_storage, shown_url
from helios.plugins._host.echo import shown
from helios.plugins._host.host import build_report, load_plugins, probe_device
from helios.plugins._host.report import LoadReport
from helios.plugins._host.settings import Settings
from helios.runlock import RunDirError, RunLock, RunLockedError, check_creatable, shown_path

if TYPE_CHECKING:
    from helios.demo.study import DemoSettings, Tuner

__all__ = ["DemoError", "main"]

MARKER = "helios-demo.json"
LOCK_NAME = "helios-demo"
LOCK = f".{LOCK_NAME}.lock"  # held while a demo runs (see helios.runlock)
#: What ``--fresh`` removes: the files and folders the demo writes, nothing else.
OWNED_FILES = (
    "study.db",
    "study.db-journal",
    "study.db-wal",
    "study.db-shm",
    "validation-curves.png",
    "optimisation-history.png",
)
OWNED_DIRS = ("checkpoints",)
#: The files the demo writes atomically (helios.atomic): a demo killed mid-write leaves
#: ``.<name>.<8 hex digits>.tmp``, which the next demo removes while it holds the lock.
ATOMIC_FILES = (MARKER, "validation-curves.png", "optimisation-history.png")
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")
#: The largest --seed: helios.trainer.MAX_SEED, which this torch-free module cannot import.
MAX_SEED = 2**32 - 1
EXTRAS = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "optuna": "optuna"}
INSTALL = "pip install 'helios-trainer[demo]' (from a checkout: pip install './core[demo]')"


def main(args: argparse.Namespace) -> int:
    """Run the demo as ``args`` (from ``helios demo ...``) say; returns the exit status."""
    started = time.monotonic()
    run_dir = Path(args.run_dir)
    workers: int = getattr(args, "workers", 1)
    storage: str | None = getattr(args, "storage", None)
    _check_run_dir(run_dir)
    if not 0 <= args.seed <= MAX_SEED:
        raise DemoError(
            f"--seed must be a whole number from 0 to {MAX_SEED}, found {shown(str(args.seed))}; "
            "pass another --seed"
        )
    if storage is not None:
        check_storage(storage, workers)
    _check_extras()
    print("helios demo: tune a digit classifier (scikit-learn's 8×8 images) with helios-optuna")
    print()
    report = build_report(settings=Settings.from_env(), device=probe_device())
    print(report.render())
    print()
    device, why = _device(report, args.device)
    print(f"device: {device} ({why})")
    plugin_ids = ["cuda"] if device == "cuda" else []
    if device == "cpu":
        import torch

        # The network is tiny: one thread is fastest, and stays fast on a busy machine (several
        # threads per tiny operation mostly wait for each other and for other processes).
        torch.set_num_threads(1)
    classes = load_plugins(["optuna", *plugin_ids])  # checked together, then imported
    from helios.demo import study as demo_study
    from helios_optuna import attach_trial  # imported by the loader just now, checks passed

    with _locked(run_dir):
        if args.fresh:
            _clear(run_dir)
            if storage is not None:
                _delete_study(storage, demo_study.STUDY_NAME)
        _mark(run_dir)
        settings = demo_study.DemoSettings(
            run_dir=run_dir,
            trials=args.trials,
            epochs=args.epochs,
            seed=args.seed,
            device=device,
            storage_url=storage,
            workers=workers,
        )
        tuner = demo_study.Tuner(settings, classes["optuna"], attach_trial, plugin_ids)
        print(
            f"study: {settings.study_place} ({settings.trials} trials of up to "
            f"{settings.epochs} epochs, seed {settings.seed}, median pruning)"
        )
        try:
            _tune(tuner, settings, plugin_ids)
            _results(tuner, settings)
        except KeyboardInterrupt:
            print(_interrupted(tuner.interrupted()), file=sys.stderr)
            return 130
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


# ---------------------------------------------------------------------- checks
def _check_run_dir(run_dir: Path) -> None:
    try:
        check_creatable(run_dir, "--run-dir")
    except RunDirError as exc:
        raise DemoError(str(exc)) from None
    if run_dir.exists() and not run_dir.is_dir():
        raise DemoError(
            f"--run-dir {shown_path(run_dir)} is a file, expected a folder (new, empty, or one "
            "an earlier helios demo wrote); pass another --run-dir"
        )
    if run_dir.is_dir() and not (run_dir / MARKER).exists():
        others = sorted(
            p.name for p in run_dir.iterdir() if p.name != LOCK and not _stale_temporary(p)
        )
        if others:
            # names from the folder: escaped and cut, so no terminal escape reaches the screen
            listed = ", ".join(map(shown, others[:3])) + (", ..." if len(others) > 3 else "")
            raise DemoError(
                f"--run-dir {shown_path(run_dir)} holds files that helios demo did not write "
                f"({listed}) and no {MARKER}; pass a new or empty folder, or the folder of an "
                "earlier helios demo"
            )
    if run_dir.is_dir():  # a demo running there is named now, not after the slow start
        with _locked(run_dir):
            pass


def _check_extras() -> None:
    missing = [dist for module, dist in EXTRAS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise DemoError(
            f"helios demo needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
            f" not installed; install the demo extra: {INSTALL}"
        )


def _device(report: LoadReport, requested: str) -> tuple[str, str]:
    """``cpu`` or ``cuda`` and why, from the load report's verdict on the CUDA plug-in."""
    if requested == "cpu":
        return "cpu", "--device cpu"
    verdict = report["cuda"] if "cuda" in report.ids() else None
    if verdict is None:
        if requested == "cuda":
            raise DemoError(
                "--device cuda needs the CUDA plug-in helios-cuda, which is not installed; "
                "pip install helios-cuda (on a machine with an NVIDIA GPU and a CUDA build of "
                "torch), or use --device cpu"
            )
        return "cpu", "helios-cuda is not installed"
    if not verdict.ok:
        kind = verdict.kind.value.replace("-", " ")  # not applicable, incompatible or broken
        if requested == "cuda":
            raise DemoError(
                f"--device cuda needs the CUDA plug-in, and it is {kind} here "
                f"({verdict.reason.value}): {verdict.message}. Fix: {verdict.fix}; or use "
                "--device cpu"
            )
        return "cpu", f"helios-cuda is {kind} here: {verdict.reason.value}"
    import torch

    if not torch.cuda.is_available():  # e.g. a made-up GPU from HELIOS_FAKE_DEVICE
        if requested == "cuda":
            raise DemoError(
                f"--device cuda: the load report allows helios-cuda, but torch "
                f"{torch.__version__} sees no GPU; unset HELIOS_FAKE_DEVICE or use --device cpu"
            )
        return "cpu", "helios-cuda passed its checks, but torch sees no GPU"
    return "cuda", "helios-cuda moves the batches to the GPU"


# ---------------------------------------------------------------------- the run folder
@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Make ``run_dir`` (writable) and hold its lock, ``<run-dir>/.helios-demo.lock``: one demo
    per folder. The trainer's run lock, so a killed demo releases it too."""
    try:
        lock = RunLock.acquire(run_dir, LOCK_NAME, label="--run-dir")
    except RunDirError as exc:
        raise DemoError(str(exc)) from None
    except RunLockedError as exc:
        who = f" (process {exc.holder})" if exc.holder is not None else ""
        raise DemoError(
            f"another helios demo{who} is running in {shown_path(run_dir)} (it holds "
            f"{shown_path(run_dir / LOCK)}); wait for it to end, or pass another --run-dir"
        ) from None
    with lock:
        for entry in run_dir.iterdir():  # no other demo writes here now: they are stale
            if _stale_temporary(entry):
                entry.unlink(missing_ok=True)
        yield


def _stale_temporary(path: Path) -> bool:
    """Whether ``path`` is the temporary file of an atomic write of the demo (a regular file)."""
    found = _TEMPORARY.fullmatch(path.name)
    return (
        found is not None
        and found["name"] in ATOMIC_FILES
        and path.is_file()
        and not path.is_symlink()
    )


def _mark(run_dir: Path) -> None:
    """Write the marker that says the folder is the demo's (``--fresh`` may clear it)."""
    marker = run_dir / MARKER
    if not marker.exists():
        write_text_atomic(marker, json.dumps({"written-by": "helios demo"}) + "\n")


def _clear(run_dir: Path) -> None:
    removed = [name for name in OWNED_FILES if (run_dir / name).exists()]
    for name in removed:
        (run_dir / name).unlink()
    for name in OWNED_DIRS:
        if (run_dir / name).is_dir():
            shutil.rmtree(run_dir / name)
            removed.append(name + "/")
    print(f"--fresh: removed {', '.join(removed) or 'nothing'} from {run_dir}")


def _delete_study(storage: str, name: str) -> None:
    """``--fresh`` with ``--storage``: delete the demo's study there, if it exists."""
    import optuna

    from helios.demo.storage import open_storage

    database = open_storage(storage)
    if name in {s.study_name for s in optuna.get_all_study_summaries(database)}:
        optuna.delete_study(study_name=name, storage=database)
        print(f"--fresh: deleted the study {name} from {shown_url(storage)}")


def _interrupted(running: list[int]) -> str:
    """What Ctrl-C prints: the trials left running, and how to resume them."""
    if len(running) > 1:
        return (
            f"\ninterrupted (trials left running: {', '.join(map(str, running))}); run the same "
            "command again to resume the study, and those trials from their newest checkpoints"
        )
    return (
        f"\ninterrupted (trial left running: {running[0] if running else 'none'}); run the same "
        "command again to resume the study, and that trial from its newest checkpoint"
    )


# ---------------------------------------------------------------------- tuning and results
def _tune(tuner: Tuner, settings: DemoSettings, plugin_ids: list[str]) -> None:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from helios.demo.study import summary

    interrupted = tuner.interrupted()
    done = tuner.done()
    new = max(settings.trials - done - len(interrupted), 0)
    if done or interrupted:
        print(
            f"resuming: the study holds {done} finished trial(s)"
            + (f" and {len(interrupted)} interrupted one(s) ({interrupted})" if interrupted else "")
            + f"; {new} new trial(s) to reach --trials {settings.trials}"
        )
    bar = tqdm(
        total=done + len(interrupted) + new,
        initial=done,
        desc="tuning",
        unit="trial",
        dynamic_ncols=True,
    )
    started = time.monotonic()
    with bar:
        if settings.workers > 1 and (interrupted or new):
            _tune_in_workers(bar, settings, plugin_ids, interrupted, new)
        else:
            for number in interrupted:
                bar.write(summary(tuner.resume(number), settings.epochs) + " (resumed)")
                bar.update(1)
            for _ in range(new):
                bar.write(summary(tuner.new_trial(), settings.epochs))
                bar.update(1)
    ran = len(interrupted) + new
    print(f"tuned {ran} trial(s) in {time.monotonic() - started:.1f} s")


def _tune_in_workers(
    bar: Any, settings: DemoSettings, plugin_ids: list[str], interrupted: list[int], new: int
) -> None:
    """Run the trials in worker processes; ``bar`` (this process's) counts them."""
    from helios.demo.workers import WorkerPool, plan

    tasks = plan(interrupted, new)
    count = min(settings.workers, len(tasks))

    def finished(line: str) -> None:
        bar.write(line)
        bar.update(1)

    pool = WorkerPool(settings, plugin_ids, count, finished)
    cores = os.cpu_count() or 1
    note = f"; this machine has {cores} CPU cores, so they share them" if count > cores else ""
    if count < settings.workers:
        note += f" (--workers {settings.workers}, but only {len(tasks)} trial(s) to run)"
    try:
        pids = pool.start()
        bar.write(
            f"workers: {count} processes (pids {', '.join(map(str, pids))}), one trial at a "
            f"time each{note}"
        )
        sys.stdout.flush()  # before the workers' own output, if any
    except BaseException:  # Ctrl-C while they start: none of them outlives the command
        pool.stop(interrupt=True)
        raise
    pool.run(tasks)


def _results(tuner: Tuner, settings: DemoSettings) -> None:
    from helios.demo import plots
    from helios.demo.model import describe_params

    result = tuner.test_best()
    best = result.trial
    epochs = max(best.intermediate_values) + 1  # steps are validation cycles, from 0
    print()
    print(
        f"best trial: {best.number}, validation accuracy {best.value:.4f} after {epochs} epochs "
        f"({describe_params(best.params)})"
    )
    correct = round(result.accuracy * result.images)
    print(
        f"test accuracy of trial {best.number}'s weights: {result.accuracy:.4f} "
        f"({correct} of {result.images} held-out test images)"
    )
    trials = tuner.study.get_trials(deepcopy=False)
    curves = plots.plot_curves(trials, best, settings.epochs, settings.run_dir / plots.CURVES)
    history = plots.plot_history(trials, settings.run_dir / plots.HISTORY)
    print("pictures:")
    print(f"  {curves.resolve()}  (validation accuracy per epoch of every trial)")
    print(f"  {history.resolve()}  (each trial's accuracy and the best so far)")
    print("run the same command again to resume or extend the study; --fresh starts over")

"""Benchmark: ``helios demo`` with 1 worker against 2 workers, side by side in one run.

Each variant is the real command, ``python -m helios demo --workers N --device cpu``, on a
fresh run folder (a new SQLite study), with the same ``--trials``, ``--epochs`` and ``--seed``
(defaults: the demo's own, 20 trials of up to 15 epochs). ``--rounds N`` repeats the pair,
the order alternating, and each variant keeps its best round, as timeit does. Printed per
variant: the command's wall time (imports, load report, tuning, testing the best trial,
pictures), the CPU time it and its workers used (``cores`` = CPU time / wall time: on a shared
machine, how much of the cores the run got), its tuning time (the ``tuned N trial(s) in X s`` line), and the epochs it trained
(read from the study: pruning stops trials at different points when trials run in parallel,
so the work differs; the time per epoch trained compares like with like). Ratios are 2 workers
over 1; target: wall time <= 0.7x. The exit status is 0 unless a command fails.

The part of the command that does not run in the workers (imports, the load report, the test
of the best trial, the pictures) cannot shrink: Amdahl's law gives the best wall ratio the
measured parts allow, printed as the "ideal" line.

Run it as ``python bench/demo_workers.py [--trials N] [--epochs N] [--rounds N]`` in an
environment with the demo installed (``pip install './core[demo]' ./plugins/optuna``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET = 0.7
TUNED = re.compile(r"^tuned (\d+) trial\(s\) in ([0-9.]+) s$", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    """One ``helios demo`` command, measured."""

    workers: int
    wall: float
    cpu: float  # user + system time of the command and its workers
    tuning: float
    trials: int
    epochs: int
    pruned: int

    @property
    def per_epoch(self) -> float:
        return self.tuning / max(self.epochs, 1)


def run_demo(workers: int, trials: int, epochs: int, seed: int) -> Run:
    """Run the demo in a fresh folder; its wall time, tuning time and the work it did."""
    with tempfile.TemporaryDirectory(prefix="helios-bench-workers-") as folder:
        run_dir = Path(folder) / "run"
        command = [
            *(sys.executable, "-m", "helios", "demo", "--run-dir", str(run_dir)),
            *("--trials", str(trials), "--epochs", str(epochs), "--seed", str(seed)),
            *("--workers", str(workers), "--device", "cpu"),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers were reaped by then
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            sys.exit(f"helios demo --workers {workers} failed ({proc.returncode}):\n{proc.stderr}")
        tuned = TUNED.search(proc.stdout)
        if tuned is None:
            sys.exit(f"helios demo --workers {workers} printed no 'tuned' line:\n{proc.stdout}")
        with sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True) as db:
            (reported,) = db.execute("SELECT COUNT(*) FROM trial_intermediate_values").fetchone()
            states = [s for (s,) in db.execute("SELECT state FROM trials").fetchall()]
    return Run(
        workers=workers,
        wall=wall,
        cpu=cpu,
        tuning=float(tuned[2]),
        trials=len(states),
        epochs=int(reported),  # one report per epoch trained
        pruned=states.count("PRUNED"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per study (default 20)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per trial (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="the demo's --seed (default 0)")
    parser.add_argument("--rounds", type=int, default=1, help="pairs of runs (default 1)")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"helios demo, 1 vs 2 workers: {args.trials} trials of up to {args.epochs} epochs, seed "
        f"{args.seed}, {args.rounds} round(s); {os.cpu_count()} CPU cores, load {load:.1f} at "
        f"the start; Python {platform.python_version()}"
    )
    best: dict[int, Run] = {}
    for round_ in range(args.rounds):
        for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
            run = run_demo(workers, args.trials, args.epochs, args.seed)
            print(
                f"  round {round_ + 1}, {workers} worker(s): {run.wall:.1f} s "
                f"(tuning {run.tuning:.1f} s)"
            )
            if workers not in best or run.wall < best[workers].wall:
                best[workers] = run
    one, two = best[1], best[2]
    print()
    print(f"{'workers':>8} {'wall s':>8} {'CPU s':>7} {'cores':>6} {'tuning s':>9} "
          f"{'trials':>7} {'pruned':>7} {'epochs':>7} {'s/epoch':>8}")  # fmt: skip
    for run in (one, two):
        print(
            f"{run.workers:>8} {run.wall:>8.1f} {run.cpu:>7.1f} {run.cpu / run.wall:>6.2f} "
            f"{run.tuning:>9.1f} {run.trials:>7} {run.pruned:>7} {run.epochs:>7} "
            f"{run.per_epoch:>8.3f}"
        )
    print("(cores: CPU time over wall time, what the run got of the machine's cores)")
    ratio = two.wall / one.wall
    fixed = one.wall - one.tuning  # what no worker shares: imports, report, test, pictures
    ideal = (fixed + one.tuning / 2) / one.wall
    print()
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"wall time, 2 / 1 workers: {ratio:.2f}x (target <= {TARGET}x: {verdict})")
    print(f"tuning time, 2 / 1 workers: {two.tuning / one.tuning:.2f}x")
    print(f"time per epoch trained, 2 / 1 workers: {two.per_epoch / one.per_epoch:.2f}x")
    print(
        f"ideal wall ratio with {fixed:.1f} s outside the tuning (Amdahl, 2 workers): {ideal:.2f}x"
    )
    if hasattr(os, "getloadavg"):
        print(f"load at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz the manifest validator at length (``nox -s fuzz``); not collected by pytest.

Draws generated, mutated and hostile manifests (the strategies of ``test_manifest_fuzz.py``)
and validates each; prints the seed first, then the number of cases and the time. Exits 1 on
any exception other than ``ManifestError`` (or a malformed answer), 0 otherwise.

    python tests/core/fuzz_manifest.py [--cases 50000] [--seed N] [--jobs 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_manifest_fuzz as strategies


def _cases() -> st.SearchStrategy[tuple[str, str | None]]:
    def dumped(document: dict[str, Any]) -> tuple[str, str | None]:
        return tomli_w.dumps(document), None

    mutated = strategies.mutated().map(lambda text: (text, None))
    hostile = strategies.hostile()
    # generated documents cost four times as much to draw: one case in six is one
    return st.one_of(strategies.DOCUMENTS.map(dumped), mutated, mutated, hostile, hostile, hostile)


def _run(cases: int, seed_value: int) -> tuple[int, str]:
    """Validate ``cases`` drawn texts: (cases run, the failure or "")."""
    count = 0

    @seed(seed_value)
    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # a failure is reported as drawn: no time spent shrinking
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(_cases())
    def check(case: tuple[str, str | None]) -> None:
        nonlocal count
        count += 1
        strategies.hostile_outcome(*case)

    try:
        check()
    except Exception as exc:  # the first failure, re-raised by Hypothesis with the case
        notes = "\n".join(getattr(exc, "__notes__", ()))
        return count, f"{type(exc).__name__}: {exc}\n{notes}"[:4000]
    return count, ""


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--cases", type=int, default=50_000, help="how many (default: 50000)")
    parser.add_argument("--seed", type=int, help="repeat a run (default: a random seed)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, _usable_cpus()),
        help="processes; worker i draws with seed + i (default: up to 4)",
    )
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    jobs = max(1, min(args.jobs, args.cases))
    print(
        f"fuzz: seed {seed_value}, {args.cases:,} cases in {jobs} process(es) "
        f"(repeat with --seed {seed_value} --jobs {jobs})",
        flush=True,
    )
    shares = [args.cases // jobs + (i < args.cases % jobs) for i in range(jobs)]
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        results = pool.starmap(_run, [(n, seed_value + i) for i, n in enumerate(shares)])
    elapsed = time.monotonic() - started
    total = sum(count for count, _ in results)
    failures = [(i, failure) for i, (_, failure) in enumerate(results) if failure]
    for i, failure in failures:
        print(f"fuzz: FAILED in worker {i} (seed {seed_value + i}): {failure}", flush=True)
    verdict = "FAILED" if failures else "every answer was a manifest or a ManifestError"
    print(f"fuzz: {total:,} cases in {elapsed:.1f} s; {verdict}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: manifest-checked discovery (``helios plugins check``) against import-based loading.

For each count N of ``--plugins`` (default 10, 200 and 1000) it builds a throw-away site folder
of real installed distributions (the test fixture factory: the tests' four fixture plug-ins
plus N synthetic ones), then times, each as the best of several fresh interpreters run side by
side (the minimum is the least disturbed by other load on the machine, as timeit does it):

- ``helios plugins check --json`` (manifests and metadata only, no plug-in import);
- a bare ``importlib.metadata.entry_points(group="helios.plugins")`` scan;
- import-based loading, ``ep.load()`` for every entry point (what pluggy/stevedore do);
- an empty interpreter, the start-up floor.

It also times the scan and the report in one process, after a warm-up, without start-up, and
splits the report into its phases, so that the table says where the time goes. The counts are
printed side by side. The numbers are for people: the exit status is 0 unless the benchmark
itself is broken. Run it as ``python bench/discovery.py [--plugins N ...] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

GROUP = "helios.plugins"
SETTINGS_ENV = ("HELIOS_PLUGINS_ONLY", "HELIOS_PLUGINS_DISABLE", "HELIOS_PLUGINS_STRICT")
DEFAULT_COUNTS = (10, 200, 1000)
SMALL = 10  # at most this many synthetic plug-ins: the tighter target
CHECK_TARGET_SMALL = 1.5  # check / bare scan: at most this, for up to SMALL plug-ins
CHECK_TARGET = 2.0  # check / bare scan: at most this, for more
IMPORT_TARGET = 10.0  # import-based / check: at least this, at every count
BROKEN_EXIT = 3  # a child's own status for "this run did not measure what it claims"

# Every child starts like tests/support/plugin_env.py's bootstrap: the fixture site first on
# sys.path, its .pth files processed. argv[1] is the site folder.
_PRELUDE = """\
import site, sys
folder = sys.argv[1]
sys.path.insert(0, folder)
site.addsitedir(folder)
"""

_CHECK = f"""\
from helios.cli import main
code = main(["plugins", "check", "--json"])
unwanted = sorted(m for m in ("torch", "numpy", "helios_trap") if m in sys.modules)
if unwanted:
    print("check imported " + ", ".join(unwanted), file=sys.stderr)
    code = {BROKEN_EXIT}
sys.exit(code)
"""

_SCAN = f"""\
import importlib.metadata, json
eps = list(importlib.metadata.entry_points(group={GROUP!r}))
print(json.dumps({{"entry_points": len(eps)}}))
"""

_IMPORT = f"""\
import importlib.metadata, json
loaded, failed = 0, 0
for ep in importlib.metadata.entry_points(group={GROUP!r}):
    try:
        ep.load()
    except Exception:
        failed += 1
    else:
        loaded += 1
print(json.dumps({{"loaded": loaded, "failed": failed, "torch": "torch" in sys.modules}}))
"""

_IN_PROCESS = f"""\
import importlib, importlib.metadata, json, statistics, time
from helios.plugins._host.host import build_report, discover, probe_device
from helios.plugins._host.manifest import load_manifest
from helios.plugins._host.settings import Settings

repeat = int(sys.argv[2])
settings, device = Settings(), probe_device()

def scan():
    importlib.invalidate_caches()
    return list(importlib.metadata.entry_points(group={GROUP!r}))

def check():
    discover(refresh=True)
    return build_report(settings=settings, device=device)

def phases():
    # the same work as check(), one phase at a time
    marks = [time.perf_counter()]
    found = discover(refresh=True)
    marks.append(time.perf_counter())
    located = [(c.manifest_path, c.package) for c in found]  # cached on the candidate
    marks.append(time.perf_counter())
    for path, package in located:
        if path is not None:
            try:
                load_manifest(path, package=package)
            except Exception:
                pass
    marks.append(time.perf_counter())
    report = build_report(settings=settings, device=device)  # parses the manifests again
    marks.append(time.perf_counter())
    json.dumps(report.to_json())
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])]  # scan, locate, parse, judge, render

scan(), check(), phases()  # warm-up
scan_s, check_s, phase_s = [], [], []
for _ in range(repeat):  # alternate, so drift hits both sides alike
    for fn, times in ((scan, scan_s), (check, check_s), (phases, phase_s)):
        start = time.perf_counter()
        out = fn()
        times.append(out if fn is phases else time.perf_counter() - start)
report = check()
best = [min(p[i] for p in phase_s) for i in range(5)]
best[3] -= best[2]  # the report parses the manifests again: the rest is checks and verdicts
print(json.dumps({{"scan": min(scan_s), "check": min(check_s), "phases": best,
                  "repeat": repeat, "plugins": len(report.verdicts),
                  "heavy": "torch" in sys.modules}}))
"""

#: The phases of the report, as ``_IN_PROCESS`` prints them.
PHASES = (
    "scan: entry_points.txt + METADATA",
    "locate manifests (RECORD / find_spec)",
    "read + validate manifests",
    "checks + verdicts (judge - validate)",
    "render: to_json + json.dumps",
)


def synthetic_module() -> str:
    """The module of one synthetic plug-in, of a real plug-in's import cost, before its
    plug-in class (the fixture factory's).

    It imports torch (once per process: every plug-in shares it, as real ones share their
    framework) and, like a real plug-in's module, defines its own code: an enum, 4 frozen
    dataclasses, 4 helper classes of 8 methods, then the plug-in class: about 320 lines, the
    size of helios-optuna's plugin.py (369 lines). Its own dependencies a real plug-in would
    import (optuna: about 45 ms) are left out, so the import-based times are a lower bound.
    """
    lines = [
        "import dataclasses",
        "import enum",
        "",
        "import torch",
        "",
        "",
        "class Mode(enum.Enum):",
    ]
    lines += [f"    MODE{i} = {i}" for i in range(8)]
    for index in range(4):
        lines += ["", "", "@dataclasses.dataclass(frozen=True)", f"class Config{index}:"]
        lines += [f'    """Settings group {index}."""', ""]
        lines += [f"    field{f}: int = {f}" for f in range(6)]
    for index in range(4):
        lines += ["", "", f"class Helper{index}:", f'    """Helper {index}."""', ""]
        for method in range(8):
            lines += [
                f"    def step{method}(self, value: int, scale: float = 1.0) -> float:",
                f'        """Step {method}."""',
                f"        total = value * scale + {method}",
                "        for _ in range(3):",
                "            total = total / 2 + 1",
                "        return total",
                "",
            ]
    return "\n".join(lines) + "\n\n\n"


@dataclass(frozen=True)
class Fixtures:
    """The fixture site and what a correct run must see in it."""

    site: Path
    ids: frozenset[str]
    importable: int  # plug-ins whose ``ep.load()`` succeeds
    synthetic: int  # of them, those importing torch


@dataclass(frozen=True)
class Case:
    """One timed subprocess command and the check of its output."""

    label: str
    code: str
    validate: Callable[[subprocess.CompletedProcess[str]], str | None]


class BenchError(RuntimeError):
    """The benchmark did not measure what it claims (not a slow result)."""


def build_fixtures(root: Path, synthetic: int) -> Fixtures:
    """The tests' fixture set plus ``synthetic`` plug-ins (:func:`synthetic_module`)."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.distfactory import make_core_dist, make_plugin_dist, plugin_source

    site = root / "site-packages"
    site.mkdir()
    make_core_dist(site, "0.1.0")
    ids = {"good", "tuner", "gpu", "trap"}
    make_plugin_dist(site, "helios-good", "good", class_name="GoodPlugin")
    make_plugin_dist(
        site, "helios-tuner", "tuner", class_name="TunerPlugin", overrides=("should_training_stop",)
    )
    make_plugin_dist(
        site,
        "helios-gpu",
        "gpu",
        class_name="GpuPlugin",
        overrides=("training_batch",),
        device='accelerator = "cuda"',
    )
    make_plugin_dist(
        site,
        "helios-trap",
        "trap",
        init_source="raise RuntimeError('trap: plug-in code ran')\n",
        packages=("surely-absent>=1",),
    )
    for index in range(synthetic):
        plugin_id = f"synth{index:03d}"
        make_plugin_dist(
            site,
            f"helios-synth-{index:03d}",
            plugin_id,
            class_name="SynthPlugin",
            module_source=synthetic_module() + plugin_source("SynthPlugin", plugin_id),
        )
        ids.add(plugin_id)
    compileall.compile_dir(site, quiet=1)  # as pip does on install
    return Fixtures(site, frozenset(ids), importable=len(ids) - 1, synthetic=synthetic)


def _child_env() -> dict[str, str]:
    """This environment, helios importable (installed or from core/src), bytecode cached."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    # An installed helios comes with compiled bytecode (pip compiles on install); let a source
    # checkout cache it too, or every run would compile the core and skew the comparison.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    spec = importlib.util.find_spec("helios")  # top level: executes nothing
    if spec is not None and spec.origin:
        src = Path(spec.origin).resolve().parent.parent
        source_tree = (src.parent / "pyproject.toml").is_file()
    else:
        src, source_tree = REPO / "core" / "src", True
    if source_tree:
        parts = [p for p in (str(src), env.get("PYTHONPATH", "")) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def _run(
    code: str, args: Sequence[str], env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    return time.perf_counter() - start, proc


def _failure(proc: subprocess.CompletedProcess[str], what: str) -> str:
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return f"{what} (exit {proc.returncode}): " + " | ".join(tail)


def _output(proc: subprocess.CompletedProcess[str], what: str) -> Any:
    """The child's stdout as JSON; :class:`BenchError` with its stderr when it is not."""
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise BenchError(_failure(proc, f"{what} printed no JSON")) from None


def cases(fixtures: Fixtures) -> list[Case]:
    """The four subprocess measurements, each with a check that it did its job."""
    total = len(fixtures.ids)

    def check(proc: subprocess.CompletedProcess[str]) -> str | None:
        if proc.returncode not in (0, 1):  # 1: the trap fails its checks, as intended
            return _failure(proc, "helios plugins check failed")
        seen = {p["id"] for p in _output(proc, "helios plugins check")["plugins"]}
        missing = fixtures.ids - seen
        return f"check did not report {sorted(missing)}" if missing else None

    def scan(proc: subprocess.CompletedProcess[str]) -> str | None:
        if proc.returncode != 0:
            return _failure(proc, "the bare scan failed")
        found = _output(proc, "the bare scan")["entry_points"]
        return None if found >= total else f"the bare scan found {found} of {total}"

    def load(proc: subprocess.CompletedProcess[str]) -> str | None:
        if proc.returncode != 0:
            return _failure(proc, "import-based loading failed")
        out = _output(proc, "import-based loading")
        if out["loaded"] < fixtures.importable or out["torch"] != bool(fixtures.synthetic):
            return f"import-based loading loaded {out['loaded']} of {fixtures.importable}: {out}"
        return None

    def empty(proc: subprocess.CompletedProcess[str]) -> str | None:
        return None if proc.returncode == 0 else _failure(proc, "python -c pass failed")

    return [
        Case("empty interpreter (python -c pass)", "pass", empty),
        Case("bare scan: entry_points(group=...)", _PRELUDE + _SCAN, scan),
        Case("helios plugins check --json", _PRELUDE + _CHECK, check),
        Case("import-based: ep.load() for each", _PRELUDE + _IMPORT, load),
    ]


def time_subprocesses(fixtures: Fixtures, repeat: int, env: dict[str, str]) -> dict[str, float]:
    """Median seconds per case; the cases take turns so that drift affects all alike."""
    todo = cases(fixtures)
    times: dict[str, list[float]] = {case.label: [] for case in todo}
    for round_ in range(repeat + 1):  # round 0 warms caches (bytecode, page cache)
        for case in todo:
            elapsed, proc = _run(case.code, [str(fixtures.site)], env)
            problem = case.validate(proc)
            if problem:
                raise BenchError(problem)
            if round_:
                times[case.label].append(elapsed)
    return {label: min(values) for label, values in times.items()}


def time_in_process(fixtures: Fixtures, repeat: int, env: dict[str, str]) -> dict[str, Any]:
    """Scan and report timed in one clean interpreter, without start-up."""
    _, proc = _run(_PRELUDE + _IN_PROCESS, [str(fixtures.site), str(repeat)], env)
    if proc.returncode != 0:
        raise BenchError(_failure(proc, "the in-process measurement failed"))
    out: dict[str, Any] = _output(proc, "the in-process measurement")
    if out["plugins"] < len(fixtures.ids) or out["heavy"]:
        raise BenchError(f"the in-process report is wrong: {out}")
    return out


@dataclass(frozen=True)
class Measured:
    """Everything measured for one count of synthetic plug-ins."""

    fixtures: Fixtures
    sub: dict[str, float]  # case label -> best seconds
    inproc: dict[str, Any]


def check_target(synthetic: int) -> float:
    """The most check / bare scan may be at this count."""
    return CHECK_TARGET_SMALL if synthetic <= SMALL else CHECK_TARGET


def _row(name: str, values: Sequence[str]) -> str:
    return f"  {name:<42}" + "".join(f"{v:>13}" for v in values)


def _ratio(value: float, target: float, at_most: bool) -> str:
    passed = value <= target if at_most else value >= target
    return f"{value:.1f}x {'PASS' if passed else 'MISS'}"


def render(runs: Sequence[Measured], repeat: int) -> str:
    """One table, a column per count: times in ms, the phases, then the ratios and targets."""
    labels = [case.label for case in cases(runs[0].fixtures)]
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = "not installed"
    fixed = len(runs[0].fixtures.ids) - runs[0].fixtures.synthetic
    ms = [f"{r.fixtures.synthetic} synth" for r in runs]
    lines = [
        f"helios discovery benchmark: N synthetic plug-ins (each imports torch and ~320 lines of "
        f"its own) + {fixed} fixture plug-ins; Python {platform.python_version()}, torch {torch}",
        "",
        _row(f"fresh subprocesses, best of {repeat}, ms", ms),
        *(_row(label, [f"{r.sub[label] * 1000:.1f}" for r in runs]) for label in labels),
        _row(f"in one process, best of {runs[0].inproc['repeat']} after warm-up, ms", ms),
        _row(
            "bare scan: entry_points(group=...)", [f"{r.inproc['scan'] * 1000:.1f}" for r in runs]
        ),
        _row(
            "discover(refresh=True) + build_report",
            [f"{r.inproc['check'] * 1000:.1f}" for r in runs],
        ),
        _row("where the time goes (phases of the report), ms", ms),
        *(
            _row(name, [f"{r.inproc['phases'][i] * 1000:.1f}" for r in runs])
            for i, name in enumerate(PHASES)
        ),
        _row(
            "per plug-in: scan / check, in one process, us",
            [
                f"{r.inproc['scan'] * 1e6 / r.inproc['plugins']:.0f} / "
                f"{r.inproc['check'] * 1e6 / r.inproc['plugins']:.0f}"
                for r in runs
            ],
        ),
        "",
        _row("ratio (target)", ms),
    ]
    floor, scan, check, load = ([r.sub[label] for r in runs] for label in labels)
    targets = [check_target(r.fixtures.synthetic) for r in runs]
    lines += [
        _row(
            "check / bare scan (<= " + "/".join(sorted({f"{t:g}x" for t in targets})) + ")",
            [_ratio(c / s, t, True) for c, s, t in zip(check, scan, targets, strict=True)],
        ),
        _row(
            f"import-based / check (>= {IMPORT_TARGET:g}x)",
            [_ratio(ld / c, IMPORT_TARGET, False) for ld, c in zip(load, check, strict=True)],
        ),
        _row(
            "check / bare scan, start-up subtracted",
            [
                f"{(c - f) / (s - f):.1f}x" if s > f else "-"
                for c, s, f in zip(check, scan, floor, strict=True)
            ],
        ),
        _row(
            "check / bare scan, in one process",
            [f"{r.inproc['check'] / r.inproc['scan']:.1f}x" for r in runs],
        ),
    ]
    if len(runs) > 1 and runs[-1].fixtures.synthetic > runs[0].fixtures.synthetic:
        added = runs[-1].fixtures.synthetic - runs[0].fixtures.synthetic
        each = (load[-1] - load[0]) / added * 1000
        lines.append(
            f"  import cost per synthetic plug-in, from the import-based row: {each:.2f} ms"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the fixtures, measure, print; 0 unless the benchmark is broken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--plugins",
        type=int,
        nargs="+",
        default=list(DEFAULT_COUNTS),
        metavar="N",
        help="counts of synthetic plug-ins, each measured in its own site folder "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="fresh subprocesses per measurement (default 5); in-process runs 10x as many",
    )
    args = parser.parse_args(argv)
    if any(n < 0 for n in args.plugins) or args.repeat < 1:
        parser.error("--plugins must be >= 0 and --repeat >= 1")
    try:
        importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        print(
            "bench/discovery.py: torch is not installed here; the plug-ins import it",
            file=sys.stderr,
        )
        return 2
    env = _child_env()
    runs = []
    with tempfile.TemporaryDirectory(prefix="helios-bench-") as tmp:
        for count in sorted(set(args.plugins)):
            root = Path(tmp, f"n{count}")
            root.mkdir()
            fixtures = build_fixtures(root, count)
            try:
                sub = time_subprocesses(fixtures, args.repeat, env)
                inproc = time_in_process(fixtures, args.repeat * 10, env)
            except BenchError as exc:
                print(f"bench/discovery.py: broken: {exc}", file=sys.stderr)
                return 1
            runs.append(Measured(fixtures, sub, inproc))
    print(render(runs, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())

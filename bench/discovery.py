"""Benchmark: manifest-checked discovery (``helios plugins check``) against import-based loading.

Builds a throw-away site folder of real installed distributions (the test fixture factory),
then times, each as the best of several fresh interpreters run side by side (the minimum is
the least disturbed by other load on the machine, as timeit does it):

- ``helios plugins check --json`` (manifests and metadata only, no plug-in import);
- a bare ``importlib.metadata.entry_points(group="helios.plugins")`` scan;
- import-based loading, ``ep.load()`` for every entry point (what pluggy/stevedore do);
- an empty interpreter, the start-up floor.

It also times the scan and the report in one process, after a warm-up, without start-up.
The numbers are for people: the exit status is 0 unless the benchmark itself is broken.
Run it as ``python bench/discovery.py [--plugins N] [--repeat N]``.
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
CHECK_TARGET = 2.0  # check / bare scan: at most this
IMPORT_TARGET = 10.0  # import-based / check: at least this
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
from helios.plugins._host.settings import Settings

repeat = int(sys.argv[2])
settings, device = Settings(), probe_device()

def scan():
    importlib.invalidate_caches()
    return list(importlib.metadata.entry_points(group={GROUP!r}))

def check():
    discover(refresh=True)
    return build_report(settings=settings, device=device)

scan(), check()  # warm-up
scan_s, check_s = [], []
for _ in range(repeat):  # alternate, so drift hits both sides alike
    for fn, times in ((scan, scan_s), (check, check_s)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
report = check()
print(json.dumps({{"scan": min(scan_s), "check": min(check_s),
                  "repeat": repeat, "plugins": len(report.verdicts),
                  "heavy": "torch" in sys.modules}}))
"""


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
    """The tests' fixture set plus ``synthetic`` plug-ins whose module imports torch."""
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
            module_source="import torch\n\n" + plugin_source("SynthPlugin", plugin_id),
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


def _ratio_row(name: str, value: float, target: str = "", passed: bool | None = None) -> str:
    mark = "" if passed is None else ("PASS" if passed else "MISS")
    return f"  {name:<40}{value:>6.1f}x  {target or '(info)':<8}{mark}".rstrip()


def render(fixtures: Fixtures, repeat: int, sub: dict[str, float], inproc: dict[str, Any]) -> str:
    """The table: times in ms, then the ratios with their targets."""
    labels = [case.label for case in cases(fixtures)]
    floor, scan, check, load = (sub[label] for label in labels)
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = "not installed"
    lines = [
        f"helios discovery benchmark: {len(fixtures.ids)} plug-ins ({fixtures.synthetic} "
        f"importing torch), Python {platform.python_version()}, torch {torch}",
        "",
        f"{f'fresh subprocesses, best of {repeat}':<42}{'ms':>8}",
        *(f"  {label:<40}{sub[label] * 1000:>8.1f}" for label in labels),
        f"in one process, best of {inproc['repeat']} after warm-up",
        f"  {'bare scan: entry_points(group=...)':<40}{inproc['scan'] * 1000:>8.1f}",
        f"  {'discover(refresh=True) + build_report':<40}{inproc['check'] * 1000:>8.1f}",
        "",
        f"{'ratio':<42}{'value':>7}  target",
        _ratio_row(
            "check / bare scan", check / scan, f"<= {CHECK_TARGET:g}x", check / scan <= CHECK_TARGET
        ),
        _ratio_row(
            "import-based / check",
            load / check,
            f">= {IMPORT_TARGET:g}x",
            load / check >= IMPORT_TARGET,
        ),
    ]
    if scan > floor:
        net = (check - floor) / (scan - floor)
        lines.append(_ratio_row("check / bare scan, start-up subtracted", net))
    lines.append(_ratio_row("check / bare scan, in one process", inproc["check"] / inproc["scan"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the fixtures, measure, print; 0 unless the benchmark is broken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plugins", type=int, default=50, help="synthetic plug-ins (default 50)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=7,
        help="fresh subprocesses per measurement (default 7); in-process runs 10x as many",
    )
    args = parser.parse_args(argv)
    if args.plugins < 0 or args.repeat < 1:
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
    with tempfile.TemporaryDirectory(prefix="helios-bench-") as tmp:
        fixtures = build_fixtures(Path(tmp), args.plugins)
        try:
            sub = time_subprocesses(fixtures, args.repeat, env)
            inproc = time_in_process(fixtures, args.repeat * 10, env)
        except BenchError as exc:
            print(f"bench/discovery.py: broken: {exc}", file=sys.stderr)
            return 1
    print(render(fixtures, args.repeat, sub, inproc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

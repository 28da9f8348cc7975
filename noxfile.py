"""The CI of the Helios monorepo. ``nox --list`` shows every session.

- ``floor-3.10`` … ``floor-3.13``: the torch-free floor (manifests, discovery, checks, probe,
  report, CLI) on each Python, with torch absent.
- ``tests``: the whole suite on Python 3.11 with torch 2.13.0+cpu.
- ``lint``, ``typecheck``: ruff and mypy.
- ``bench``: the benchmarks (print ratios; not part of the default run).
- ``plugins``: the quick-start job: install the core and report the installed plug-ins.

Interpreters come from pyenv (``PYENV_VERSION=3.11.7:3.10.13:3.12.1:3.13.0``); nox never
downloads one, and a missing interpreter fails the run instead of being skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["floor", "tests", "lint", "typecheck"]

ROOT = Path(__file__).parent
FLOOR_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
MAIN_PYTHON = "3.11"
# A CPU build that lies on the CI machines' disk; never let a resolver pick a plain "torch"
# (that is a CUDA build of several GB).
TORCH = "torch==2.13.0+cpu"
TEST_DEPS = [
    "pytest>=8",
    "hatchling>=1.18",
    "hypothesis>=6.100",
    "jsonschema>=4.18",
    "tomli-w>=1.0",
]
PLUGINS = ["./plugins/cuda", "./plugins/optuna"]
LIGHT_DEPS = ["packaging>=22", "tomli>=1.1; python_version < '3.11'"]


def _pyenv_versions() -> None:
    """Add pyenv's newest 3.10-3.13 to PYENV_VERSION so nox finds every session Python.

    pyenv's shim sets PYENV_VERSION to the running version only; versions already listed
    there are kept, first.
    """
    if shutil.which("pyenv") is None:
        return
    listed = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True)
    newest: dict[str, tuple[int, str]] = {}
    for version in bare.stdout.split():
        match = re.fullmatch(r"(3\.\d+)\.(\d+)", version)
        if match and match.group(1) in FLOOR_PYTHONS:
            patch = int(match.group(2))
            if patch >= newest.get(match.group(1), (-1, ""))[0]:
                newest[match.group(1)] = (patch, version)
    covered = {v.rpartition(".")[0] for v in listed}
    extra = [version for minor, (_, version) in sorted(newest.items()) if minor not in covered]
    if extra:
        os.environ["PYENV_VERSION"] = ":".join(listed + extra)


_pyenv_versions()


def install_core(session: nox.Session, *, torch: bool) -> None:
    """The core, with torch from the local CPU wheel, or without torch at all."""
    if torch:
        session.install(TORCH, "numpy")
        session.install("./core")
    else:
        session.install("--no-deps", "./core")
        session.install(*LIGHT_DEPS)


@nox.session(python=FLOOR_PYTHONS, tags=["fast", "floor"])
def floor(session: nox.Session) -> None:
    """The torch-free floor on every supported Python, torch not installed."""
    install_core(session, torch=False)
    session.install(*TEST_DEPS)
    session.run(
        "python",
        "-c",
        "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)",
    )
    session.run("pytest", "tests/core", "-m", "not torch", *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["full"])
def tests(session: nox.Session) -> None:
    """Every test on Python 3.11 with torch and the plug-in distributions."""
    install_core(session, torch=True)
    session.install(*PLUGINS)
    session.install(*TEST_DEPS)
    session.run("pytest", "tests", *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["fast"])
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff==0.17.6")  # pinned: formatting changes between releases
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=MAIN_PYTHON, tags=["fast"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the core."""
    install_core(session, torch=True)
    session.install(*PLUGINS)  # their dependencies (optuna) are type-checked against
    session.install("mypy>=1.10", "tomli")  # tomli: mypy checks the Python 3.10 branch too
    session.run("mypy")


@nox.session(python=MAIN_PYTHON, tags=["bench"])
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints its ratios against a baseline measured in the same run."""
    install_core(session, torch=True)
    session.install(*PLUGINS)
    session.install("lightning")  # the trainer benchmark compares against it; torch is kept
    session.run("python", "bench/discovery.py")
    session.run("python", "bench/trainer_overhead.py")
    session.run("python", "bench/optuna_overhead.py")
    session.run("python", "bench/cuda_transfer.py")


@nox.session(python=MAIN_PYTHON, tags=["demo"])
def plugins(session: nox.Session) -> None:
    """Install the core and both plug-ins, and show what the loader decides on this machine."""
    install_core(session, torch=True)
    session.install(*PLUGINS)
    session.run("helios", "plugins", "list")
    session.run("helios", "plugins", "check")  # not-applicable is fine; incompatible fails
    examples = sorted(map(str, ROOT.glob("manifests/examples/valid/*.toml")))
    session.run("helios", "plugins", "validate", "plugins/cuda", "plugins/optuna", *examples)

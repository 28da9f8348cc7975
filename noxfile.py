"""The CI of the Helios monorepo. ``nox --list`` shows every session; ``nox`` runs the defaults.

tag ``fast``      ``floor-3.10`` … ``floor-3.13`` (the torch-free floor, torch absent), ``lint``
                  (ruff + the manifest/pyproject range check), ``typecheck`` (mypy)
tag ``full``      ``tests``: the whole suite on Python 3.11 with torch 2.13.0+cpu
tag ``matrix``    ``compat(<plug-in>-oldest)``, ``compat(<plug-in>-newest)``: each plug-in's tests
                  against the oldest and the newest helios-trainer its manifest admits (older
                  cores rebuilt as wheels from the commits that released them; the history is
                  read when the session runs, and a newest cell that is also the oldest skips)
tag ``packaging`` ``build`` (wheels + sdists + dependencies into build/wheelhouse, metadata
                  checked), ``install(<plug-in>)`` (one plug-in alone from the wheelhouse with
                  --no-index), ``refuse`` (an out-of-range plug-in is reported, not imported),
                  ``scaffold`` (``helios plugins new`` makes a plug-in that validates, installs
                  and passes its own tests), ``index`` (every release and the tree uploaded with
                  twine to a local pypiserver, then installed by name in fresh venvs: the
                  versions pip chooses, ``helios plugins list``/``check`` after each)
tag ``floors``    ``floors-3.10``, ``floors-3.11``: every declared lower bound installed exactly
                  (pins derived from the pyproject files and manifests by tools/floors.py), tests
                  run there (3.10: the core's dependencies, torch-free tests)
tag ``demo``      ``demo`` (the main job: ``helios demo``), ``plugins`` (the load report)
not default       ``demo``, ``plugins``, ``bench``, ``release`` (``nox -s release -- DIST VERSION``),
                  ``fuzz`` (50,000 manifests, hostile ones included; ``nox -s fuzz -- --seed N``)

Each session deletes its virtualenv when it ends (a torch venv is about 1.3 GB and a full run
makes a dozen; CI machines can be short of disk); set ``HELIOS_KEEP_VENVS=1`` to keep them, e.g.
with ``nox -r`` while iterating.

Python versions and what each session installs come from the pyproject files: the floor's
Pythons from ``core/pyproject.toml``'s classifiers, every other session's from ``[tool.helios.ci]
python`` in ``pyproject.toml``, the tools and test packages from its ``[dependency-groups]``.
Interpreters come from pyenv; nox never downloads one, and a missing interpreter fails the run
instead of being skipped. Reading this file runs nothing: it reads those TOML files and lists
pyenv's ``versions`` folder (``PYENV_VERSION`` gains the Pythons it lacks, so nox finds them);
git runs only inside the sessions that need the history.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

sys.path.insert(0, str(Path(__file__).parent))  # the repository's own tools/ (not shipped)
from tools import floors
from tools.index import offerings
from tools.index_server import ServerProblem, serve
from tools.interpreters import check_classifiers, main_python, use_pyenv_pythons
from tools.matrix import EDGES, edge_cell
from tools.projects import (
    Project,
    all_projects,
    core_project,
    plugin_projects,
    read_toml,
    requirement_name,
)
from tools.releases import HistoryError, build_wheel

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "floor",
    "tests",
    "floors",
    "lint",
    "typecheck",
    "compat",
    "optuna",
    "build",
    "install",
    "refuse",
    "scaffold",
    "index",
]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
CORE_PYPROJECT = nox.project.load_toml(ROOT / "core" / "pyproject.toml")
FLOOR_PYTHONS = nox.project.python_versions(CORE_PYPROJECT)
check_classifiers(CORE_PYPROJECT, FLOOR_PYTHONS)
MAIN_PYTHON = main_python(PYPROJECT, FLOOR_PYTHONS)
use_pyenv_pythons(FLOOR_PYTHONS)
# The core's own dependencies but torch: what the floor installs next to `--no-deps` core.
LIGHT_DEPS = [
    d for d in CORE_PYPROJECT["project"]["dependencies"] if requirement_name(d) != "torch"
]
PLUGINS = [f"./{p.folder}" for p in plugin_projects(ROOT)]  # ./plugins/cuda, ...
WHEELHOUSE = ROOT / "build" / "wheelhouse"
# Where the postgres group is installed, its tests must run: a missing server fails (not skips).
POSTGRES_REQUIRED = {"HELIOS_TESTS_POSTGRES": "require"}
RELEASE_WHEELS = ROOT / "build" / "releases"


def group(*names: str) -> tuple[str, ...]:
    """The requirements of ``[dependency-groups]`` ``names`` in pyproject.toml, includes resolved."""
    return nox.project.dependency_groups(PYPROJECT, *names)


SessionFunc = Callable[..., None]


def frees_venv(func: SessionFunc) -> SessionFunc:
    """Delete the session's virtualenv when the session ends, pass or fail.

    Peak disk stays at one venv instead of the sum of all of them; ``HELIOS_KEEP_VENVS=1``
    keeps them.
    """

    @functools.wraps(func)
    def wrapper(session: nox.Session, *args: Any, **kwargs: Any) -> None:
        try:
            func(session, *args, **kwargs)
        finally:
            location = getattr(session.virtualenv, "location", None)
            if location and os.environ.get("HELIOS_KEEP_VENVS") != "1":
                shutil.rmtree(location, ignore_errors=True)
                session.log(f"deleted {location} (HELIOS_KEEP_VENVS=1 keeps it)")

    return wrapper


def install_core(session: nox.Session, *, torch: bool) -> None:
    """The core, with torch from the local CPU wheel, or without torch at all."""
    if torch:
        session.install(*group("torch"))
        session.install("./core")
    else:
        session.install("--no-deps", "./core")
        session.install(*LIGHT_DEPS)


def install_everything(session: nox.Session) -> None:
    """torch (local CPU wheel), the core with its demo extra, and both plug-ins."""
    session.install(*group("torch"))
    # one pip command: the extra's helios-optuna requirement is met by ./plugins/optuna
    session.install("./core[demo]", *PLUGINS)


@nox.session(python=FLOOR_PYTHONS, tags=["fast", "floor"])
@frees_venv
def floor(session: nox.Session) -> None:
    """The torch-free floor on every supported Python, torch not installed."""
    install_core(session, torch=False)
    session.install(*group("test"))
    session.run(
        "python",
        "-c",
        "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)",
    )
    session.run("pytest", deep_basetemp(session), "tests/core", "-m", "not torch", *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["full"])
@frees_venv
def tests(session: nox.Session) -> None:
    """Every test on Python 3.11 with torch, the plug-in distributions and the demo.

    The PostgreSQL tests (marker ``postgres``) run here too, on a server they start themselves:
    their packages are installed, and ``HELIOS_TESTS_POSTGRES=require`` makes a server that
    cannot start a failure instead of a skip.
    """
    install_everything(session)
    session.install(*group("test"), *group("postgres"))
    session.run("pytest", deep_basetemp(session), "tests", *session.posargs, env=POSTGRES_REQUIRED)


def deep_basetemp(session: nox.Session) -> str:
    """``--basetemp`` about 200 characters deep: a test whose assertion holds only for a short
    temporary path (a path cut in a message, a socket name) fails here, not on a deeper CI box."""
    return f"--basetemp={Path(session.create_tmp()) / ('deep-temp-' + 'd' * 150)}"


#: What the floors cell on another Python than the main one pins: the core's dependencies.
CORE_ONLY = "core/pyproject.toml"


def floors_cell(python: str) -> tuple[list[str], list[str], list[str]]:
    """(``tools.floors check`` options, the pins, pytest's arguments) of a floors cell.

    On the main Python: every floor, and the tests of the core and the plug-ins. On another
    (there is no torch wheel for it here): the core's own dependencies but torch, and the
    torch-free floor's tests (so ``tomli>=1.1; python_version < '3.11'`` is tested).
    """
    main = python == MAIN_PYTHON
    only, skip = (None, []) if main else (CORE_ONLY, ["torch"])
    chosen = floors.select(floors.floors_of(ROOT, python), build=False, only=only, skip=skip)
    scope = ["--python", python] + ([] if main else ["--only", CORE_ONLY, "--skip", "torch"])
    # matplotlib 3.8.4 calls pyparsing names that pyparsing 3.3 deprecates (fixed in newer
    # matplotlib): a DeprecationWarning users never see, an error under filterwarnings=error
    pyparsing = "ignore::pyparsing.warnings.PyparsingDeprecationWarning"
    tests = ["-W", pyparsing, "tests/core", "tests/optuna", "tests/cuda", "tests/upstream"]
    if not main:
        tests = ["tests/core", "-m", "not torch"]
    return scope, [f.pin for f in chosen], tests


OLDEST_PYTHON = min(FLOOR_PYTHONS, key=lambda v: tuple(map(int, v.split("."))))


@nox.session(
    name="floors", python=list(dict.fromkeys([OLDEST_PYTHON, MAIN_PYTHON])), tags=["floors"]
)
@frees_venv
def floors_session(session: nox.Session) -> None:
    """Every declared lower bound installed exactly (pins derived by tools/floors.py), tests run.

    Our distributions are built from the tree with the [build-system] floor (hatchling) and
    installed from those wheels beside the pins; torch is the local CPU wheel.
    """
    python = str(session.python)
    try:
        scope, pins, tests = floors_cell(python)
        build_pins = [f.pin for f in floors.select(floors.floors_of(ROOT, python), build=True)]
    except floors.FloorError as exc:
        session.error(f"no floors cell: {exc}")
    work = Path(session.create_tmp()) / "floors"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "build-constraints.txt").write_text("\n".join(build_pins) + "\n", encoding="utf-8")
    projects = all_projects(ROOT) if python == MAIN_PYTHON else [core_project(ROOT)]
    session.log(
        f"floors on Python {python}: {' '.join(pins)}; building with {' '.join(build_pins)}"
    )
    # PIP_CONSTRAINT reaches the isolated build environments: hatchling is built at its floor
    session.run(
        "python", "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "wheels"),
        *(f"./{p.folder}" for p in projects),
        env={"PIP_CONSTRAINT": str(work / "build-constraints.txt")},
    )  # fmt: skip
    wheels = {p.name: next((work / "wheels").glob(f"{p.dist_stem}-*.whl")) for p in projects}
    if python == MAIN_PYTHON:
        torch = [r for r in group("torch") if requirement_name(r) == "torch"]
        session.install(*torch)  # the local CPU wheel first; then it is a constraint
        (work / "constraints.txt").write_text("\n".join(torch) + "\n", encoding="utf-8")
        ours = [f"{wheels.pop('helios-trainer')}[demo]", *map(str, wheels.values())]
        session.install("-c", str(work / "constraints.txt"), *ours, *pins, *group("floors"))
        session.run("python", "-m", "pip", "check")  # (torch-free: the core's torch is missing)
    else:
        session.install("--no-deps", str(wheels["helios-trainer"]))
        session.install(*pins, *group("floors"))
    session.run("python", "-m", "pip", "freeze", "--all")  # the versions pip chose, in the log
    session.run("python", "-m", "tools.floors", "check", *scope)  # installed = pinned
    session.run("pytest", deep_basetemp(session), *tests, *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["fast"])
@frees_venv
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "-m", "tools.release", "check")  # manifest ranges = pyproject ranges


@nox.session(python=MAIN_PYTHON, tags=["fast"])
@frees_venv
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the core, the plug-ins and tools/."""
    install_everything(session)  # optuna, scikit-learn, matplotlib are type-checked against
    session.install(*group("typecheck"))
    session.run("mypy")


@nox.session(python=MAIN_PYTHON, tags=["bench"])
@frees_venv
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints its ratios against a baseline measured in the same run."""
    install_everything(session)
    session.install(*group("bench"))  # lightning, for the trainer benchmark; torch is kept
    session.run("python", "bench/discovery.py")
    session.run("python", "bench/trainer_overhead.py")
    session.run("python", "bench/optuna_overhead.py")
    session.run("python", "bench/demo_workers.py", "--trials", "12", "--epochs", "10")
    session.run("python", "bench/cuda_transfer.py")


@nox.session(python=MAIN_PYTHON, tags=["demo"])
@frees_venv
def demo(session: nox.Session) -> None:
    """The main job: `helios demo`, a resumable tuning run (``nox -s demo -- --fresh``)."""
    install_everything(session)
    session.run("helios", "demo", "--run-dir", str(ROOT / "helios-demo"), *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["demo"], default=False)
@frees_venv
def plugins(session: nox.Session) -> None:
    """Install the core and both plug-ins, and show what the loader decides on this machine."""
    install_everything(session)
    session.run("helios", "plugins", "list")
    session.run("helios", "plugins", "check")  # not-applicable is fine; incompatible fails
    examples = sorted(map(str, ROOT.glob("manifests/examples/valid/*.toml")))
    session.run("helios", "plugins", "validate", "plugins/cuda", "plugins/optuna", *examples)


@nox.session(python=MAIN_PYTHON, tags=["matrix"])
@nox.parametrize(
    ("plugin", "edge"),
    [
        nox.param(p, edge, id=f"{Path(p.folder).name}-{edge}")
        for p in plugin_projects(ROOT)
        for edge in EDGES
    ],
)
@frees_venv
def compat(session: nox.Session, plugin: Project, edge: str) -> None:
    """One plug-in's tests against the oldest or newest helios-trainer its manifest admits."""
    try:
        cell = edge_cell(ROOT, plugin, edge)  # reads the release history (git) now
    except (HistoryError, ValueError) as exc:
        session.error(f"no compatibility cell: {exc}")
    core = cell.core
    if edge != cell.edges[0]:  # the range admits one core: the oldest cell tests it
        session.skip(
            f"{cell.id}: helios-trainer {core.version} is the {' and '.join(cell.edges)} "
            f"{plugin.name} admits; compat({Path(plugin.folder).name}-{cell.edges[0]}) tests it"
        )
    session.log(
        f"{cell.id}: {cell.plugin.name} (requires.helios {cell.plugin.core_range()}) against "
        f"helios-trainer {core.version}, the {' and '.join(cell.edges)} it admits "
        f"({core.source})"
    )
    session.install(*group("torch"))
    if core.release is None:
        session.install("./core")
    else:  # rebuilt from the commit that released it
        wheel = build_wheel(
            ROOT, core.release, "core", RELEASE_WHEELS, lambda cmd: session.run(*cmd)
        )
        session.install(str(wheel))
    session.install(f"./{cell.plugin.folder}", *group("test"))
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, sys; v = m.version('helios-trainer'); "
        "print(f'installed: helios-trainer=={v}'); "
        f"sys.exit(v != {str(core.version)!r})",
    )
    plugin_id = next(iter(cell.plugin.entry_points))
    session.run("helios", "plugins", "list")
    session.run("pytest", str(cell.plugin.test_folder.relative_to(ROOT)), *session.posargs)
    session.log(f"{plugin_id}: helios-trainer {core.version} passed")


#: pyroma tests the build session skips. AuthorEmail: the project publishes no contact address
#: (authors name "The Helios developers" alone, by decision); every other test must pass.
PYROMA_SKIPS = ("--skip-tests", "AuthorEmail")


def built_files(project: Project) -> list[Path]:
    """The wheel and the sdist of ``project``'s version in the wheelhouse."""
    return [
        *WHEELHOUSE.glob(f"{project.dist_stem}-*.whl"),
        *WHEELHOUSE.glob(f"{project.dist_stem}.tar.gz"),
    ]


def optuna_floor() -> str:
    """``optuna==X``: the lowest Optuna helios-optuna declares (derived by tools/floors.py)."""
    return next(f.pin for f in floors.floors_of(ROOT) if f.name == "optuna")


@nox.session(python=MAIN_PYTHON, tags=["matrix"])
@nox.parametrize("cell", [nox.param(c, id=c) for c in ("floor", "newest")])
@frees_venv
def optuna(session: nox.Session, cell: str) -> None:
    """tests/optuna against the lowest Optuna helios-optuna admits and the newest on the index."""
    pin = optuna_floor() if cell == "floor" else "optuna"
    session.install(*group("torch"))
    session.install("--upgrade", "./core", "./plugins/optuna", pin, *group("test"))
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, sys; from packaging.requirements import Requirement; "
        "v = m.version('optuna'); "
        f"print(f'installed: optuna=={{v}} (cell {cell})'); "
        f"sys.exit(not Requirement({pin!r}).specifier.contains(v))",
    )
    session.run("pytest", "tests/optuna", *session.posargs)


@nox.session(python=MAIN_PYTHON, tags=["packaging"])
@frees_venv
def build(session: nox.Session) -> None:
    """Wheels and sdists of every distribution, checked, plus their dependencies' wheels.

    Checked three ways: ``tools.wheelhouse`` (against the sources, and what an index shows),
    ``twine check --strict`` on every built file, and pyroma's rating of each sdist (10/10).
    """
    session.install(*group("build"))
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    for project in all_projects(ROOT):
        session.run("python", "-m", "build", "--outdir", str(WHEELHOUSE), project.folder)
    session.run("python", "-m", "tools.wheelhouse", str(WHEELHOUSE))
    ours = sorted(p for project in all_projects(ROOT) for p in built_files(project))
    session.run("twine", "check", "--strict", *map(str, ours))
    for sdist in (p for p in ours if p.name.endswith(".tar.gz")):
        session.run("pyroma", "--min", "10", *PYROMA_SKIPS, "--file", str(sdist))
    # Their third-party dependencies, so `pip install --no-index` can work from here alone.
    ours = {p.name for p in all_projects(ROOT)}
    third_party = sorted(
        {
            d
            for p in all_projects(ROOT)
            for d in p.dependencies
            if requirement_name(d) not in ours | {"torch"}
        }
    )
    # ... and the core's demo extra (scikit-learn, matplotlib), so 'helios-trainer[demo]' can too.
    extras = read_toml((ROOT / "core" / "pyproject.toml").read_text(encoding="utf-8"))
    demo = [
        d
        for d in extras["project"]["optional-dependencies"]["demo"]
        if requirement_name(d) not in ours
    ]
    torch = [r for r in group("torch") if requirement_name(r) == "torch"]
    session.run(
        "python", "-m", "pip", "download", "-q", "--only-binary", ":all:", "--dest",
        str(WHEELHOUSE), *torch, *third_party, *demo,
    )  # fmt: skip


PLUGIN_PARAMS = [nox.param(p, id=Path(p.folder).name) for p in plugin_projects(ROOT)]


@nox.session(python=MAIN_PYTHON, tags=["packaging"], requires=["build"])
@nox.parametrize("plugin", PLUGIN_PARAMS)
@frees_venv
def install(session: nox.Session, plugin: Project) -> None:
    """One plug-in alone into a fresh venv from the wheelhouse; the core comes along."""
    session.install("--no-index", "--find-links", str(WHEELHOUSE), plugin.name)
    session.run("helios", "plugins", "list")
    (plugin_id,) = plugin.entry_points
    session.run("python", "-m", "tools.install_check", "installed", plugin_id)


@nox.session(python=MAIN_PYTHON, tags=["packaging"], requires=["build"])
@frees_venv
def refuse(session: nox.Session) -> None:
    """A plug-in built for a core range that leaves out the installed core: incompatible."""
    session.install("--no-index", "--find-links", str(WHEELHOUSE), "helios-trainer")
    session.run("python", "-m", "tools.install_check", "refused", "plugins/cuda")


INDEX_WORK = ROOT / "build" / "index"


@nox.session(python=MAIN_PYTHON, tags=["packaging"])
@frees_venv
def index(session: nox.Session) -> None:
    """A real index: every release (and the tree) uploaded with twine, installed by name."""
    session.install(*group("index"), *group("test"))
    session.run("pytest", "-p", "no:cacheprovider", "tests/ecosystem/test_index.py")
    try:
        plan = offerings(ROOT)  # reads the release history (git) now
    except (HistoryError, ValueError) as exc:
        session.error(f"nothing to publish: {exc}")
    shutil.rmtree(INDEX_WORK, ignore_errors=True)
    packages = INDEX_WORK / "packages"
    pypi_server = str(Path(session.bin) / "pypi-server")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(serve(pypi_server, packages, INDEX_WORK / "server.log"))
        except ServerProblem as exc:
            session.error(str(exc))
        session.log(f"index: pypiserver at {server.url} (log: {INDEX_WORK / 'server.log'})")
        for offer in plan:
            session.log(f"index: upload {offer.project.name} {offer.version} ({offer.source})")
            tree = ["--from-tree"] if offer.release is None else []
            session.run(
                "python", "-m", "tools.release", offer.project.name, str(offer.version),
                "--upload", server.url, *tree,
            )  # fmt: skip
        preinstall = [f"--preinstall={r}" for r in group("torch")]
        session.run(
            "python", "-m", "tools.index", "prove", server.url, "--packages", str(packages),
            "--work", str(INDEX_WORK), *preinstall,
        )  # fmt: skip


@nox.session(python=MAIN_PYTHON, tags=["packaging"])
@frees_venv
def scaffold(session: nox.Session) -> None:
    """``helios plugins new`` makes a plug-in that validates, installs and passes its tests."""
    install_core(session, torch=True)
    session.install(*group("scaffold"))
    work = Path(session.create_tmp()) / "scaffold"
    shutil.rmtree(work, ignore_errors=True)  # `new` refuses to write over a previous run's
    project = work / "helios-smoke"
    session.run("helios", "plugins", "new", "smoke", "--dest", str(work))
    session.run("helios", "plugins", "validate", str(project))
    session.install("--no-build-isolation", str(project))
    session.run("python", "-m", "pip", "check")  # its helios-trainer range fits this core
    session.run("helios", "plugins", "check", "smoke", "--import")
    session.run("pytest", "-p", "no:cacheprovider", "-W", "error", str(project / "tests"))
    session.run("ruff", "check", str(project))  # what it generates is clean and typed
    session.run("ruff", "format", "--check", str(project))
    session.run("mypy", "--config-file", str(project / "pyproject.toml"), str(project / "src"))


@nox.session(python=MAIN_PYTHON, default=False)
@frees_venv
def fuzz(session: nox.Session) -> None:
    """The manifest validator against 50,000 generated, mutated and hostile texts.

    Prints its seed first; exits 1 on any exception but ManifestError. Repeat a run with
    ``nox -s fuzz -- --seed N --jobs J``; ``--cases`` changes the count.
    """
    install_core(session, torch=False)
    session.install(*group("fuzz"))
    session.run("python", "tests/core/fuzz_manifest.py", "--cases", "50000", *session.posargs)


@nox.session(python=MAIN_PYTHON, default=False)
@frees_venv
def release(session: nox.Session) -> None:
    """Bump one distribution's version, commit and tag: ``nox -s release -- DIST VERSION``."""
    if not session.posargs:
        session.error("usage: nox -s release -- DIST VERSION [--dry-run]")
    session.install(*group("release"))
    session.install("--no-deps", "./core")  # write_version uses helios.atomic
    session.run("python", "-m", "tools.release", *session.posargs)

"""noxfile.py: reading it runs nothing, and its Pythons and packages come from pyproject files."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tools.interpreters import check_classifiers, main_python, pyenv_version

ROOT = Path(__file__).resolve().parents[2]

needs_nox = pytest.mark.skipif(
    importlib.util.find_spec("nox") is None,
    reason="runs nox: the tests session installs it (dependency group 'test')",
)

#: Runs ``nox ARGS`` in this process with an audit hook that records every process started,
#: then writes what it saw (and which environment variables changed) to the file OUT.
TRACE = """
import json, os, sys
started = []
KINDS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.fork")
def hook(event, args):
    if event in KINDS:
        started.append([event, repr(args)[:300]])
sys.addaudithook(hook)
before = dict(os.environ)
out_path = sys.argv[1]
import nox.__main__
sys.argv = ["nox", *json.loads(sys.argv[2])]
try:
    nox.__main__.main()
    status = 0
except SystemExit as exc:
    status = exc.code
changed = {
    k: os.environ.get(k) for k in sorted(set(before) | set(os.environ))
    if before.get(k) != os.environ.get(k)
}
with open(out_path, "w") as out:
    json.dump({"status": status, "started": started, "changed": changed}, out)
"""


def fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    """A bin folder whose ``git`` and ``pyenv`` leave a mark when run, and that mark's folder."""
    bin_dir, marks = tmp_path / "bin", tmp_path / "marks"
    bin_dir.mkdir()
    marks.mkdir()
    for name in ("git", "pyenv"):
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "$@" > "{marks / name}"\nexit 1\n', encoding="utf-8")
        tool.chmod(0o755)
    return bin_dir, marks


def fake_pyenv(tmp_path: Path, *versions: str) -> Path:
    root = tmp_path / "pyenv"
    for version in versions:
        (root / "versions" / version / "bin").mkdir(parents=True)
    return root


def traced_nox(root: Path, tmp_path: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    out = tmp_path / "trace.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            TRACE,
            str(out),
            json.dumps([*args, "-f", str(root / "noxfile.py")]),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert out.is_file(), proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["stdout"], result["stderr"] = proc.stdout, proc.stderr
    return result


@needs_nox
def test_nox_list_starts_no_process(tmp_path: Path) -> None:
    bin_dir, marks = fake_tools(tmp_path)
    pyenv_root = fake_pyenv(tmp_path, "3.9.18", "3.10.2", "3.10.13", "3.12.1", "3.13.0", "3.14.0")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
        "PYENV_ROOT": str(pyenv_root),
        "PYENV_VERSION": "3.11.7",  # what pyenv's shim sets: the running version alone
    }
    result = traced_nox(ROOT, tmp_path, env, "--list")

    assert result["status"] == 0, result["stderr"]
    assert result["started"] == []  # no git, no pyenv, nothing else
    assert sorted(p.name for p in marks.iterdir()) == []
    # the one change: pyenv's newest 3.10, 3.12 and 3.13 added, found by listing its folder
    assert result["changed"] == {"PYENV_VERSION": "3.11.7:3.10.13:3.12.1:3.13.0"}
    assert "* compat(cuda-oldest) [matrix]" in result["stdout"]


@needs_nox
def test_nox_list_works_without_git_history(tmp_path: Path) -> None:
    """A copy of the tree that is no git repository lists every session; compat fails later."""
    copy = copy_ci_tree(tmp_path / "copy")
    env = {**os.environ, "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    result = traced_nox(copy, tmp_path, env, "--list", "--json")
    assert result["status"] == 0, result["stderr"]
    assert result["started"] == []
    assert result["changed"] == {}
    names = [s["session"] for s in json.loads(result["stdout"])]
    assert [n for n in names if n.startswith("compat")] == [
        "compat(cuda-oldest)",
        "compat(cuda-newest)",
        "compat(optuna-oldest)",
        "compat(optuna-newest)",
    ]


def copy_ci_tree(dest: Path) -> Path:
    """What the noxfile reads: itself, the pyproject files, tools/ and the plug-in sources."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("noxfile.py", "pyproject.toml"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "tools", dest / "tools", ignore=ignore)
    shutil.copytree(ROOT / "plugins", dest / "plugins", ignore=ignore)
    (dest / "core").mkdir()
    shutil.copy(ROOT / "core" / "pyproject.toml", dest / "core" / "pyproject.toml")
    return dest


def listed(root: Path) -> dict[str, str | None]:
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--json", "-f", str(root / "noxfile.py")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYENV_ROOT": str(root / "no-pyenv")},
    )
    assert proc.returncode == 0, proc.stderr
    return {s["session"]: s["python"] for s in json.loads(proc.stdout)}


@needs_nox
def test_session_pythons_come_from_the_pyproject_files(tmp_path: Path) -> None:
    copy = copy_ci_tree(tmp_path / "copy")
    before = listed(copy)
    assert [s for s in before if s.startswith("floor-")] == [
        "floor-3.10",
        "floor-3.11",
        "floor-3.12",
        "floor-3.13",
    ]
    assert {before["tests"], before["lint"], before["compat(cuda-oldest)"]} == {"3.11"}
    # the dependency floors: on the oldest Python and on the main one
    assert [s for s in before if s.startswith("floors-")] == ["floors-3.10", "floors-3.11"]

    core = copy / "core" / "pyproject.toml"
    text = core.read_text(encoding="utf-8")
    new = '    "Programming Language :: Python :: 3.14",\n]\ndependencies'
    core.write_text(text.replace("]\ndependencies", new, 1), encoding="utf-8")
    root = copy / "pyproject.toml"
    root.write_text(
        root.read_text(encoding="utf-8").replace('python = "3.11"', 'python = "3.13"'),
        encoding="utf-8",
    )
    after = listed(copy)
    assert [s for s in after if s.startswith("floor-")][-1] == "floor-3.14"
    assert {after["tests"], after["scaffold"], after["install(cuda)"]} == {"3.13"}
    assert [s for s in after if s.startswith("floors-")] == ["floors-3.10", "floors-3.13"]


@needs_nox
def test_every_group_the_noxfile_installs_is_declared() -> None:
    import nox.project as nox_project

    pyproject = nox_project.load_toml(ROOT / "pyproject.toml")
    used = re.findall(r'group\("(\w+)"\)', (ROOT / "noxfile.py").read_text(encoding="utf-8"))
    assert set(used) == set(pyproject["dependency-groups"])
    for name in used:
        assert nox_project.dependency_groups(pyproject, name), name
    assert "torch==2.13.0+cpu" in nox_project.dependency_groups(pyproject, "torch")
    assert "ruff==0.17.6" in nox_project.dependency_groups(pyproject, "scaffold")


CI = {"tool": {"helios": {"ci": {"python": "3.11"}}}}
FLOOR = ["3.10", "3.11", "3.12", "3.13"]


def test_main_python_is_one_of_the_core_pythons() -> None:
    assert main_python(CI, FLOOR) == "3.11"
    with pytest.raises(ValueError, match="python must be") as missing:
        main_python({}, FLOOR)
    assert str(missing.value) == (
        'pyproject.toml: [tool.helios.ci] python must be a Python version like "3.11", '
        "found None; set it to one of 3.10, 3.11, 3.12, 3.13"
    )
    with pytest.raises(ValueError, match="is not a Python") as outside:
        main_python({"tool": {"helios": {"ci": {"python": "3.9"}}}}, FLOOR)
    assert str(outside.value) == (
        "pyproject.toml: [tool.helios.ci] python = '3.9' is not a Python the core supports "
        "(core/pyproject.toml classifiers: 3.10, 3.11, 3.12, 3.13); pick one of them or add "
        "its classifier"
    )


def test_classifiers_must_meet_requires_python() -> None:
    check_classifiers({"project": {"requires-python": ">=3.10"}}, FLOOR)
    with pytest.raises(ValueError, match="leaves out") as info:
        check_classifiers({"project": {"requires-python": ">=3.11"}}, FLOOR)
    assert str(info.value) == (
        "core/pyproject.toml: the classifiers list Python 3.10, which requires-python = "
        "'>=3.11' leaves out; drop those classifiers or widen requires-python"
    )


def test_pyenv_version_adds_the_newest_missing_pythons(tmp_path: Path) -> None:
    root = fake_pyenv(tmp_path, "3.10.2", "3.10.13", "3.11.7", "3.12.1", "3.13.0", "pypy3.10-7")
    env = {"PYENV_ROOT": str(root), "PYENV_VERSION": "3.12.0"}
    assert pyenv_version(env, FLOOR) == "3.12.0:3.10.13:3.11.7:3.13.0"  # 3.12 is covered
    full = {"PYENV_ROOT": str(root), "PYENV_VERSION": "3.11.7:3.10.13:3.12.1:3.13.0"}
    assert pyenv_version(full, FLOOR) is None  # nothing to add
    assert pyenv_version({}, FLOOR, home=tmp_path / "nobody") is None  # no pyenv
    home = tmp_path / "home"
    fake_pyenv(home, "3.13.0").rename(home / ".pyenv")  # the default root, ~/.pyenv
    assert pyenv_version({}, FLOOR, home=home) == "3.13.0"

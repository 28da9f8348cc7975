"""The build session's metadata check: a wheel must say what its pyproject.toml says."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tools.projects import find_project
from tools.wheelhouse import check, check_wheel

from support.gitrepo import Repo


def build(repo: Repo, folder: str, out: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(out), str(repo.root / folder)], check=True)


def without(wheel: Path, member: str) -> Path:
    """A copy of ``wheel`` with ``member`` left out."""
    copy = wheel.with_name("copy-" + wheel.name)
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            if item.filename != member:
                target.writestr(item, source.read(item))
    return copy


@pytest.mark.slow
def test_wheels_and_their_sources_agree_or_the_problem_is_named(repo: Repo, tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2")
    house = tmp_path / "house"
    build(repo, "core", house)
    build(repo, "plugins/cuda", house)
    plugin = find_project(repo.root, "cuda")
    wheel = house / "helios_cuda-0.1.0-py3-none-any.whl"

    assert check_wheel(plugin, wheel) == []
    assert check(repo.root, house) == [
        f"expected one helios_trainer-0.1.0.tar.gz in {house}, found []",
        f"expected one helios_cuda-0.1.0.tar.gz in {house}, found []",
    ]
    assert check_wheel(plugin, without(wheel, "helios_cuda/helios-plugin.toml")) == [
        "copy-helios_cuda-0.1.0-py3-none-any.whl: helios_cuda/helios-plugin.toml is missing: "
        "the core could not check this plug-in"
    ]

    repo.plugin("cuda", ">=0.1,<0.3", version="0.1.0")  # sources moved on; the wheel did not
    assert check_wheel(find_project(repo.root, "cuda"), wheel) == [
        "helios_cuda-0.1.0-py3-none-any.whl: Requires-Dist is ['helios-trainer<0.2,>=0.1'], "
        "expected ['helios-trainer>=0.1,<0.3']",
        "helios_cuda-0.1.0-py3-none-any.whl: helios_cuda/helios-plugin.toml differs from "
        f"{repo.root / 'plugins/cuda/src/helios_cuda/helios-plugin.toml'}",
    ]


@pytest.mark.slow
def test_the_core_wheel_ships_the_scaffold_templates(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    root = Path(__file__).resolve().parents[2]
    core = find_project(root, "helios-trainer")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path), str(core.path)], check=True)
    (wheel,) = tmp_path.glob("helios_trainer-*.whl")
    templates = core.path / "src/helios/plugins/authoring/templates"
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if "/authoring/templates/" in n}
    assert shipped == {
        f"helios/plugins/authoring/templates/{p.name}" for p in templates.glob("*.tmpl")
    }
    assert len(shipped) == 7
    assert check_wheel(core, wheel) == []

    member = "helios/plugins/authoring/templates/plugin.py.tmpl"
    assert check_wheel(core, without(wheel, member)) == [
        f"copy-{wheel.name}: {member} is missing: {templates / 'plugin.py.tmpl'} is package "
        f"data the wheel must carry; check [tool.hatch.build] in {core.pyproject} (an exclude "
        "or a .gitignore pattern drops it)"
    ]

"""The build session's metadata check: a wheel must say what its pyproject.toml says."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tools.projects import REPO_ROOT, find_project
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


def replaced(wheel: Path, member: str, data: bytes) -> Path:
    """A copy of ``wheel`` with ``member`` holding ``data``."""
    copy = wheel.with_name("copy-" + wheel.name)
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            target.writestr(item, data if item.filename == member else source.read(item))
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
def test_a_wheel_whose_manifest_disagrees_with_its_metadata_is_named(
    repo: Repo, tmp_path: Path
) -> None:
    """The core's consistency rule, applied to what the wheel carries (not to the sources)."""
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2", manifest_range=">=0.1,<0.3")
    house = tmp_path / "house"
    build(repo, "plugins/cuda", house)
    wheel = house / "helios_cuda-0.1.0-py3-none-any.whl"
    assert check_wheel(find_project(repo.root, "cuda"), wheel) == [
        "helios_cuda-0.1.0-py3-none-any.whl: Requires-Dist says helios-trainer<0.2,>=0.1 "
        "(helios_cuda-0.1.0.dist-info/METADATA) but the manifest's requires.helios is "
        "<0.3,>=0.1 (helios_cuda/helios-plugin.toml): pip installs what Requires-Dist says, the "
        "core checks requires.helios; write the helios-trainer versions the plug-in works with "
        "in both places: if that is <0.3,>=0.1, make [project].dependencies in "
        "pyproject.toml say 'helios-trainer<0.3,>=0.1', then rebuild and reinstall the plug-in; if it is "
        "<0.2,>=0.1, set requires.helios = '<0.2,>=0.1' in helios_cuda/helios-plugin.toml"
    ]


@pytest.mark.parametrize("plugin_id", ["cuda", "optuna"])
def test_a_plugin_wheel_carries_its_manifest_in_the_metadata_folder_too(
    plugin_id: str, tmp_path: Path
) -> None:
    """hatchling's ``extra-metadata`` puts a copy into ``.dist-info/extra_metadata/``; RECORD
    lists it with the package copy's hash, and the wheel check names a copy that differs."""
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path), str(REPO_ROOT / "plugins" / plugin_id)], check=True)
    plugin = find_project(REPO_ROOT, plugin_id)
    (wheel,) = tmp_path.glob(f"helios_{plugin_id}-*.whl")
    info = f"helios_{plugin_id}-{plugin.version}.dist-info"
    package_copy = f"helios_{plugin_id}/helios-plugin.toml"
    metadata_copy = f"{info}/extra_metadata/helios-plugin.toml"
    with zipfile.ZipFile(wheel) as archive:
        rows = dict(
            line.split(",", 1) for line in archive.read(f"{info}/RECORD").decode().splitlines()
        )
        assert archive.read(metadata_copy) == archive.read(package_copy)
    assert rows[metadata_copy] == rows[package_copy] != ","
    assert check_wheel(plugin, wheel) == []

    assert check_wheel(plugin, replaced(wheel, metadata_copy, b"id = 'stale'\n")) == [
        f"copy-{wheel.name}: {metadata_copy} (the metadata copy) differs from {package_copy}"
    ]


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

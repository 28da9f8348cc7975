"""The build session's metadata check: a wheel must say what its pyproject.toml says."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nox
import pytest
from tools.projects import REPO_ROOT, all_projects, find_project
from tools.wheelhouse import check, check_sdist, check_wheel, ci_pythons

from support.gitrepo import Repo

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: What publishable() adds to a throwaway project's [project] table.
METADATA = """\
license = "MIT"
license-files = ["LICENSE"]
authors = [{{name = "Helios Tests"}}]
keywords = ["helios"]
readme = "README.md"
urls = {{Homepage = "https://example.invalid/helios"}}
classifiers = [{classifiers}]
"""


def classifiers(*extra: str, pythons: tuple[str, ...] = PYTHONS) -> str:
    listed = [*extra, *(f"Programming Language :: Python :: {v}" for v in pythons)]
    return ", ".join(f'"{c}"' for c in listed)


def publishable(repo: Repo, *folders: str, licence: str = "MIT License (tests)\n") -> None:
    """Give the throwaway ``folders`` what an index shows: a LICENSE, authors, URLs, ...."""
    repo.write("LICENSE", licence)
    for folder in folders:
        repo.write(f"{folder}/LICENSE", licence)
        repo.write(f"{folder}/README.md", f"# {folder}\n")
        metadata(repo, folder, classifiers("Development Status :: 3 - Alpha"))


def metadata(repo: Repo, folder: str, listed: str) -> None:
    path = repo.root / folder / "pyproject.toml"
    anchor = 'requires-python = ">=3.10"\n'
    text = path.read_text().replace(anchor, anchor + METADATA.format(classifiers=listed), 1)
    path.write_text(text)


def build(repo: Repo, folder: str, out: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(out), str(repo.root / folder)], check=True)


def build_sdist(folder: Path, out: Path) -> Path:
    """``python -m build --sdist`` of ``folder`` into ``out`` (this venv's hatchling)."""
    command = [sys.executable, "-m", "build", "-q", "--sdist", "--no-isolation", "-o", str(out)]
    subprocess.run([*command, str(folder)], check=True, capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    return sdist


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
    publishable(repo, "core", "plugins/cuda")
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
    publishable(repo, "plugins/cuda")
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
    publishable(repo, "core", "plugins/cuda")
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
    assert len(shipped) == 8
    assert check_wheel(core, wheel) == []

    member = "helios/plugins/authoring/templates/plugin.py.tmpl"
    assert check_wheel(core, without(wheel, member)) == [
        f"copy-{wheel.name}: {member} is missing: {templates / 'plugin.py.tmpl'} is package "
        f"data the wheel must carry; check [tool.hatch.build] in {core.pyproject} (an exclude "
        "or a .gitignore pattern drops it)"
    ]


def test_every_distribution_ships_a_copy_of_the_repository_licence() -> None:
    licence = (REPO_ROOT / "LICENSE").read_bytes()
    assert licence.startswith(b"MIT License\n\nCopyright (c) 2026 The Helios developers\n")
    for project in all_projects(REPO_ROOT):
        assert (project.path / "LICENSE").read_bytes() == licence, project.folder


def test_the_ci_pythons_are_the_ones_nox_runs_the_floor_on(repo: Repo) -> None:
    core = nox.project.load_toml(REPO_ROOT / "core" / "pyproject.toml")
    assert ci_pythons(REPO_ROOT) == nox.project.python_versions(core)
    repo.core("0.1.0")
    with pytest.raises(ValueError, match="classifiers name no Python version") as info:
        ci_pythons(repo.root)
    assert str(info.value) == (
        f"{repo.root / 'core' / 'pyproject.toml'}: [project].classifiers name no Python "
        "version; list the Pythons the CI tests, e.g. 'Programming Language :: Python :: 3.11'"
    )


@pytest.mark.slow
def test_the_repository_wheels_and_sdists_carry_the_licence_and_what_an_index_shows(
    tmp_path: Path,
) -> None:
    """What the build session checks, on this tree: ``unzip -l`` and ``tar tzf`` list LICENSE."""
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    pytest.importorskip("build", reason="the build session installs build")
    licence = (REPO_ROOT / "LICENSE").read_bytes()
    for project in all_projects(REPO_ROOT):
        out = tmp_path / project.name
        sdist = build_sdist(project.path, out)
        pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        subprocess.run([*pip, "-w", str(out), str(project.path)], check=True)
        (wheel,) = out.glob("*.whl")
        info = f"{project.dist_stem}.dist-info"
        with zipfile.ZipFile(wheel) as archive:
            assert archive.read(f"{info}/licenses/LICENSE") == licence
            meta = archive.read(f"{info}/METADATA").decode()
        with tarfile.open(sdist) as archive:
            handle = archive.extractfile(f"{project.dist_stem}/LICENSE")
            assert handle is not None
            assert handle.read() == licence
        for line in (
            "License-Expression: MIT",
            "License-File: LICENSE",
            "Author: The Helios developers",
            "Project-URL: Homepage, https://github.com/helios-dev/helios",
            "Classifier: Development Status :: 3 - Alpha",
            *(f"Classifier: Programming Language :: Python :: {v}" for v in PYTHONS),
            "Description-Content-Type: text/markdown",
        ):
            assert line in meta.splitlines(), (project.name, line)
        assert check_wheel(project, wheel) == []
        assert check_sdist(project, sdist) == []


@pytest.mark.slow
def test_a_wheel_and_sdist_without_publishing_metadata_name_each_gap(
    repo: Repo, tmp_path: Path
) -> None:
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    pytest.importorskip("build", reason="the tests session installs build")
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2")
    publishable(repo, "core")
    house = tmp_path / "house"
    build(repo, "plugins/cuda", house)
    sdist = build_sdist(repo.root / "plugins/cuda", house)
    plugin = find_project(repo.root, "cuda")
    source = repo.root / "plugins/cuda/pyproject.toml"
    core = repo.root / "core/pyproject.toml"
    gaps = [
        f'no License-Expression: set license = "MIT" (an SPDX expression) in [project] of {source}',
        'License-File names [], expected LICENSE: add license-files = ["LICENSE"] to [project] '
        f"of {source} and copy {repo.root / 'LICENSE'} to {repo.root / 'plugins/cuda/LICENSE'}",
        f'no Author or Author-email: add authors = [{{name = "..."}}] to [project] of {source}',
        "Project-URL has no Homepage (it has []): add Homepage, Documentation and Issues to "
        f"[project.urls] of {source}",
        f"no Keywords: add keywords = [...] to [project] of {source}",
        f'no Description-Content-Type: set readme = "README.md" in [project] of {source}',
        "classifiers hold 0 'Development Status :: ...' entries [], expected one: add one "
        f'(e.g. "Development Status :: 3 - Alpha") to [project].classifiers of {source}',
        "classifiers list Python none, expected 3.10, 3.11, 3.12, 3.13 (the Pythons the CI "
        f"tests: the classifiers of {core}); make [project].classifiers of {source} list "
        "exactly those",
    ]
    wheel = house / "helios_cuda-0.1.0-py3-none-any.whl"
    assert check_wheel(plugin, wheel) == [f"{wheel.name}: {gap}" for gap in gaps]
    assert check_sdist(plugin, sdist) == [f"{sdist.name}: {gap}" for gap in gaps]


@pytest.mark.slow
def test_a_stale_licence_wrong_pythons_and_licence_classifiers_are_named(
    repo: Repo, tmp_path: Path
) -> None:
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2")
    publishable(repo, "core")
    repo.write("plugins/cuda/LICENSE", "an older licence\n")
    repo.write("plugins/cuda/README.md", "# cuda\n")
    listed = classifiers(
        "Development Status :: 3 - Alpha",
        "Development Status :: 4 - Beta",
        "License :: OSI Approved :: MIT License",
        pythons=("3.9", "3.10", "3.11"),
    )
    metadata(repo, "plugins/cuda", listed)
    house = tmp_path / "house"
    build(repo, "plugins/cuda", house)
    wheel = house / "helios_cuda-0.1.0-py3-none-any.whl"
    source = repo.root / "plugins/cuda/pyproject.toml"
    info = "helios_cuda-0.1.0.dist-info"
    assert check_wheel(find_project(repo.root, "cuda"), wheel) == [
        f"{wheel.name}: {problem}"
        for problem in (
            f"{info}/licenses/LICENSE differs from the repository's {repo.root / 'LICENSE'}: "
            f"copy it to {repo.root / 'plugins/cuda/LICENSE'} and rebuild",
            "classifiers hold 2 'Development Status :: ...' entries ['Development Status :: 3 "
            "- Alpha', 'Development Status :: 4 - Beta'], expected one: add one (e.g. "
            f'"Development Status :: 3 - Alpha") to [project].classifiers of {source}',
            "classifiers list Python 3.9, 3.10, 3.11, expected 3.10, 3.11, 3.12, 3.13 (the "
            "Pythons the CI tests: the classifiers of "
            f"{repo.root / 'core/pyproject.toml'}); make [project].classifiers of {source} "
            "list exactly those",
            "classifiers ['License :: OSI Approved :: MIT License'] next to License-Expression "
            "'MIT': package indexes refuse both (PEP 639); drop the License :: classifiers from "
            f"{source}",
        )
    ]


def _sdist_with_licence(
    source: Path, target: Path, licence: tarfile.TarInfo | None, data: bytes = b""
) -> Path:
    """A copy of the sdist ``source`` whose LICENSE member is ``licence`` (None: left out)."""
    target.parent.mkdir(parents=True)
    with tarfile.open(source) as original, tarfile.open(target, "w:gz") as copy:
        for member in original.getmembers():
            if not member.name.endswith("/LICENSE"):
                copy.addfile(member, original.extractfile(member))
            elif licence is not None:
                copy.addfile(licence, io.BytesIO(data) if licence.isfile() else None)
    return target


@pytest.mark.slow
def test_an_sdist_whose_licence_is_absent_a_link_or_too_big_is_named(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    pytest.importorskip("build", reason="the tests session installs build")
    project = find_project(REPO_ROOT, "cuda")
    sdist = build_sdist(project.path, tmp_path / "built")
    assert check_sdist(project, sdist) == []
    member = f"{project.dist_stem}/LICENSE"
    link = tarfile.TarInfo(member)
    link.type, link.linkname = tarfile.SYMTYPE, "../../LICENSE"
    huge = tarfile.TarInfo(member)
    huge.size = (1 << 20) + 1
    cases = {"absent": (None, b""), "link": (link, b""), "huge": (huge, b"x" * huge.size)}
    for case, (licence, data) in cases.items():
        copy = _sdist_with_licence(sdist, tmp_path / case / sdist.name, licence, data)
        assert check_sdist(project, copy) == [
            f"{sdist.name}: {member} is missing or not a regular file of at most 1 MiB "
            "(License-File: LICENSE); rebuild with hatchling>=1.27"
        ], case

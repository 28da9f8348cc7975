"""tools/floors.py: the exact pins of ``nox -s floors`` come from the declared lower bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tools import floors
from tools.floors import FloorError, floors_of, select, unmet
from tools.projects import all_projects, requirement_name

ROOT = Path(__file__).resolve().parents[2]

CORE = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "helios-trainer"
version = "0.3.0"
dependencies = [
    "packaging>=22",
    "tomli>=1.1; python_version < '3.11'",
    "torch>=2.13,<3",
    "tqdm~=4.60",
]

[project.optional-dependencies]
demo = ["helios-optuna>=0.2", "scikit-learn>=1.4.2", "matplotlib>=3.8.4"]
"""

PLUGIN = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "helios-optuna"
version = "0.2.0"
dependencies = ["helios-trainer>=0.3,<0.4", "optuna>=4.0"]
"""

MANIFEST = """\
manifest-version = 1
id = "optuna"
class = "helios_optuna.plugin:OptunaPlugin"

[requires]
helios = ">=0.3,<0.4"
packages = ["optuna>=4.0"]
"""


def layout(root: Path, core: str = CORE, plugin: str = PLUGIN, manifest: str = MANIFEST) -> Path:
    """A repository laid out like this one: core/ and plugins/optuna/ with a manifest."""
    files = {
        "core/pyproject.toml": core,
        "core/src/helios/__init__.py": "",
        "plugins/optuna/pyproject.toml": plugin,
        "plugins/optuna/src/helios_optuna/__init__.py": "",
        "plugins/optuna/src/helios_optuna/helios-plugin.toml": manifest,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def pins(root: Path, python: str = "3.11", *, build: bool = False) -> list[str]:
    return [f.pin for f in select(floors_of(root, python), build=build)]


def error(root: Path) -> str:
    with pytest.raises(FloorError) as info:
        floors_of(root, "3.11")
    return str(info.value)


def test_every_lower_bound_becomes_an_exact_pin(tmp_path: Path) -> None:
    root = layout(tmp_path)
    # our own distributions (helios-trainer, helios-optuna) come from the tree: not pinned;
    # the conditional tomli floor only where its marker holds
    assert pins(root, "3.11") == [
        "matplotlib==3.8.4",
        "optuna==4.0",
        "packaging==22",
        "scikit-learn==1.4.2",
        "torch==2.13",
        "tqdm==4.60",
    ]
    assert "tomli==1.1" in pins(root, "3.10")
    assert pins(root, build=True) == ["hatchling==1.18"]
    optuna = next(f for f in floors_of(root, "3.11") if f.name == "optuna")
    assert optuna.sources() == (
        "'optuna>=4.0' in plugins/optuna/pyproject.toml [project].dependencies; "
        "'optuna>=4.0' in plugins/optuna/src/helios_optuna/helios-plugin.toml requires.packages"
    )


def test_a_floor_changed_in_a_pyproject_changes_the_pin(tmp_path: Path) -> None:
    root = layout(tmp_path)
    assert "packaging==22" in pins(root)
    layout(root, core=CORE.replace('"packaging>=22"', '"packaging>=24.1"'))
    assert "packaging==24.1" in pins(root)
    layout(root, core=CORE.replace('"scikit-learn>=1.4.2"', '"scikit-learn>=1.5"'))
    assert "scikit-learn==1.5" in pins(root)
    newer = 'requires = ["hatchling>=1.27"]'
    layout(
        root,
        core=CORE.replace('requires = ["hatchling>=1.18"]', newer),
        plugin=PLUGIN.replace('requires = ["hatchling>=1.18"]', newer),
    )
    assert pins(root, build=True) == ["hatchling==1.27"]


def test_only_the_core_dependencies(tmp_path: Path) -> None:
    root = layout(tmp_path)
    chosen = select(
        floors_of(root, "3.10"), build=False, only="core/pyproject.toml", skip=["torch"]
    )
    assert [f.pin for f in chosen] == ["packaging==22", "tomli==1.1", "tqdm==4.60"]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            '"tqdm"',
            "'tqdm' in core/pyproject.toml [project].dependencies: no lower bound, so no floor "
            "to test; add the oldest version that works, e.g. 'tqdm>=X' (the floors cell then "
            "installs X)",
        ),
        (
            '"tqdm<5"',
            "'tqdm<5' in core/pyproject.toml [project].dependencies: no lower bound, so no floor "
            "to test; add the oldest version that works, e.g. 'tqdm>=X' (the floors cell then "
            "installs X)",
        ),
        (
            '"tqdm>4.60"',
            "'tqdm>4.60' in core/pyproject.toml [project].dependencies: '>' names no version to "
            "install as the floor; write '>=' with the oldest version that works",
        ),
        (
            '"tqdm>=4.60,!=4.60"',
            "'tqdm>=4.60,!=4.60' in core/pyproject.toml [project].dependencies: its lower bound "
            "4.60 is excluded by the rest of the specifier; raise the lower bound to the oldest "
            "version it admits",
        ),
        (
            '"tqdm @ https://example.invalid/tqdm.whl"',
            "'tqdm @ https://example.invalid/tqdm.whl' in core/pyproject.toml "
            "[project].dependencies: a URL requirement has no version floor; name a version range",
        ),
    ],
)
def test_a_requirement_without_a_testable_floor_is_refused(
    tmp_path: Path, declared: str, message: str
) -> None:
    root = layout(tmp_path, core=CORE.replace('"tqdm~=4.60"', declared))
    assert error(root) == message


def test_different_floors_of_one_package_are_refused(tmp_path: Path) -> None:
    root = layout(tmp_path, manifest=MANIFEST.replace('"optuna>=4.0"', '"optuna>=4.2"'))
    assert error(root) == (
        "optuna: different lower bounds ('optuna>=4.0' in plugins/optuna/pyproject.toml "
        "[project].dependencies; 'optuna>=4.2' in "
        "plugins/optuna/src/helios_optuna/helios-plugin.toml requires.packages); the floors "
        "cell installs one version, so declare the same floor everywhere"
    )
    # the same floor spelt two ways is one floor
    root = layout(tmp_path, manifest=MANIFEST.replace('"optuna>=4.0"', '"Optuna>=4.0.0"'))
    assert "optuna==4.0" in pins(root)


def test_hostile_project_files(tmp_path: Path) -> None:
    root = layout(tmp_path)
    manifest = root / "plugins/optuna/src/helios_optuna/helios-plugin.toml"
    manifest.write_text("x" * (floors.MAX_FILE_BYTES + 1), encoding="utf-8")
    assert error(root) == (
        f"{manifest}: {floors.MAX_FILE_BYTES + 1} bytes, more than the {floors.MAX_FILE_BYTES} "
        "a project file may hold here"
    )
    manifest.unlink()
    os.mkfifo(manifest)  # a reader would block on it: refused unread
    with pytest.raises(FloorError) as info:
        floors.read_bounded(manifest)
    assert str(info.value) == f"{manifest}: expected a regular file, found none (or not a file)"
    manifest.unlink()
    manifest.write_text('[requires]\npackages = "optuna>=4.0"\n', encoding="utf-8")
    assert error(root) == (
        "plugins/optuna/src/helios_optuna/helios-plugin.toml requires.packages: expected an "
        "array of requirement strings, found 'optuna>=4.0'"
    )
    manifest.write_text("[requires\n", encoding="utf-8")
    assert error(root).startswith(f"{manifest}: not valid TOML (")


def test_installed_versions_against_the_pins(tmp_path: Path) -> None:
    wanted = select(floors_of(layout(tmp_path), "3.11"), build=False)
    installed = {
        "matplotlib": "3.8.4",
        "optuna": "4.0.0",  # "==4.0" admits 4.0.0
        "packaging": "22.0",
        "scikit-learn": "1.4.2",
        "torch": "2.13.0+cpu",  # the local CPU build of 2.13.0
        "tqdm": "4.60.0",
    }
    assert unmet(wanted, installed.get) == []
    installed.update(tqdm="4.61.0", torch="2.14.0+cpu")
    del installed["optuna"]
    assert unmet(wanted, installed.get) == [
        "optuna: pinned optuna==4.0, found it not installed",
        "torch: pinned torch==2.13, found torch 2.14.0+cpu",
        "tqdm: pinned tqdm==4.60, found tqdm 4.61.0",
    ]


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = layout(tmp_path)
    assert floors.main(["pins", "--root", str(root), "--python", "3.10", "--build"]) == 0
    assert capsys.readouterr().out == "hatchling==1.18\n"
    args = ["--root", str(root), "--only", "core/pyproject.toml", "--skip", "torch"]
    assert floors.main(["pins", "--python", "3.10", *args]) == 0
    assert capsys.readouterr().out == "packaging==22\ntomli==1.1\ntqdm==4.60\n"
    # this test's environment has no such old tqdm: check names it and fails
    layout(root, core=CORE.replace('"tqdm~=4.60"', '"tqdm>=1.0"'))
    assert floors.main(["check", "--python", "3.10", *args, "--skip", "tomli"]) == 1
    err = capsys.readouterr().err
    assert "error: tqdm: pinned tqdm==1.0, found tqdm " in err
    layout(root, core=CORE.replace('"tqdm~=4.60"', '"tqdm"'))
    assert floors.main(["pins", "--root", str(root)]) == 1
    assert capsys.readouterr().err.startswith("error: 'tqdm' in core/pyproject.toml")


def test_this_repository_declares_a_floor_for_every_third_party_requirement() -> None:
    found = floors_of(ROOT, "3.11")  # raises FloorError on a requirement without one
    ours = {p.name for p in all_projects(ROOT)}
    declared = {
        requirement_name(line)
        for p in all_projects(ROOT)
        for line in p.dependencies
        if "python_version < '3.11'" not in line
    }
    assert declared - ours <= {f.name for f in found}
    assert not {f.name for f in found} & ours

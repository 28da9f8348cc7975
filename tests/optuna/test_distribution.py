"""The helios-optuna distribution: its metadata, its manifest, and the verdicts before import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import packaging
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helios.cli import main
from helios.plugins._host.distinfo import canonical_name, ranges_on
from helios.plugins._host.manifest import load_manifest
from helios.plugins._host.toml_source import parse_toml
from support.distfactory import write_dist_info
from support.plugin_env import PluginEnv

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "plugins" / "optuna"
PACKAGE = PROJECT / "src" / "helios_optuna"
MANIFEST = PACKAGE / "helios-plugin.toml"


def _pyproject(path: Path) -> dict[str, Any]:
    project: dict[str, Any] = parse_toml(path.read_text(encoding="utf-8"))["project"]
    return project


def test_the_pyproject_core_range_equals_the_manifests() -> None:
    project = _pyproject(PROJECT / "pyproject.toml")
    manifest = load_manifest(MANIFEST)
    dependencies: list[str] = project["dependencies"]
    assert ranges_on("helios-trainer", dependencies) == [manifest.requires_helios]
    assert manifest.requires_helios == SpecifierSet(">=0.4,<0.5")
    assert dependencies == ["helios-trainer>=0.4,<0.5", "optuna>=4.0"]
    assert [str(p) for p in manifest.packages] == ["optuna>=4.0"]
    assert (project["name"], project["version"]) == ("helios-optuna", version("helios-optuna"))
    assert project["entry-points"] == {
        "helios.plugins": {"optuna": "helios_optuna.plugin:OptunaPlugin"}
    }
    assert (manifest.id, manifest.class_path) == ("optuna", "helios_optuna.plugin:OptunaPlugin")
    assert manifest.overrides.claimed() == {"should_training_stop"}
    assert manifest.device.accelerator == "any"


def test_optuna_is_no_dependency_of_the_core() -> None:
    dependencies: list[str] = _pyproject(ROOT / "core" / "pyproject.toml")["dependencies"]
    names = {canonical_name(Requirement(d).name) for d in dependencies}
    assert "optuna" not in names and "helios-optuna" not in names


def test_the_project_tree_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "validate", str(PROJECT)]) == 0
    assert capsys.readouterr().out == (
        f"ok: {PROJECT} (plug-in 'optuna', class helios_optuna.plugin:OptunaPlugin)\n"
    )


def _install_fixture_copy(env: PluginEnv) -> None:
    """helios-optuna's real files and dependencies, as pip would leave them in env's site."""
    env.add(
        "helios-optuna",
        "optuna",
        package="helios_optuna",
        class_name="OptunaPlugin",
        manifest=MANIFEST.read_text(encoding="utf-8"),
        module_source=(PACKAGE / "plugin.py").read_text(encoding="utf-8"),
        init_source=(PACKAGE / "__init__.py").read_text(encoding="utf-8"),
        requires=tuple(_pyproject(PROJECT / "pyproject.toml")["dependencies"]),
        version=_pyproject(PROJECT / "pyproject.toml")["version"],
    )


def _verdict(stdout: str) -> dict[str, object]:
    (verdict,) = json.loads(stdout)["plugins"]
    assert isinstance(verdict, dict)
    return verdict


def test_a_too_old_optuna_is_incompatible_before_import(tmp_path: Path) -> None:
    env = PluginEnv(tmp_path, version("helios-trainer"))
    _install_fixture_copy(env)
    write_dist_info(env.site, "optuna", "3.6.0")  # found before the real one on sys.path
    code, out, err, modules = env.cli("plugins", "check", "optuna", "--json")
    assert code == 1, err
    verdict = _verdict(out)
    assert {k: verdict[k] for k in ("reason", "kind", "message", "required", "found", "fix")} == {
        "reason": "incompatible-package",
        "kind": "incompatible",
        "message": "requires optuna>=4.0, found optuna 3.6.0",
        "required": "optuna>=4.0",
        "found": "optuna 3.6.0",
        "fix": "pip install 'optuna>=4.0'",
    }
    assert (verdict["distribution"], verdict["version"]) == (
        "helios-optuna",
        _pyproject(PROJECT / "pyproject.toml")["version"],
    )
    assert not {"helios_optuna", "optuna", "torch"} & {m.partition(".")[0] for m in modules}


# Runs the CLI with no site-packages at all (python -S): only the fixture site, the core's
# source and packaging (its one light dependency) are importable, so Optuna is truly absent.
_BARE = """
import json, site, sys
site.addsitedir(sys.argv[1])
from helios.cli import main
code = main(sys.argv[3:])
with open(sys.argv[2], "w") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(code)
"""


def _bare_python(tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    import helios

    light = tmp_path / "light"  # the two packages only, wherever they are installed
    light.mkdir()
    (light / "packaging").symlink_to(Path(packaging.__file__).parent)
    (light / "helios").symlink_to(Path(helios.__file__).parent)
    path = str(light)
    return subprocess.run(
        [sys.executable, "-S", "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=False,
    )


def test_a_missing_optuna_is_incompatible_before_import(tmp_path: Path) -> None:
    env = PluginEnv(tmp_path / "env", version("helios-trainer"))
    _install_fixture_copy(env)
    modules_file = tmp_path / "modules.json"
    proc = _bare_python(
        tmp_path, _BARE, str(env.site), str(modules_file), "plugins", "check", "optuna", "--json"
    )
    assert proc.returncode == 1, proc.stderr
    verdict = _verdict(proc.stdout)
    assert {k: verdict[k] for k in ("reason", "kind", "message", "required", "found", "fix")} == {
        "reason": "missing-package",
        "kind": "incompatible",
        "message": "requires optuna>=4.0, found optuna not installed",
        "required": "optuna>=4.0",
        "found": "optuna not installed",
        "fix": "pip install 'optuna>=4.0'",
    }
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    assert not {"helios_optuna", "optuna", "torch"} & {m.partition(".")[0] for m in modules}


def test_the_seed_import_path_names_the_distribution_when_it_is_absent(tmp_path: Path) -> None:
    env = PluginEnv(tmp_path / "env", version("helios-trainer"))  # helios-trainer only
    code = (
        "import site, sys\n"
        "site.addsitedir(sys.argv[1])\n"
        "import helios.plugins.optuna\n"
        "try:\n"
        "    from helios.plugins.optuna import OptunaPlugin\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    proc = _bare_python(tmp_path, code, str(env.site))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "PluginNotInstalledError the plug-in class 'OptunaPlugin' comes with the distribution "
        "helios-optuna, which is not installed. Fix: pip install helios-optuna\n"
    )


def test_importing_the_seed_module_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys, helios.plugins.optuna; print(sorted({'torch', 'optuna'} & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr

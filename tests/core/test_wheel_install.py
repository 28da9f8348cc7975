"""A plug-in built as a real wheel (hatchling) and installed by pip is found and checked."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.distfactory import manifest_text, plugin_source
from support.plugin_env import PluginEnv

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "helios-wheeled"
version = "0.3.0"
dependencies = ["helios-trainer>=0.1,<0.2"]

[project.entry-points."helios.plugins"]
wheeled = "helios_wheeled.plugin:WheeledPlugin"
"""


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
def test_wheel_built_and_installed_by_pip(tmp_path: Path, plugin_env: PluginEnv) -> None:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    project = tmp_path / "project"
    package = project / "src" / "helios_wheeled"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('never imported by check')\n")
    (package / "plugin.py").write_text(
        plugin_source("WheeledPlugin", "wheeled", ("testing_batch",))
    )
    (package / "helios-plugin.toml").write_text(
        manifest_text(
            "wheeled", "helios_wheeled.plugin:WheeledPlugin", overrides=("testing_batch",)
        )
    )
    (project / "pyproject.toml").write_text(PYPROJECT)

    pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(tmp_path / "dist"),
        str(project),
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert "helios_wheeled/helios-plugin.toml" in zipfile.ZipFile(wheel).namelist()
    pip("install", "--no-deps", "--no-index", "--target", str(plugin_env.site), str(wheel))

    code, out, err, modules = plugin_env.cli("plugins", "check", "wheeled", "--json")
    assert (code, err) == (0, "")
    (verdict,) = json.loads(out)["plugins"]
    assert (verdict["distribution"], verdict["version"], verdict["reason"]) == (
        "helios-wheeled",
        "0.3.0",
        "ready",
    )
    assert verdict["manifest"] == str(plugin_env.site / "helios_wheeled" / "helios-plugin.toml")
    assert "helios_wheeled" not in modules

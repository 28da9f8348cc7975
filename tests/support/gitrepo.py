"""Throwaway git repositories laid out like this monorepo (core/ and plugins/<id>/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.10"
dependencies = [{dependencies}]
{entry_points}
[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]
"""

MANIFEST = """\
manifest-version = 1
id = "{id}"
class = "{package}.plugin:Plugin"

[requires]
helios = "{core_range}"
"""


class Repo:
    """A git repository with core/ and plugins/<id>/ laid out like this monorepo."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def core(self, version: str, marker: str = "") -> None:
        self.write(
            "core/pyproject.toml",
            PYPROJECT.format(
                name="helios-trainer",
                version=version,
                dependencies="",
                entry_points="",
                package="helios",
            ),
        )
        self.write("core/src/helios/__init__.py", f"MARKER = {marker!r}\n")

    def plugin(
        self, plugin_id: str, core_range: str, version: str = "0.1.0", manifest_range: str = ""
    ) -> None:
        package = f"helios_{plugin_id}"
        folder = f"plugins/{plugin_id}"
        self.write(
            f"{folder}/pyproject.toml",
            PYPROJECT.format(
                name=f"helios-{plugin_id}",
                version=version,
                dependencies=f'"helios-trainer{core_range}"',
                entry_points=(
                    f'\n[project.entry-points."helios.plugins"]\n'
                    f'{plugin_id} = "{package}.plugin:Plugin"\n'
                ),
                package=package,
            ),
        )
        self.write(f"{folder}/src/{package}/__init__.py", "")
        self.write(f"{folder}/src/{package}/plugin.py", "class Plugin:\n    pass\n")
        self.write(
            f"{folder}/src/{package}/helios-plugin.toml",
            MANIFEST.format(id=plugin_id, package=package, core_range=manifest_range or core_range),
        )

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

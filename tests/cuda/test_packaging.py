"""The distribution's metadata and its manifest agree (read from the source tree)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2] / "plugins" / "cuda"


def test_core_range_equals_the_manifest() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    manifest = tomllib.loads((ROOT / "src/helios_cuda/helios-plugin.toml").read_text())
    ranges = [
        Requirement(d).specifier for d in project["dependencies"] if d.startswith("helios-trainer")
    ]
    assert ranges == [SpecifierSet(manifest["requires"]["helios"])]
    assert project["entry-points"]["helios.plugins"] == {"cuda": manifest["class"]}
    assert manifest["id"] == "cuda"


def test_validate_accepts_the_source_tree() -> None:
    # Through the command, not a module: the compatibility cells run this test against older
    # released cores, whose internals differ; `helios plugins validate` is the stable interface.
    done = subprocess.run(
        [sys.executable, "-m", "helios", "plugins", "validate", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

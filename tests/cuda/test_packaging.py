"""The distribution's metadata and its manifest agree (read from the source tree)."""

from __future__ import annotations

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
    from helios.plugins.authoring.static import validate_path

    result = validate_path(ROOT)
    assert result.ok, result.problems

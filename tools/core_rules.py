"""The core's distribution-consistency rule, for the repository's tools.

Imported from this repository's ``core/src``, so ``python -m tools.release check`` and
``python -m tools.wheelhouse`` judge this tree by this tree's rule, whether or not (and in
whichever version) helios-trainer is installed where they run: the lint and release sessions
install only ``packaging``. :mod:`helios.plugins._host.consistency` imports nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from tools.projects import REPO_ROOT, Project

_SOURCE = str(REPO_ROOT / "core" / "src")
if _SOURCE not in sys.path:
    sys.path.insert(0, _SOURCE)

from helios.plugins._host import consistency  # noqa: E402
from helios.plugins._host.findings import Finding  # noqa: E402

__all__ = ["Finding", "consistency", "manifest_claims", "project_declares", "project_findings"]


def _spec(value: object) -> SpecifierSet | None:
    try:
        return SpecifierSet(value) if isinstance(value, str) else None
    except InvalidSpecifier:
        return None


def manifest_claims(manifest: dict[str, Any], file: Path) -> consistency.Claimed | Finding:
    """What the plug-in's manifest (parsed TOML) says, or why its requires.helios is unusable."""
    requires = manifest.get("requires", {})
    helios = _spec(requires.get("helios"))
    if helios is None:
        return Finding(
            "manifest-invalid",
            f"the manifest's requires.helios is {requires.get('helios')!r}, not a version range",
            file=str(file),
            key="requires.helios",
            fix=f"run helios plugins validate {file}",
        )
    return consistency.Claimed(
        str(file),
        str(manifest.get("id", "")),
        str(manifest.get("class", "")),
        helios,
        _spec(requires.get("python")),
        tuple(str(p) for p in requires.get("packages", ())),
    )


def project_declares(project: Project, requires_python: str | None) -> consistency.Declared:
    """What the plug-in's pyproject.toml declares."""
    return consistency.Declared(
        str(project.pyproject),
        "pyproject",
        tuple(project.entry_points.items()),
        project.dependencies,
        requires_python,
    )


def project_findings(project: Project, requires_python: str | None) -> list[Finding]:
    """The consistency findings of one plug-in project of this repository."""
    assert project.manifest_path is not None
    claimed = manifest_claims(project.manifest(), project.manifest_path)
    if isinstance(claimed, Finding):
        return [claimed]
    return consistency.consistency_findings(
        claimed,
        project_declares(project, requires_python),
        classes=consistency.source_lookup([project.path / "src"]),
    )

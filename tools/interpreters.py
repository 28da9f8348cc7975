"""The Pythons the CI runs on, read from the pyproject files, and where pyenv keeps them.

The torch-free floor runs on every Python that ``core/pyproject.toml``'s classifiers list
(``nox.project.python_versions`` reads them); every other session runs on the one Python of
``[tool.helios.ci] python`` in the root ``pyproject.toml``. Nothing here starts a process: the
noxfile calls these when nox reads it, and ``nox --list`` must stay free of side work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet

ROOT_PYPROJECT = "pyproject.toml"
CI_TABLE = "[tool.helios.ci]"


def main_python(root_pyproject: dict[str, Any], floor: Sequence[str]) -> str:
    """``[tool.helios.ci] python``: the Python of the torch floor, the plug-ins and the tools.

    A ValueError names the key, what it holds and the fix when it is missing, not a
    ``3.N`` string, or not one of the ``floor`` Pythons the core declares.
    """
    ci = root_pyproject.get("tool", {}).get("helios", {}).get("ci", {})
    found = ci.get("python") if isinstance(ci, dict) else None
    if not isinstance(found, str) or not re.fullmatch(r"3\.\d+", found):
        raise ValueError(
            f'{ROOT_PYPROJECT}: {CI_TABLE} python must be a Python version like "3.11", '
            f"found {found!r}; set it to one of {', '.join(floor)}"
        )
    if found not in floor:
        raise ValueError(
            f"{ROOT_PYPROJECT}: {CI_TABLE} python = {found!r} is not a Python the core "
            f"supports (core/pyproject.toml classifiers: {', '.join(floor)}); pick one of them "
            "or add its classifier"
        )
    return found


def check_classifiers(core_pyproject: dict[str, Any], floor: Sequence[str]) -> None:
    """The classifiers' Pythons must all meet ``requires-python``: a ValueError otherwise."""
    raw = core_pyproject.get("project", {}).get("requires-python", "")
    spec = SpecifierSet(raw)
    outside = [v for v in floor if not spec.contains(f"{v}.0")]
    if outside:
        raise ValueError(
            f"core/pyproject.toml: the classifiers list Python {', '.join(outside)}, which "
            f"requires-python = {raw!r} leaves out; drop those classifiers or widen "
            "requires-python"
        )


def pyenv_version(
    env: Mapping[str, str], pythons: Sequence[str], home: Path | None = None
) -> str | None:
    """``PYENV_VERSION`` extended with pyenv's newest install of each of ``pythons``.

    nox finds a pyenv interpreter only when ``PYENV_VERSION`` names it, and pyenv's shim sets
    it to the running version alone. The versions already listed stay, first; a Python they
    cover (by minor version) is not added again. Reads the ``versions`` folder of
    ``$PYENV_ROOT`` (default ``~/.pyenv``); runs no ``pyenv``. None when nothing is to add.
    """
    root = Path(env["PYENV_ROOT"]) if env.get("PYENV_ROOT") else (home or Path.home()) / ".pyenv"
    versions = root / "versions"
    try:
        installed = [p.name for p in versions.iterdir() if p.is_dir()]
    except OSError:
        return None
    listed = [v for v in env.get("PYENV_VERSION", "").split(":") if v]
    newest: dict[str, tuple[int, str]] = {}
    for version in installed:
        match = re.fullmatch(r"(3\.\d+)\.(\d+)", version)
        if match and match.group(1) in pythons:
            patch = int(match.group(2))
            if patch >= newest.get(match.group(1), (-1, ""))[0]:
                newest[match.group(1)] = (patch, version)
    covered = {v.rpartition(".")[0] for v in listed}
    extra = [version for minor, (_, version) in sorted(newest.items()) if minor not in covered]
    return ":".join(listed + extra) if extra else None


def use_pyenv_pythons(pythons: Sequence[str]) -> None:
    """Let nox find pyenv's ``pythons``: set ``PYENV_VERSION`` for this process if needed."""
    value = pyenv_version(os.environ, pythons)
    if value is not None:
        os.environ["PYENV_VERSION"] = value

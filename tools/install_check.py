"""Checks run inside a fresh virtual environment by ``nox -s install`` and ``nox -s refuse``.

    python -m tools.install_check installed ID
        exactly plug-in ID is installed (with helios-trainer), its verdict is the one this
        machine calls for, and it imports where it should and is left alone where it should not
    python -m tools.install_check refused FOLDER
        build FOLDER's plug-in against a core range that leaves out the installed core, install it
        with --no-deps, and prove ``helios plugins check`` reports it incompatible, unimported

Each prints what it saw and exits 1 with the reason on the first mismatch.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from tools.projects import CORE, MANIFEST, REPO_ROOT, find_project, plugin_projects

SENTINEL = "helios-install-check: the plug-in module was imported"


class CheckFailed(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def helios(*args: str) -> tuple[int, Any]:
    """Run ``helios ARGS --json`` in this environment; (exit status, parsed JSON)."""
    done = subprocess.run(
        [sys.executable, "-m", "helios", *args, "--json"], capture_output=True, text=True
    )
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"helios {' '.join(args)} printed no JSON: {done.stderr}") from exc


def cuda_usable() -> bool:
    """What this machine offers, asked of torch itself (not of helios's probe)."""
    code = "import torch; print(torch.cuda.is_available())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def installed(plugin_id: str) -> None:
    by_id = {i: p for p in plugin_projects(REPO_ROOT) for i in p.entry_points}
    expect(plugin_id in by_id, f"no plug-in {plugin_id!r} here; known: {sorted(by_id)}")
    project = by_id[plugin_id]
    names = (canonicalize_name(d.metadata["Name"] or "") for d in metadata.distributions())
    ours = sorted(name for name in names if name.startswith("helios-"))
    print(f"installed helios distributions: {ours}")
    expect(ours == sorted([CORE, project.name]), f"expected only {CORE} and {project.name}")
    status, report = helios("plugins", "list")
    found = [(p["id"], p["distribution"], p["version"], p["kind"]) for p in report["plugins"]]
    print(f"helios plugins list: core {report['core']['version']}, plug-ins {found}")
    expect(status == 0, f"helios plugins list exited {status}")
    wanted_entry = (plugin_id, project.name, project.version)
    expect(len(found) == 1 and found[0][:3] == wanted_entry, f"expected only {wanted_entry}")
    accelerator = project.manifest().get("device", {}).get("accelerator", "any")
    usable = accelerator != "cuda" or cuda_usable()
    wanted = "ok" if usable else "not-applicable"
    expect(found[0][3] == wanted, f"verdict {found[0][3]!r}, this machine calls for {wanted!r}")

    from helios.plugins import build_report

    verdict = build_report([plugin_id], load=True).verdicts[0]
    imported = project.package in sys.modules
    print(f"check --import in process: {verdict.reason.value}; imported: {imported}")
    expect(imported == usable, f"{project.package} imported={imported}, should be {usable}")
    status, _ = helios("plugins", "check", plugin_id, "--import")
    expect(status == (0 if usable else 1), f"helios plugins check --import exited {status}")


def rewrite(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one match of ``pattern`` in ``path``; fail naming the file otherwise."""
    text, count = re.subn(pattern, replacement, path.read_text(encoding="utf-8"))
    expect(count == 1, f"{path}: expected one match of {pattern!r} to rewrite, found {count}")
    path.write_text(text, encoding="utf-8")


def refused(folder: str) -> None:
    project = find_project(REPO_ROOT, folder)
    core = Version(metadata.version(CORE))
    excluded = f">={core.major}.{core.minor + 1},<{core.major}.{core.minor + 2}"
    with tempfile.TemporaryDirectory(prefix="helios-refused-") as tmp:
        source = Path(tmp) / "src-tree"
        shutil.copytree(project.path, source, ignore=shutil.ignore_patterns("__pycache__"))
        package = source / "src" / project.package
        rewrite(package / MANIFEST, r'(?m)^helios = "[^"]*"', f'helios = "{excluded}"')
        rewrite(source / "pyproject.toml", r'"helios-trainer[^"]*"', f'"{CORE}{excluded}"')
        init = package / "__init__.py"
        init.write_text(f"{init.read_text(encoding='utf-8')}\nraise RuntimeError({SENTINEL!r})\n")
        wheels = Path(tmp) / "wheels"
        pip = [sys.executable, "-m", "pip"]
        # hatchling (the build backend) comes from the index; nothing else is fetched
        subprocess.run(
            [*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)], check=True
        )
        wheel = next(wheels.glob("*.whl"))
        subprocess.run([*pip, "install", "-q", "--no-deps", str(wheel)], check=True)
    print(f"installed {wheel.name} built for {CORE}{excluded} beside {CORE} {core} (--no-deps)")
    plugin_id = next(iter(project.entry_points))
    status, report = helios("plugins", "check", plugin_id, "--import")
    entry = report["plugins"][0]
    print(f"helios plugins check {plugin_id} --import: exit {status}, {entry['kind']}: ")
    print(f"  {entry['message']}\n  fix: {entry['fix']}")
    expect(status == 1, f"check exited {status}, expected 1")
    expect(entry["kind"] == "incompatible", f"kind {entry['kind']!r}, expected 'incompatible'")
    expect(entry["reason"] == "incompatible-core", f"reason {entry['reason']!r}")
    done = subprocess.run(
        [sys.executable, "-m", "helios", "plugins", "list"], capture_output=True, text=True
    )
    print(done.stdout)
    expect(SENTINEL not in done.stdout + done.stderr, "the plug-in module was imported")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["installed"] and len(argv) == 2:
            installed(argv[1])
        elif argv[:1] == ["refused"] and len(argv) == 2:
            refused(argv[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except CheckFailed as exc:
        print(f"install check failed: {exc}", file=sys.stderr)
        return 1
    print("install check passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

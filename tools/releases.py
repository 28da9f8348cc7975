"""Where each release of a distribution came from: ``releases.toml`` and the git history.

A release is found from the repository's own history, because tags need not survive a clone:
the commit that set ``version = "X"`` in the distribution's pyproject.toml released X. The
release script makes exactly such commits. ``releases.toml`` records the exceptions (releases
made before that rule, e.g. a version set early and released later) and wins over history.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tools.projects import Project, TOMLDecodeError, all_projects, read_pyproject, read_toml

RECORD = "releases.toml"


class HistoryError(RuntimeError):
    """The git history cannot answer (not a repository, a shallow clone, a bad record)."""


@dataclass(frozen=True, order=True)
class Release:
    """``distribution`` ``version``, released by ``commit`` (a full hash)."""

    version: Version
    distribution: str
    commit: str

    def __str__(self) -> str:
        return f"{self.distribution}=={self.version} ({self.commit[:12]})"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise HistoryError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def _require_full_history(root: Path) -> None:
    if git(root, "rev-parse", "--is-shallow-repository").strip() == "true":
        raise HistoryError(
            f"{root} is a shallow clone: older releases are rebuilt from the commits that made "
            "them. Fix: git fetch --unshallow (or clone without --depth)"
        )


def _version_at(root: Path, commit: str, pyproject: str) -> str | None:
    try:
        text = git(root, "show", f"{commit}:{pyproject}")
        version = read_pyproject(text).get("version")
    except (HistoryError, ValueError, TOMLDecodeError):
        return None
    return version if isinstance(version, str) else None


def recorded(root: Path, project: Project) -> dict[str, str]:
    """Version -> commit recorded in releases.toml for ``project``."""
    path = root / RECORD
    if not path.is_file():
        return {}
    data = read_toml(path.read_text(encoding="utf-8"))
    entries = data.get("release", [])
    known = {p.name for p in all_projects(root)}
    found: dict[str, str] = {}
    for entry in entries:
        name, version, commit = (entry.get(k) for k in ("distribution", "version", "commit"))
        if not all(isinstance(v, str) for v in (name, version, commit)):
            raise HistoryError(
                f"{path}: every [[release]] needs string distribution, version and commit "
                f"keys, found {entry}"
            )
        if name not in known:
            raise HistoryError(
                f"{path}: distribution {name!r} is not in this repository (known: "
                f"{', '.join(sorted(known))}); fix the record"
            )
        if name != project.name:
            continue
        try:
            full = git(root, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").strip()
        except HistoryError:
            raise HistoryError(
                f"{path}: {name} {version} is recorded at {commit!r}, which is not a commit "
                "here; fix the record (or fetch the full history)"
            ) from None
        at = _version_at(root, full, f"{project.folder}/pyproject.toml")
        if at != version:
            raise HistoryError(
                f"{path}: {project.name} {version} is recorded at {commit[:12]}, but "
                f"{project.folder}/pyproject.toml there says version {at!r}; fix the record"
            )
        found[version] = full
    return found


def releases(root: Path, project: Project) -> list[Release]:
    """Every release of ``project`` in history, oldest first (pre-releases included)."""
    _require_full_history(root)
    pyproject = f"{project.folder}/pyproject.toml"
    setters: dict[str, str] = {}
    previous: str | None = None
    for commit in git(root, "log", "--reverse", "--format=%H", "--", pyproject).split():
        version = _version_at(root, commit, pyproject)
        if version is not None and version != previous:
            setters.setdefault(version, commit)
        previous = version
    setters.update(recorded(root, project))
    found = []
    for version, commit in setters.items():
        try:
            found.append(Release(Version(version), project.name, commit))
        except InvalidVersion:
            continue  # not a release anyone can install
    return sorted(found)


def export(root: Path, commit: str, folder: str, dest: Path) -> Path:
    """Write ``folder`` as it was at ``commit`` under ``dest``; returns the exported folder."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", commit, folder],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise HistoryError(f"git archive {commit[:12]} {folder} failed: {archive.stderr!r}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / folder


def build_wheel(
    root: Path,
    release: Release,
    folder: str,
    cache: Path,
    run: Callable[[Sequence[str]], object],
) -> Path:
    """The wheel of ``release`` built from its commit, kept in ``cache/<dist>-<ver>-<commit>/``.

    ``run`` runs a command (``pip wheel`` of the exported folder): nox's ``session.run``, or
    a subprocess in tests. A cached wheel is reused; the commit is part of its folder's name.
    """
    stem = f"{release.distribution.replace('-', '_')}-{release.version}"
    wheel_dir = cache / f"{release.distribution}-{release.version}-{release.commit[:12]}"
    built = sorted(wheel_dir.glob(f"{stem}-*.whl"))
    if not built:
        with tempfile.TemporaryDirectory(prefix="helios-release-") as tmp:
            source = export(root, release.commit, folder, Path(tmp))
            run(["python", "-m", "pip", "wheel", "--no-deps", "-w", str(wheel_dir), str(source)])
        built = sorted(wheel_dir.glob(f"{stem}-*.whl"))
    if len(built) != 1:
        raise HistoryError(f"building {release} left {len(built)} {stem} wheels in {wheel_dir}")
    return built[0]

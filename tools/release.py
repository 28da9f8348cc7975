"""Release one distribution: check the ranges, bump its version, commit and tag.

    python -m tools.release check                 # manifests agree with their pyproject.toml
                                                  # (entry point, ranges: the core's rule)
    python -m tools.release DIST VERSION          # e.g. helios-cuda 0.1.1 (or: cuda 0.1.1)
    python -m tools.release DIST VERSION --dry-run
    python -m tools.release DIST VERSION --upload URL   # then upload its wheel and sdist
    python -m tools.release DIST VERSION --upload URL --from-tree

``--upload URL`` builds the wheel and sdist of DIST VERSION from the commit that released it
(a VERSION already released is only uploaded; a new one is released first) and uploads both
with twine to the index at URL. ``--from-tree`` builds the working tree instead, which must be
at VERSION: the tree stands for its own version (``nox -s index`` uses it).

The release commit is the one that sets ``version = "VERSION"`` in DIST's pyproject.toml; the
compatibility matrix finds releases by that rule (tools/releases.py), so the tag is a courtesy.
``nox -s release -- DIST VERSION`` runs the same.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from tools.core_rules import project_findings
from tools.projects import (
    CORE,
    MANIFEST,
    REPO_ROOT,
    Project,
    find_project,
    plugin_projects,
    read_pyproject,
)
from tools.releases import HistoryError, Release, export, git, releases

#: Where wheels and sdists built from release commits are kept (the matrix's cache too).
RELEASE_CACHE = Path("build") / "releases"


def range_problems(root: Path) -> list[str]:
    """Plug-ins whose manifest disagrees with their pyproject.toml: entry point, helios-trainer
    range, requires.packages, requires.python (the core's consistency rule, one line each)."""
    problems = []
    for plugin in plugin_projects(root):
        if plugin.manifest_path is None:
            problems.append(f"{plugin.folder}: no src/{plugin.package}/{MANIFEST}")
            continue
        python = read_pyproject(plugin.pyproject.read_text(encoding="utf-8")).get("requires-python")
        for finding in project_findings(plugin, python if isinstance(python, str) else None):
            problems.append(f"{plugin.folder}: {finding.message}; {finding.fix}")
    return problems


def not_admitting(root: Path, version: Version) -> list[Project]:
    """Plug-ins whose core range leaves out core ``version``."""
    return [
        p
        for p in plugin_projects(root)
        if (spec := p.core_range()) is not None and not spec.contains(version, prereleases=True)
    ]


def write_version(project: Project, version: str) -> None:
    """Replace the one ``version = "..."`` line of [project], atomically."""
    text = project.pyproject.read_text(encoding="utf-8")
    pattern = re.compile(rf'^version = "{re.escape(project.version)}"$', re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise SystemExit(
            f"release: {project.pyproject} must have exactly one line "
            f'version = "{project.version}"; edit it by hand'
        )
    new = pattern.sub(f'version = "{version}"', text)
    from helios.atomic import write_text_atomic  # only here: `check` runs without the core

    write_text_atomic(project.pyproject, new, keep_mode=True)


def release(root: Path, name: str, version_text: str, *, dry_run: bool) -> int:
    project = find_project(root, name)
    try:
        version = Version(version_text)
    except InvalidVersion:
        print(f"release: {version_text!r} is not a PEP 440 version (e.g. 0.2.0)", file=sys.stderr)
        return 2
    newest = max([Version(project.version), *(r.version for r in releases(root, project))])
    if version <= newest:
        print(
            f"release: {project.name} {version} is not newer than {newest}, the newest "
            "version in this repository; pick a higher version",
            file=sys.stderr,
        )
        return 2
    problems = range_problems(root)
    if problems:
        print("release: fix the plug-in ranges first:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    if not dry_run and git(root, "status", "--porcelain", "--untracked-files=no").strip():
        print("release: commit or stash your changes first (git status)", file=sys.stderr)
        return 1
    tag = f"{project.name}-{version}"
    if git(root, "tag", "--list", tag).strip():
        print(f"release: tag {tag} exists already; pick a higher version", file=sys.stderr)
        return 2
    print(f"release: {project.name} {project.version} -> {version} (tag {tag})")
    if project.name == CORE:
        for plugin in not_admitting(root, version):
            print(
                f"release: note: {plugin.name} requires {CORE}{plugin.core_range()}, which "
                f"leaves out {version}; widen it in {plugin.folder}/pyproject.toml and its "
                "manifest once its compatibility cells pass, then release it"
            )
    if dry_run:
        print("release: dry run; nothing changed")
        return 0
    write_version(project, str(version))
    git(
        root,
        "commit",
        "-q",
        "-m",
        f"Release {project.name} {version}",
        "--",
        str(project.pyproject),
    )
    git(root, "tag", "-a", tag, "-m", f"{project.name} {version}")
    print(f"release: committed and tagged {tag}; push with: git push --follow-tags")
    return 0


class UploadError(RuntimeError):
    """A build or an upload failed; the message names the command and what it printed."""


def check_upload_url(url: str) -> str:
    """``url`` if it is an http(s) index URL; a ValueError naming what was found otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise ValueError(
            f"--upload expects the index's upload URL (http or https, e.g. "
            f"http://127.0.0.1:8080/), found {url[:200]!r}"
        )
    return url


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        raise UploadError(f"{' '.join(command)} failed ({done.returncode}):\n{output}")


def build_dists(source: Path, dest: Path) -> list[Path]:
    """The wheel and sdist of the project in ``source``, built into ``dest`` (python -m build)."""
    _run([sys.executable, "-m", "build", "--outdir", str(dest), str(source)])
    return sorted([*dest.glob("*.whl"), *dest.glob("*.tar.gz")])


def release_dists(root: Path, project: Project, release: Release, cache: Path) -> list[Path]:
    """The wheel and sdist of ``release`` built from its commit, kept in ``cache`` by commit."""
    folder = cache / f"{release.distribution}-{release.version}-{release.commit[:12]}" / "dists"
    stem = f"{release.distribution.replace('-', '_')}-{release.version}"
    found = sorted([*folder.glob(f"{stem}-*.whl"), *folder.glob(f"{stem}.tar.gz")])
    if len(found) != 2:
        with tempfile.TemporaryDirectory(prefix="helios-release-") as tmp:
            found = build_dists(export(root, release.commit, project.folder, Path(tmp)), folder)
    if len(found) != 2:
        raise UploadError(f"building {release} left {[p.name for p in found]} in {folder}")
    return found


def upload(url: str, files: list[Path]) -> None:
    """Upload ``files`` with twine to the index at ``url`` (no prompt, no keyring)."""
    _run(
        [
            sys.executable, "-m", "twine", "upload", "--non-interactive",
            "--disable-progress-bar", "--repository-url", url, "-u", "helios", "-p", "helios",
            *map(str, files),
        ]
    )  # fmt: skip
    for path in files:
        print(f"release: uploaded {path.name} to {url}")


def publish(root: Path, name: str, version_text: str, url: str, *, from_tree: bool) -> int:
    """Upload DIST VERSION (a release, built from its commit, or the tree at that version)."""
    project = find_project(root, name)
    try:
        version = Version(version_text)
    except InvalidVersion:
        print(f"release: {version_text!r} is not a PEP 440 version (e.g. 0.2.0)", file=sys.stderr)
        return 2
    if from_tree:
        if Version(project.version) != version:
            print(
                f"release: the working tree's {project.name} is {project.version}, not "
                f"{version}; drop --from-tree to upload the release {version}",
                file=sys.stderr,
            )
            return 2
        with tempfile.TemporaryDirectory(prefix="helios-tree-") as tmp:
            files = build_dists(project.path, Path(tmp))
            print(f"release: {project.name} {version} built from the working tree")
            upload(url, files)
        return 0
    found = [r for r in releases(root, project) if r.version == version]
    if not found:
        known = ", ".join(str(r.version) for r in releases(root, project)) or "none"
        print(
            f"release: {project.name} {version} is not a release in this repository's history "
            f"(releases: {known}); release it first, or pass --from-tree to upload the tree",
            file=sys.stderr,
        )
        return 2
    files = release_dists(root, project, found[0], root / RELEASE_CACHE)
    print(f"release: {project.name} {version} built from commit {found[0].commit[:12]}")
    upload(url, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__)
    parser.add_argument("distribution", help="'check', or a distribution name or folder")
    parser.add_argument("version", nargs="?", help="the new version (PEP 440)")
    parser.add_argument("--dry-run", action="store_true", help="check and print; change nothing")
    parser.add_argument("--upload", metavar="URL", help="upload its wheel and sdist to URL")
    parser.add_argument(
        "--from-tree", action="store_true", help="with --upload: build the working tree"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.distribution == "check":
        problems = range_problems(args.root)
        for problem in problems:
            print(f"release: {problem}", file=sys.stderr)
        if not problems:
            count = len(plugin_projects(args.root))
            print(f"release: {count} plug-in manifests match their pyproject.toml")
        return 1 if problems else 0
    if args.version is None:
        parser.error("give the new version, e.g. python -m tools.release helios-cuda 0.1.1")
    if args.from_tree and args.upload is None:
        parser.error("--from-tree goes with --upload URL")
    try:
        if args.upload is not None:
            url = check_upload_url(args.upload)
            project = find_project(args.root, args.distribution)
            known = {str(r.version) for r in releases(args.root, project)}
            if not args.from_tree and args.version not in known:
                status = release(args.root, args.distribution, args.version, dry_run=args.dry_run)
                if status != 0 or args.dry_run:
                    return status
            return publish(
                args.root, args.distribution, args.version, url, from_tree=args.from_tree
            )
        return release(args.root, args.distribution, args.version, dry_run=args.dry_run)
    except ValueError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    except (HistoryError, UploadError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Releases are found in the repository's own history and rebuilt from their commits."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.version import Version
from tools.projects import core_project
from tools.releases import RECORD, HistoryError, Release, build_wheel, releases

from support.gitrepo import Repo

ROOT = Path(__file__).resolve().parents[2]


def run(command: Sequence[str]) -> None:
    """What nox's session.run does for build_wheel: the command, with this interpreter."""
    assert command[0] == "python"
    subprocess.run([sys.executable, *command[1:]], check=True)


def refuse_to_run(command: Sequence[str]) -> None:
    raise AssertionError(f"a cached wheel should have been reused, not {command}")


def test_the_commit_that_set_a_version_released_it(repo: Repo) -> None:
    repo.core("0.1.0", marker="one")
    first = repo.commit("core 0.1.0")
    repo.core("0.1.0", marker="later work, same version")
    repo.commit("more work")
    repo.core("0.2.0", marker="two")
    second = repo.commit("Release helios-trainer 0.2.0")

    found = releases(repo.root, core_project(repo.root))

    assert found == [
        Release(Version("0.1.0"), "helios-trainer", first),
        Release(Version("0.2.0"), "helios-trainer", second),
    ]


def test_the_record_places_a_release_that_history_cannot(repo: Repo) -> None:
    repo.core("0.1.0", marker="skeleton")
    repo.commit("skeleton")
    repo.core("0.1.0", marker="what shipped")
    shipped = repo.commit("finished 0.1.0")
    repo.write(
        RECORD,
        f'[[release]]\ndistribution = "helios-trainer"\nversion = "0.1.0"\ncommit = "{shipped[:10]}"\n',
    )
    repo.commit("record")

    assert releases(repo.root, core_project(repo.root)) == [
        Release(Version("0.1.0"), "helios-trainer", shipped)
    ]


def test_a_record_that_contradicts_history_is_refused(repo: Repo) -> None:
    repo.core("0.1.0")
    first = repo.commit("0.1.0")
    repo.write(
        RECORD,
        f'[[release]]\ndistribution = "helios-trainer"\nversion = "0.3.0"\ncommit = "{first}"\n',
    )

    with pytest.raises(HistoryError) as caught:
        releases(repo.root, core_project(repo.root))

    assert str(caught.value) == (
        f"{repo.root / RECORD}: helios-trainer 0.3.0 is recorded at {first[:12]}, but "
        "core/pyproject.toml there says version '0.1.0'; fix the record"
    )


def test_a_shallow_clone_says_how_to_get_the_history(repo: Repo, tmp_path: Path) -> None:
    repo.core("0.1.0")
    repo.commit("0.1.0")
    repo.core("0.2.0")
    repo.commit("0.2.0")
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone)], check=True
    )

    with pytest.raises(HistoryError) as caught:
        releases(clone, core_project(clone))

    assert str(caught.value) == (
        f"{clone} is a shallow clone: older releases are rebuilt from the commits that made "
        "them. Fix: git fetch --unshallow (or clone without --depth)"
    )


@pytest.mark.slow
def test_an_older_release_is_rebuilt_from_its_commit(repo: Repo, tmp_path: Path) -> None:
    repo.core("0.1.0", marker="the 0.1.0 code")
    repo.commit("0.1.0")
    repo.core("0.2.0", marker="the 0.2.0 code")
    repo.commit("0.2.0")
    old = releases(repo.root, core_project(repo.root))[0]

    wheel = build_wheel(repo.root, old, "core", tmp_path / "wheels", run)

    assert wheel.name == "helios_trainer-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("helios/__init__.py").decode() == "MARKER = 'the 0.1.0 code'\n"
    assert "the 0.2.0 code" in (repo.root / "core/src/helios/__init__.py").read_text()
    # built once: a second call reuses the wheel
    assert build_wheel(repo.root, old, "core", tmp_path / "wheels", refuse_to_run) == wheel


@pytest.mark.slow
def test_this_repository_rebuilds_a_core_release_older_than_the_tree(tmp_path: Path) -> None:
    """The machinery on our own history: an older helios-trainer comes back as a wheel."""
    tree = core_project(ROOT)
    older = [r for r in releases(ROOT, tree) if r.version < Version(tree.version)]
    assert older, f"no helios-trainer release older than the tree's {tree.version} in history"
    oldest = older[0]

    wheel = build_wheel(ROOT, oldest, "core", tmp_path, run)

    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(f"helios_trainer-{oldest.version}.dist-info/METADATA").decode()
        shipped = archive.read("helios/plugins/plugin.py")
    assert f"\nVersion: {oldest.version}\n" in meta
    at_commit = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{oldest.commit}:core/src/helios/plugins/plugin.py"],
        capture_output=True,
        check=True,
    ).stdout
    assert shipped == at_commit


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            'distribution = "helios-trainer"\nversion = "0.1.0"\ncommit = "deadbeef"',
            "helios-trainer 0.1.0 is recorded at 'deadbeef', which is not a commit here; fix "
            "the record (or fetch the full history)",
        ),
        (
            'distribution = "helios-trainr"\nversion = "0.1.0"\ncommit = "HEAD"',
            "distribution 'helios-trainr' is not in this repository (known: helios-trainer); "
            "fix the record",
        ),
        (
            'distribution = "helios-trainer"\nversion = "0.1.0"',
            "every [[release]] needs string distribution, version and commit keys, found "
            "{'distribution': 'helios-trainer', 'version': '0.1.0'}",
        ),
    ],
)
def test_a_bad_record_names_the_entry_and_the_fix(repo: Repo, record: str, message: str) -> None:
    repo.core("0.1.0")
    repo.commit("0.1.0")
    repo.write(RECORD, f"[[release]]\n{record}\n")

    with pytest.raises(HistoryError) as caught:
        releases(repo.root, core_project(repo.root))

    assert str(caught.value) == f"{repo.root / RECORD}: {message}"

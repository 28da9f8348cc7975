"""``python -m tools.release``: ranges checked, one version line bumped, committed and tagged."""

from __future__ import annotations

import pytest
from packaging.version import Version
from tools.projects import find_project
from tools.release import main, range_problems
from tools.releases import releases

from support.gitrepo import Repo


def released_repo(repo: Repo) -> Repo:
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2")
    repo.commit("0.1.0")
    return repo


def test_a_release_commit_is_what_the_matrix_finds(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    released_repo(repo)

    assert main(["cuda", "0.1.1", "--root", str(repo.root)]) == 0

    head = repo.git("rev-parse", "HEAD")
    assert repo.git("log", "-1", "--format=%s") == "Release helios-cuda 0.1.1"
    assert repo.git("rev-parse", "helios-cuda-0.1.1^{commit}") == head
    assert repo.git("status", "--porcelain") == ""
    project = find_project(repo.root, "helios-cuda")
    assert project.version == "0.1.1"
    assert releases(repo.root, project)[-1].version == Version("0.1.1")
    assert releases(repo.root, project)[-1].commit == head
    assert "release: committed and tagged helios-cuda-0.1.1" in capsys.readouterr().out


def test_a_core_release_names_the_plugins_it_leaves_out(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    released_repo(repo)

    assert main(["helios-trainer", "0.2.0", "--dry-run", "--root", str(repo.root)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "release: helios-trainer 0.1.0 -> 0.2.0 (tag helios-trainer-0.2.0)",
        "release: note: helios-cuda requires helios-trainer<0.2,>=0.1, which leaves out 0.2.0; "
        "widen it in plugins/cuda/pyproject.toml and its manifest once its compatibility cells "
        "pass, then release it",
        "release: dry run; nothing changed",
    ]
    assert repo.git("status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["cuda", "0.1.0"],
            "release: helios-cuda 0.1.0 is not newer than 0.1.0, the newest version in this "
            "repository; pick a higher version",
        ),
        (["cuda", "next"], "release: 'next' is not a PEP 440 version (e.g. 0.2.0)"),
        (
            ["helios-nope", "1.0"],
            "release: no distribution 'helios-nope' in this repository; known: helios-trainer, "
            "helios-cuda",
        ),
    ],
)
def test_bad_requests_change_nothing(
    repo: Repo, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    released_repo(repo)

    assert main([*argv, "--root", str(repo.root)]) == 2

    assert capsys.readouterr().err.strip() == message
    assert repo.git("log", "--format=%s") == "0.1.0"


def test_uncommitted_changes_block_a_release(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    released_repo(repo)
    repo.write("core/src/helios/__init__.py", "# edited\n")

    assert main(["cuda", "0.1.1", "--root", str(repo.root)]) == 1

    assert capsys.readouterr().err.strip() == (
        "release: commit or stash your changes first (git status)"
    )
    assert find_project(repo.root, "cuda").version == "0.1.0"


def test_a_manifest_range_must_equal_the_pyproject_range(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2", manifest_range=">=0.1,<0.3")
    repo.commit("0.1.0")

    pyproject = repo.root / "plugins/cuda/pyproject.toml"
    manifest = repo.root / "plugins/cuda/src/helios_cuda/helios-plugin.toml"
    assert range_problems(repo.root) == [  # the core's rule and wording (consistency.py)
        f"plugins/cuda: [project].dependencies says helios-trainer>=0.1,<0.2 ({pyproject}) but "
        f"the manifest's requires.helios is <0.3,>=0.1 ({manifest}): pip installs what "
        "[project].dependencies says, the core checks requires.helios; write the helios-trainer "
        "versions the plug-in works with in both places: if that is <0.3,>=0.1, make "
        "[project].dependencies say 'helios-trainer<0.3,>=0.1'; if it is <0.2,>=0.1, set "
        f"requires.helios = '<0.2,>=0.1' in {manifest}"
    ]
    assert main(["check", "--root", str(repo.root)]) == 1
    assert main(["cuda", "0.1.1", "--root", str(repo.root)]) == 1
    assert "fix the plug-in ranges first" in capsys.readouterr().err
    assert find_project(repo.root, "cuda").version == "0.1.0"


def test_an_existing_tag_blocks_the_release_before_anything_changes(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    released_repo(repo)
    repo.git("tag", "helios-cuda-0.1.1")

    assert main(["cuda", "0.1.1", "--root", str(repo.root)]) == 2

    assert capsys.readouterr().err.strip() == (
        "release: tag helios-cuda-0.1.1 exists already; pick a higher version"
    )
    assert repo.git("log", "--format=%s") == "0.1.0"
    assert find_project(repo.root, "cuda").version == "0.1.0"

"""Compatibility cells come from each plug-in's own manifest and the core's release history."""

from __future__ import annotations

import pytest
from tools.matrix import compatibility_cells, edge_cell
from tools.projects import find_project

from support.gitrepo import Repo


def cells(repo: Repo) -> list[tuple[str, str, tuple[str, ...], str]]:
    return [
        (c.id, str(c.core.version), c.edges, "tree" if c.core.release is None else "history")
        for c in compatibility_cells(repo.root)
    ]


def test_oldest_and_newest_admitted_core_per_plugin(repo: Repo) -> None:
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        repo.core(version)
        repo.commit(f"core {version}")
    repo.core("0.4.0")  # the working tree, not yet committed
    repo.plugin("wide", ">=0.1,<0.5")
    repo.plugin("middle", ">=0.2,<0.4")
    repo.plugin("latest", ">=0.4")

    assert cells(repo) == [
        ("latest-core-0.4.0", "0.4.0", ("oldest", "newest"), "tree"),
        ("middle-core-0.2.0", "0.2.0", ("oldest",), "history"),
        ("middle-core-0.3.0", "0.3.0", ("newest",), "history"),
        ("wide-core-0.1.0", "0.1.0", ("oldest",), "history"),
        ("wide-core-0.4.0", "0.4.0", ("newest",), "tree"),
    ]


def test_each_edge_session_finds_its_cell_when_it_runs(repo: Repo) -> None:
    for version in ("0.1.0", "0.2.0"):
        repo.core(version)
        repo.commit(f"core {version}")
    repo.plugin("wide", ">=0.1,<0.3")
    repo.plugin("one", ">=0.2,<0.3")
    wide, one = find_project(repo.root, "wide"), find_project(repo.root, "one")

    assert edge_cell(repo.root, wide, "oldest").id == "wide-core-0.1.0"
    assert edge_cell(repo.root, wide, "newest").id == "wide-core-0.2.0"
    # a range that admits one core: both edges give its one cell, which names both
    assert edge_cell(repo.root, one, "newest") == edge_cell(repo.root, one, "oldest")
    assert edge_cell(repo.root, one, "newest").edges == ("oldest", "newest")
    with pytest.raises(ValueError, match="unknown edge") as info:
        edge_cell(repo.root, one, "middle")
    assert str(info.value) == "unknown edge 'middle': expected one of oldest, newest"


def test_the_tree_stands_for_its_own_version(repo: Repo) -> None:
    repo.core("0.1.0", marker="released")
    repo.commit("0.1.0")
    repo.core("0.1.0", marker="work after the release")
    repo.plugin("p", ">=0.1,<0.2")

    assert cells(repo) == [("p-core-0.1.0", "0.1.0", ("oldest", "newest"), "tree")]


def test_pre_releases_count_only_where_the_range_admits_them(repo: Repo) -> None:
    repo.core("0.1.0")
    repo.commit("0.1.0")
    repo.core("0.2.0rc1")
    repo.plugin("stable", ">=0.1,<0.2")
    repo.plugin("eager", ">=0.2.0rc1,<0.3")

    assert [c[0] for c in cells(repo)] == ["eager-core-0.2.0rc1", "stable-core-0.1.0"]


def test_a_range_no_core_meets_is_an_error_naming_the_fix(repo: Repo) -> None:
    repo.core("0.1.0")
    repo.commit("0.1.0")
    repo.plugin("future", ">=0.5")

    with pytest.raises(ValueError, match="admits no helios-trainer") as caught:
        compatibility_cells(repo.root)

    manifest = repo.root / "plugins/future/src/helios_future/helios-plugin.toml"
    assert str(caught.value) == (
        f"{manifest}: requires.helios = '>=0.5' admits no helios-trainer version in this "
        "repository (offered: 0.1.0); widen the range or release a matching core"
    )

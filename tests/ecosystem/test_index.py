"""tools/index.py and ``tools.release --upload``: what goes on the index, the server's start,
what pip should choose, and a real upload to a real pypiserver (``nox -s index`` runs them all)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from tools.index import (
    IndexProblem,
    Published,
    chosen_from_report,
    incompatible_core,
    left_behind,
    newest,
    newest_admitted,
    offerings,
    read_index,
    third_party,
)
from tools.index_server import ServerProblem, free_port, serve, start_deadline, wait_until_up
from tools.release import main

from support.gitrepo import Repo

V = Version


def test_the_tree_replaces_the_release_of_its_version_and_a_new_version_joins(
    repo: Repo,
) -> None:
    repo.core("0.1.0")
    repo.plugin("cuda", ">=0.1,<0.2")
    first = repo.commit("0.1.0")
    repo.core("0.2.0")
    second = repo.commit("core 0.2.0")
    repo.plugin("cuda", ">=0.1,<0.3", version="0.1.1")  # not committed: a release in the making

    found = [(o.project.name, str(o.version), o.source) for o in offerings(repo.root)]

    assert found == [
        ("helios-cuda", "0.1.0", f"commit {first[:12]}"),
        ("helios-cuda", "0.1.1", "working tree"),
        ("helios-trainer", "0.1.0", f"commit {first[:12]}"),
        ("helios-trainer", "0.2.0", "working tree"),  # not commit {second}: the tree stands for it
    ]
    assert second != first


def published(name: str, version: str, core: str | None, plugin_id: str | None) -> Published:
    requires = (f"helios-trainer{core}",) if core else ("torch>=2.1",)
    manifest = None if plugin_id is None else {"id": plugin_id, "requires": {"helios": core}}
    return Published(name, V(version), requires, manifest)


def test_pip_picks_the_newest_final_release_the_range_admits() -> None:
    versions = [V("0.1.0"), V("0.3.0"), V("0.2.0"), V("0.4.0rc1")]

    assert newest(versions) == V("0.3.0")
    assert newest([V("0.4.0rc1")]) == V("0.4.0rc1")
    assert newest([]) is None
    assert newest_admitted(SpecifierSet(">=0.1,<0.3"), versions) == V("0.2.0")
    assert newest_admitted(SpecifierSet(">=0.5"), versions) is None
    assert newest_admitted(None, versions) == V("0.3.0")


def test_the_plugin_left_behind_is_the_newest_release_made_for_an_older_core() -> None:
    index = {
        "helios-trainer": {
            V(v): published("helios-trainer", v, None, None) for v in ("0.1.0", "0.2.0", "0.3.0")
        },
        "helios-cuda": {
            V("0.1.0"): published("helios-cuda", "0.1.0", ">=0.1,<0.2", "cuda"),
            V("0.2.0"): published("helios-cuda", "0.2.0", ">=0.3,<0.4", "cuda"),
        },
        "helios-optuna": {
            V("0.1.1"): published("helios-optuna", "0.1.1", ">=0.1,<0.3", "optuna"),
            V("0.0.9"): published("helios-optuna", "0.0.9", ">=9,<10", "optuna"),  # no core
        },
    }

    chosen = left_behind(index)

    assert chosen is not None
    assert (chosen.name, chosen.version) == ("helios-optuna", V("0.1.1"))
    del index["helios-optuna"]
    assert left_behind(index) == index["helios-cuda"][V("0.1.0")]
    del index["helios-cuda"][V("0.1.0")]
    assert left_behind(index) is None


def test_the_check_text_asserted_is_the_cores_own_for_that_plugin() -> None:
    plugin = published("helios-optuna", "0.1.1", ">=0.1,<0.3", "optuna")

    message, fix = incompatible_core(plugin, V("0.3.0"))

    assert message == "requires helios-trainer<0.3,>=0.1, found helios-trainer 0.3.0"
    assert fix == (
        "pip install 'helios-trainer<0.3,>=0.1', or install a release of helios-optuna made "
        "for this core: pip install -U helios-optuna"
    )


def test_third_party_needs_leave_out_ours_the_preinstalled_and_extras() -> None:
    wheel = Published(
        "helios-trainer",
        V("0.3.0"),
        ("torch>=2.1", "packaging>=22", "helios-optuna>=0.2; extra == 'demo'", "tqdm>=4.60"),
        None,
    )
    plugin = published("helios-optuna", "0.2.0", ">=0.3,<0.4", "optuna")
    index = {"helios-trainer": {wheel.version: wheel}, "helios-optuna": {plugin.version: plugin}}

    assert third_party(index, ["torch==2.13.0+cpu", "numpy"]) == ["packaging>=22", "tqdm>=4.60"]


def write_wheel(folder: Path, name: str, version: str, requires: list[str], manifest: str) -> Path:
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    package = name.replace("-", "_")
    meta = f"Metadata-Version: 2.3\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{stem}.dist-info/METADATA", meta)
        archive.writestr(f"{package}/__init__.py", "")
        if manifest:
            archive.writestr(f"{package}/helios-plugin.toml", manifest)
    return path


def test_the_index_is_read_from_the_wheels_uploaded(tmp_path: Path) -> None:
    write_wheel(tmp_path, "helios-cuda", "0.2.0", ["helios-trainer<0.4,>=0.3"], 'id = "cuda"\n')
    write_wheel(tmp_path, "helios-trainer", "0.3.0", ["torch>=2.1"], "")
    (tmp_path / "helios_cuda-0.2.0.tar.gz").write_bytes(b"an sdist is not read")

    index = read_index(tmp_path)

    cuda = index["helios-cuda"][V("0.2.0")]
    assert sorted(index) == ["helios-cuda", "helios-trainer"]
    assert (cuda.plugin_id, str(cuda.core_range)) == ("cuda", "<0.4,>=0.3")
    assert index["helios-trainer"][V("0.3.0")].plugin_id is None


def test_a_wheel_without_metadata_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "helios_cuda-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("helios_cuda/__init__.py", "")

    with pytest.raises(IndexProblem) as caught:
        read_index(tmp_path)

    assert str(caught.value) == (
        "helios_cuda-0.2.0-py3-none-any.whl: no helios_cuda-0.2.0.dist-info/METADATA "
        "(or larger than 1048576 B)"
    )


def report(tmp_path: Path, items: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "report.json"
    install = [
        {"metadata": {"name": n, "version": v}, "download_info": {"url": u}} for n, v, u in items
    ]
    path.write_text(json.dumps({"install": install}))
    return path


def test_the_report_gives_the_versions_chosen_and_where_they_came_from(tmp_path: Path) -> None:
    index = "http://127.0.0.1:9/simple/"
    path = report(
        tmp_path,
        [
            ("Helios_Trainer", "0.3.0", "http://127.0.0.1:9/packages/helios_trainer-0.3.0.whl"),
            ("optuna", "4.5.0", "file:///links/optuna-4.5.0-py3-none-any.whl"),
        ],
    )

    assert chosen_from_report(path, index) == {"helios-trainer": V("0.3.0"), "optuna": V("4.5.0")}


def test_a_helios_distribution_from_anywhere_but_the_index_fails(tmp_path: Path) -> None:
    url = "https://files.pythonhosted.org/helios_cuda-0.2.0-py3-none-any.whl"
    path = report(tmp_path, [("helios-cuda", "0.2.0", url)])

    with pytest.raises(IndexProblem) as caught:
        chosen_from_report(path, "http://127.0.0.1:9/simple/")

    assert str(caught.value) == (
        f"helios-cuda 0.2.0 came from {url}, not from the index http://127.0.0.1:9/"
    )


def test_a_server_that_exits_fails_at_once_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('port taken'); sys.exit(3)"], stdout=out
        )
    process.wait()  # the event: it has exited

    with pytest.raises(ServerProblem) as caught:
        wait_until_up(f"http://127.0.0.1:{free_port()}/health", process, log)

    assert str(caught.value).startswith("the index server exited with status 3 before answering")
    assert str(caught.value).endswith(f"its log ({log}):\nport taken")


def test_a_server_that_never_answers_fails_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("starting\n")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{free_port()}/health"
    try:
        with pytest.raises(ServerProblem) as caught:
            wait_until_up(url, process, log, deadline_s=0.3)
    finally:
        process.kill()
        process.communicate()  # closes its stdin pipe

    text = str(caught.value)
    assert text.startswith(f"the index server did not answer {url} within 0.3 s (last: ")
    assert text.endswith(
        f"its log ({log}):\nstarting\nFix: see the log; a busy machine may need "
        "HELIOS_INDEX_START_S=<seconds>"
    )


@pytest.mark.parametrize("raw", ["0", "601", "soon", "1" * 100])
def test_a_bad_start_deadline_is_named(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOS_INDEX_START_S", raw)

    with pytest.raises(ServerProblem) as caught:
        start_deadline()

    assert str(caught.value) == (
        "HELIOS_INDEX_START_S must be a number of seconds from 1 to 600, found "
        f"{raw[:40]!r}; fix or unset it"
    )


def test_upload_refuses_a_url_that_is_not_an_index(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.core("0.1.0")
    repo.commit("0.1.0")

    status = main(
        ["helios-trainer", "0.1.0", "--upload", "file:///tmp/x", "--root", str(repo.root)]
    )

    assert status == 2
    assert capsys.readouterr().err == (
        "release: --upload expects the index's upload URL (http or https, e.g. "
        "http://127.0.0.1:8080/), found 'file:///tmp/x'\n"
    )


def test_upload_from_the_tree_needs_the_trees_version(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.core("0.2.0")
    repo.commit("0.2.0")
    args = ["--upload", "http://127.0.0.1:9/", "--from-tree", "--root", str(repo.root)]

    status = main(["helios-trainer", "0.1.0", *args])

    assert status == 2
    assert capsys.readouterr().err == (
        "release: the working tree's helios-trainer is 0.2.0, not 0.1.0; drop --from-tree "
        "to upload the release 0.1.0\n"
    )


def test_from_tree_without_upload_is_a_usage_error(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["helios-trainer", "0.1.0", "--from-tree", "--root", str(repo.root)])

    assert caught.value.code == 2
    assert "--from-tree goes with --upload URL" in capsys.readouterr().err


def missing_index_tools() -> str | None:
    for module in ("pypiserver", "twine", "build"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the index group: nox -s index runs this test)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(missing_index_tools() is not None, reason=str(missing_index_tools()))
def test_a_release_built_from_its_commit_is_uploaded_to_a_real_index(
    repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.core("0.1.0")
    commit = repo.commit("0.1.0")
    repo.core("0.2.0", marker="unreleased")
    pypi_server = str(Path(sys.executable).parent / "pypi-server")

    with serve(pypi_server, tmp_path / "packages", tmp_path / "server.log") as server:
        status = main(["helios-trainer", "0.1.0", "--upload", server.url, "--root", str(repo.root)])
        with urllib.request.urlopen(f"{server.simple}helios-trainer/", timeout=10) as answer:
            page = answer.read().decode()
        again = main(["helios-trainer", "0.1.0", "--upload", server.url, "--root", str(repo.root)])

    out = capsys.readouterr()
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == [
        "helios_trainer-0.1.0-py3-none-any.whl",
        "helios_trainer-0.1.0.tar.gz",
    ]
    assert "helios_trainer-0.1.0-py3-none-any.whl" in page
    assert f"release: helios-trainer 0.1.0 built from commit {commit[:12]}\n" in out.out
    assert f"release: uploaded helios_trainer-0.1.0.tar.gz to {server.url}\n" in out.out
    with zipfile.ZipFile(tmp_path / "packages" / "helios_trainer-0.1.0-py3-none-any.whl") as whl:
        assert whl.read("helios/__init__.py") == b"MARKER = ''\n"  # the commit, not the tree
    assert again == 1  # an index never takes a file twice; the error says so
    assert "twine" in out.err
    assert server.process.poll() is not None  # stopped on leaving

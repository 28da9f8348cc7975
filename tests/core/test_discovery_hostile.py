"""One distribution's unreadable metadata never stops discovery for the others.

Every installed distribution's ``entry_points.txt`` is read by the scan, plug-in or not; the
plug-ins' METADATA, the core's and required packages' are read by the checks. Each hostile
file here is a real one (a FIFO, a directory, stray bytes, a file over the cap) in a real
fixture distribution; a FIFO is only ever tried in a subprocess, whose timeout ends a scan that
would block on it.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helios.plugins import build_report, load_plugins
from helios.plugins._host.discovery import scan
from helios.plugins._host.distinfo import ENTRY_POINTS_LIMIT, HEADER_LIMIT
from helios.plugins._host.host import discover
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Kind, Reason
from support.devices import NO_GPU
from support.distfactory import make_plugin_dist, write_dist_info
from support.plugin_env import PluginEnv

NONE = Settings()
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def table(out: str) -> dict[str, list[str]]:
    """The rows of a rendered report's table, by plug-in id."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ID "))
    rows = {}
    for line in lines[start + 1 :]:
        if not line or line.startswith("warning: "):  # details or warnings follow the table
            break
        rows[line.split()[0]] = line.split()[1:]
    return rows


def replace(path: Path, kind: str) -> None:
    """Make ``path`` hostile: ``fifo``, ``dir``, ``bytes`` (not UTF-8) or ``huge``."""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "bytes":
        path.write_bytes(b"[console_scripts]\ntool = other_tool:main  # caf\xe9\n")
    elif kind == "huge":
        path.write_bytes(b"# " + b"x" * (ENTRY_POINTS_LIMIT - 2) + b"\n")
    else:
        raise AssertionError(kind)


def other_tool(site: Path) -> Path:
    """A distribution that is no plug-in at all: it only has a console script."""
    dist_info = write_dist_info(site, "other-tool", "2.0")
    (dist_info / "entry_points.txt").write_text(
        "[console_scripts]\ntool = other_tool:main\n", encoding="utf-8"
    )
    return dist_info


PROBLEMS = {
    "bytes": "not UTF-8 text (byte 0xe9 at offset 47)",
    "dir": "not a regular file but a directory; only regular files are read",
    "fifo": "not a regular file but a FIFO (named pipe); only regular files are read",
    "huge": f"the file holds {ENTRY_POINTS_LIMIT + 1:,} bytes; at most {ENTRY_POINTS_LIMIT:,} "
    "bytes are read",
}


def skipped(dist_info: Path, problem: str, name: str = "other-tool") -> str:
    return (
        f"cannot read {dist_info}/entry_points.txt: {problem}; the plug-ins of that "
        f"distribution, if any, are not listed. Fix: pip install --force-reinstall {name}, or "
        f"remove the folder {dist_info}"
    )


# --------------------------------------------------------------------------- entry_points.txt


@pytest.mark.parametrize("kind", ["bytes", "dir", "huge"])
def test_an_unreadable_entry_points_file_is_a_warning_and_the_others_load(
    plugin_env: PluginEnv, kind: str
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    dist_info = other_tool(plugin_env.site)
    replace(dist_info / "entry_points.txt", kind)
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    assert report.warnings == (skipped(dist_info, PROBLEMS[kind]),)
    assert list(load_plugins(["good"], settings=NONE)) == ["good"]


@needs_fifo
def test_a_fifo_entry_points_file_neither_blocks_nor_stops_list_and_check(
    plugin_env: PluginEnv,
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    dist_info = other_tool(plugin_env.site)
    replace(dist_info / "entry_points.txt", "fifo")

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    assert table(out)["good"] == ["helios-good", "0.1.0", "ok", "ready"]
    assert f"warning: {skipped(dist_info, PROBLEMS['fifo'])}" in out.splitlines()
    code, out, err, _ = plugin_env.cli("plugins", "check", "good", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert [p["reason"] for p in report["plugins"]] == ["ready"]
    assert report["warnings"] == [skipped(dist_info, PROBLEMS["fifo"])]
    # strict: a skipped distribution is a problem of this environment, like any warning
    assert plugin_env.cli("plugins", "list", "--strict")[0] == 1


def test_a_bad_line_of_the_plugin_group_skips_that_distribution_alone(
    plugin_env: PluginEnv,
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    bad = plugin_env.add("helios-bad", "bad")
    (bad.dist_info / "entry_points.txt").write_text(
        "[helios.plugins]\nbad = helios_bad.plugin:FixturePlugin\n  \x1b[2Jgarbage\n",
        encoding="utf-8",
    )
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    assert "bad" not in report.ids()
    problem = "line 3 of its [helios.plugins] section is not 'name = value': \"\\x1b[2Jgarbage\""
    assert report.warnings == (skipped(bad.dist_info, problem, "helios-bad"),)
    assert "\x1b" not in report.render()


def test_bad_lines_of_other_groups_are_not_the_scans_business(plugin_env: PluginEnv) -> None:
    """importlib.metadata.entry_points() stops at such a line in any group of any distribution."""
    good = plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    (good.dist_info / "entry_points.txt").write_text(
        "# a comment\n[console_scripts]\nnot an entry point\n\n"
        "[helios.plugins]\n  good =  helios_good.plugin:FixturePlugin  \n",
        encoding="utf-8",
    )
    plugin_env.activate()

    (candidate,) = (c for c in discover() if c.distribution == "helios-good")
    assert (candidate.entry_name, candidate.entry_value) == (
        "good",
        "helios_good.plugin:FixturePlugin",
    )
    assert build_report(["good"], settings=NONE).warnings == ()


def test_only_the_first_folder_of_a_name_is_read_as_for_import(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """The first ``helios_shadow-*.dist-info`` on sys.path shadows later ones, readable or not,
    and a shadowed folder is never read (as importlib.metadata.entry_points() does)."""
    first = plugin_env.add("helios-shadow", "shadow", version="1.0")
    replace(first.dist_info / "entry_points.txt", "bytes")
    later = tmp_path / "later-site"
    later.mkdir()
    make_plugin_dist(later, "helios-shadow", "shadow", version="2.0")
    ignored = make_plugin_dist(later, "helios-good", "good", version="9.0")
    replace(ignored.dist_info / "entry_points.txt", "bytes")  # shadowed: never read
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    sys.path.append(str(later))
    plugin_env.activate()

    found = scan()
    assert [c.version for c in found.candidates if c.entry_name in ("good", "shadow")] == ["0.1.0"]
    assert found.warnings == (skipped(first.dist_info, PROBLEMS["bytes"], "helios-shadow"),)


def test_a_metadata_name_unreadable_for_the_dedup_is_a_warning(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """An egg's ``EGG-INFO`` folder does not tell its name: the scan reads it (bounded), as
    importlib.metadata does (unbounded)."""
    egg_info = tmp_path / "old_tool-1.0-py3.egg" / "EGG-INFO"
    egg_info.mkdir(parents=True)
    (egg_info / "PKG-INFO").write_bytes(b"Metadata-Version: 1.1\nName: old\xfftool\n\n")
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()
    sys.path.append(str(egg_info.parent))
    discover(refresh=True)

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    assert report.warnings == (
        f"cannot read {egg_info}/PKG-INFO: not UTF-8 text (byte 0xff at offset 31); the "
        "plug-ins of that distribution, if any, are not listed. Fix: reinstall that "
        f"distribution, or remove the folder {egg_info}",
    )


@pytest.mark.torch
def test_the_trainer_loads_its_plugins_past_an_unreadable_entry_points_file(
    plugin_env: PluginEnv,
) -> None:
    pytest.importorskip("torch")
    from helios.trainer import Trainer

    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    replace(other_tool(plugin_env.site) / "entry_points.txt", "bytes")
    plugin_env.activate()
    trainer = Trainer(total=1, device="cpu", progress=False, plugins=["good"])
    assert [type(p).__name__ for p in trainer.plugins.values()] == ["GoodPlugin"]


# --------------------------------------------------------------------------- METADATA


def unreadable(dist_info: Path, problem: str, file: str = "METADATA") -> str:
    return f"the metadata of its distribution cannot be read: cannot read {dist_info}/{file}: {problem}"


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("dir", "not a regular file but a directory; only regular files are read"),
        ("bytes", "not UTF-8 text (byte 0xe9 at offset 44)"),
        (
            "no-end",
            f"its header block does not end (at a blank line) within {HEADER_LIMIT:,} bytes",
        ),
    ],
)
def test_unreadable_metadata_is_that_plugins_verdict(
    plugin_env: PluginEnv, kind: str, problem: str
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    bad = plugin_env.add("helios-bad", "bad", version="0.3.0")
    metadata = bad.dist_info / "METADATA"
    metadata.unlink()
    if kind == "dir":
        metadata.mkdir()
    elif kind == "bytes":
        metadata.write_bytes(b"Name: helios-bad\nVersion: 0.3.0\nSummary: caf\xe9\n\n")
    else:
        metadata.write_bytes(b"Name: helios-bad\nX-Pad: " + b"a" * HEADER_LIMIT + b"\n")
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    verdict = report["bad"]
    assert (verdict.reason, verdict.kind) == (Reason.METADATA_UNREADABLE, Kind.INCOMPATIBLE)
    assert (verdict.distribution, verdict.version) == ("helios-bad", "0.3.0")  # the folder's
    assert verdict.message == unreadable(bad.dist_info, problem)
    assert verdict.found == problem
    assert verdict.fix == "reinstall it: pip install --force-reinstall helios-bad"
    assert list(load_plugins(["good"], settings=NONE)) == ["good"]


@needs_fifo
def test_a_fifo_metadata_is_a_verdict_not_a_hang(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    bad = plugin_env.add("helios-bad", "bad")
    replace(bad.dist_info / "METADATA", "fifo")

    code, out, err, _ = plugin_env.cli("plugins", "list", "--json")
    assert (code, err) == (0, "")
    verdicts = {p["id"]: p for p in json.loads(out)["plugins"]}
    assert verdicts["good"]["reason"] == "ready"
    assert verdicts["bad"]["reason"] == "metadata-unreadable"
    assert verdicts["bad"]["message"] == unreadable(bad.dist_info, PROBLEMS["fifo"])


def test_only_the_header_block_of_metadata_is_read(plugin_env: PluginEnv) -> None:
    """The description after the first blank line may be huge or undecodable: never read."""
    good = plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    metadata = good.dist_info / "METADATA"
    head = metadata.read_bytes().rstrip(b"\n")
    metadata.write_bytes(head + b"\n\n" + b"caf\xe9 " * (2 * HEADER_LIMIT) + b"\n")
    plugin_env.activate()

    verdict = build_report(["good"], settings=NONE)["good"]
    assert (verdict.reason, verdict.version) == (Reason.READY, "0.1.0")


def test_unreadable_metadata_of_a_required_package_is_the_plugins_verdict(
    plugin_env: PluginEnv,
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.add("helios-needy", "needy", packages=("weird>=1",))
    weird = write_dist_info(plugin_env.site, "weird", "1.0")
    replace(weird / "METADATA", "dir")
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    verdict = report["needy"]
    assert verdict.reason is Reason.METADATA_UNREADABLE
    assert verdict.message == (
        "requires.packages cannot be checked: the metadata of weird cannot be read: cannot "
        f"read {weird}/METADATA: {PROBLEMS['dir']}"
    )
    assert verdict.fix == "reinstall it: pip install --force-reinstall weird"


def test_unreadable_core_metadata_is_said_plainly(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    core = plugin_env.site / "helios_trainer-0.1.0.dist-info"
    (core / "METADATA").write_bytes(b"Name: helios-trainer\nVersion: 0.1.\xff0\n\n")

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("helios-trainer (metadata unreadable) · Python ")
    assert table(out)["good"] == ["helios-good", "0.1.0", "incompatible", "metadata-unreadable"]
    cause = f"cannot read {core}/METADATA: not UTF-8 text (byte 0xff at offset 34)"
    assert (
        f"good: requires.helios cannot be checked: the metadata of helios-trainer cannot be "
        f"read: {cause}"
    ) in lines
    assert "  fix: reinstall it: pip install --force-reinstall helios-trainer" in lines
    warning = (
        f"warning: the metadata of helios-trainer itself cannot be read ({cause}), so no "
        "plug-in's requires.helios can be checked. Fix: pip install --force-reinstall "
        "helios-trainer"
    )
    assert warning in lines
    code, out, _, _ = plugin_env.cli("plugins", "list", "--json")
    assert json.loads(out)["core"] == {
        "distribution": "helios-trainer",
        "version": None,
        "error": cause,
    }


@needs_fifo
def test_the_probe_survives_unreadable_torch_metadata(plugin_env: PluginEnv) -> None:
    """The device probe reads torch's version from its metadata; it never raises."""
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    torch = write_dist_info(plugin_env.site, "torch", "2.13.0")
    replace(torch / "METADATA", "fifo")

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    assert "device: torch not installed; " in out
    assert table(out)["good"] == ["helios-good", "0.1.0", "ok", "ready"]


# --------------------------------------------------------------------------- RECORD, direct_url


def test_a_malformed_record_row_proves_nothing_and_the_others_still_count(
    plugin_env: PluginEnv,
) -> None:
    """In a namespace package, a manifest is a distribution's own when its RECORD lists it."""
    alpha = plugin_env.add(
        "helios-alpha", "alpha", package="nsplug", module="alpha", namespace=True
    )
    plugin_env.add(  # editable: its part of the namespace package is in another folder
        "helios-beta",
        "beta",
        package="nsplug",
        module="beta",
        namespace=True,
        editable=True,
        source_dir="beta-src",
    )
    record = alpha.dist_info / "RECORD"
    junk = [
        '"' + "x" * 200_000 + '/helios-plugin.toml",,',  # over csv's field limit
        "nsplug\x00/helios-plugin.toml,,",  # a NUL: no such path
    ]
    record.write_text("\n".join([*junk, record.read_text()]), encoding="utf-8")
    plugin_env.activate()

    report = build_report(["alpha", "beta"], settings=NONE)
    assert report["alpha"].reason is Reason.READY
    assert report["alpha"].manifest == str(alpha.package_dir / "helios-plugin.toml")


def test_a_direct_url_with_a_nul_proves_nothing(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-alpha", "alpha", package="nsplug", module="alpha", namespace=True)
    beta = plugin_env.add(
        "helios-beta",
        "beta",
        package="nsplug",
        module="beta",
        namespace=True,
        editable=True,
        source_dir="beta-src",
    )
    (beta.dist_info / "direct_url.json").write_text(
        json.dumps({"dir_info": {"editable": True}, "url": "file:///beta%00-src"}),
        encoding="utf-8",
    )
    plugin_env.activate()

    report = build_report(["alpha", "beta"], settings=NONE)
    assert report["alpha"].reason is Reason.READY
    assert report["beta"].reason is Reason.MANIFEST_MISSING


# --------------------------------------------------------------------------- other finders


class _FinderOfBrokenDistribution:
    """A meta path finder whose one distribution's files cannot be read, and whose
    ``find_spec`` breaks for one package: both are other people's code."""

    def find_spec(self, name: str, *args: object) -> None:
        if name == "helios_odd":
            raise RuntimeError("this finder broke")

    def find_distributions(self, context: Any = None) -> Iterator[md.Distribution]:
        return iter([_BrokenDistribution()] if getattr(context, "name", None) is None else [])


class _BrokenDistribution(md.Distribution):
    def read_text(self, filename: str) -> str | None:
        raise OSError(f"{filename}: Input/output error")

    def locate_file(self, path: Any) -> Any:
        raise NotImplementedError("nothing of it is on disk")


def test_another_finders_unreadable_distribution_is_a_warning(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, _FinderOfBrokenDistribution()])
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    assert report.warnings == (
        "cannot read METADATA of _BrokenDistribution (unnamed): OSError: METADATA: "
        "Input/output error; the plug-ins of that distribution, if any, are not listed. Fix: "
        "reinstall that distribution, or remove it",
    )


def test_a_check_that_raises_is_still_that_plugins_verdict(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a check meets that no reader expects (here a finder that raises) stops that
    plug-in alone, as ``check-crashed``. (An editable install: a wheel install's manifest is
    found through its RECORD, and the finder is first met at the import.)"""
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.add("helios-odd", "odd", editable=True)
    monkeypatch.setattr(sys, "meta_path", [_FinderOfBrokenDistribution(), *sys.meta_path])
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    verdict = report["odd"]
    assert (verdict.reason, verdict.kind) == (Reason.CHECK_CRASHED, Kind.BROKEN)
    assert verdict.message == "checking the plug-in 'odd' raised RuntimeError: this finder broke"
    assert verdict.fix == (
        "run 'helios plugins validate helios_odd' and report this to the author of helios-odd "
        "(or to helios-trainer, if the plug-in is not at fault)"
    )

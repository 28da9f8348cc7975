"""Which installed distribution a plug-in is: its dist-info folder, never the Name it claims.

Also: ``list`` and ``check ID`` select and name plug-ins the same way, and plug-ins sharing a
namespace package are each judged by their own manifest.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helios.plugins import PluginIncompatibleError, build_report, load_plugins
from helios.plugins._host.host import discover
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Reason
from support.plugin_env import PluginEnv

NONE = Settings()


def marker_init(path: Path) -> str:
    """An __init__ that leaves a marker file behind: proof that the package was imported."""
    return f"open({str(path)!r}, 'w').close()\n"


def test_a_distribution_claiming_anothers_name_is_a_second_distribution(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    real = plugin_env.add("helios-optuna", "optuna", package="real_optuna", class_name="Real")
    marker = tmp_path / "impostor.marker"
    evil = plugin_env.add(
        "helios-optuna",  # the Name in its METADATA
        "optuna",
        version="1.0",
        package="evil_x",
        class_name="Evil",
        dist_info_folder="evil_x-1.0",
        init_source=marker_init(marker),
    )
    plugin_env.activate()

    rows = [v for v in build_report(settings=NONE).verdicts if v.id == "optuna"]
    assert [(v.distribution, v.reason) for v in rows] == [
        ("helios-optuna", Reason.DUPLICATE_ID),
        ("helios-optuna", Reason.DUPLICATE_ID),
    ]
    assert {v.dist_info for v in rows} == {str(real.dist_info), str(evil.dist_info)}
    by_folder = {v.dist_info: v for v in rows}
    assert by_folder[str(real.dist_info)].message == (
        f"the plug-in id 'optuna' is also provided by helios-optuna 1.0 ({evil.dist_info})"
    )
    assert by_folder[str(real.dist_info)].fix == (
        f"uninstall all but one: delete the files listed in {evil.dist_info}/RECORD, then "
        f"{evil.dist_info} (its Name is claimed by another installed distribution, so pip "
        "cannot pick it)"
    )
    both = ", ".join(f"helios-optuna {v.version} ({v.dist_info})" for v in rows)  # scan order
    assert {v.found for v in rows} == {both}
    with pytest.raises(PluginIncompatibleError) as caught:
        load_plugins(["optuna"], settings=NONE)
    assert [v.reason for v in caught.value.verdicts] == [Reason.DUPLICATE_ID] * 2
    assert not marker.exists()
    assert "evil_x" not in sys.modules


def test_the_fix_names_pip_uninstall_or_the_folder_as_pip_can_tell(
    plugin_env: PluginEnv,
) -> None:
    a = plugin_env.add("helios-dup-a", "dup", package="dup_a")
    plugin_env.add("helios-dup-b", "dup", package="dup_b")
    c = plugin_env.add("helios-dup-a", "dup", package="dup_c", dist_info_folder="helios_dup_c-9")
    plugin_env.activate()
    rows = {v.dist_info: v for v in build_report(["dup"], settings=NONE).verdicts}
    assert len(rows) == 3
    assert rows[str(a.dist_info)].fix == (
        "uninstall all but one: pip uninstall helios-dup-b; "
        f"delete the files listed in {c.dist_info}/RECORD, then {c.dist_info} (its Name is "
        "claimed by another installed distribution, so pip cannot pick it)"
    )


def _verdict_rows(report_ids: Iterable[str] | None) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    report = build_report(None if report_ids is None else list(report_ids), settings=NONE)
    for verdict in report.verdicts:
        rows.setdefault(verdict.id, []).append(verdict.to_json())
    return rows


def test_list_and_check_id_agree_on_every_verdict(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.add(  # its entry point says 'renamed', its manifest says 'wrongentry'
        "helios-wrongentry",
        "wrongentry",
        entry_points={"renamed": "helios_wrongentry.plugin:FixturePlugin"},
    )
    plugin_env.add(  # claims the id 'good' in its manifest only: it cannot load as 'good'
        "helios-claims-good",
        "good",
        package="claims_good",
        entry_points={"claimer": "claims_good.plugin:FixturePlugin"},
    )
    plugin_env.add("helios-dup-a", "dup", package="dup_a")
    plugin_env.add("helios-dup-b", "dup", package="dup_b")
    plugin_env.add("helios-nomanifest", "nomanifest", manifest="")
    plugin_env.add("helios-badmanifest", "bad", manifest='manifest-version = 1\nid = "Bad"\n')
    plugin_env.add("helios-future", "future", core_range=">=0.2,<0.3")
    plugin_env.activate()

    listed = _verdict_rows(None)
    assert {"good", "renamed", "claimer", "dup", "nomanifest", "bad", "future"} <= set(listed)
    assert "wrongentry" not in listed
    for plugin_id, rows in listed.items():
        assert _verdict_rows([plugin_id])[plugin_id] == rows, plugin_id
    assert [r["reason"] for r in listed["renamed"]] == ["entry-point-mismatch"]
    assert [r["reason"] for r in listed["claimer"]] == ["entry-point-mismatch"]
    assert [r["reason"] for r in listed["good"]] == ["ready"]
    assert [r["reason"] for r in listed["dup"]] == ["duplicate-id", "duplicate-id"]
    # An id that only a manifest names is not an installed plug-in, for list and check alike.
    assert [r["reason"] for r in _verdict_rows(["wrongentry"])["wrongentry"]] == ["not-installed"]
    assert load_plugins(["good"], settings=NONE)["good"].__name__ == "GoodPlugin"


def test_cli_check_of_an_inconsistent_plugin_shows_the_list_row(plugin_env: PluginEnv) -> None:
    plugin_env.add(
        "helios-wrongentry",
        "wrongentry",
        entry_points={"renamed": "helios_wrongentry.plugin:FixturePlugin"},
    )
    code, out, err, _ = plugin_env.cli("plugins", "list", "--json")
    assert (code, err) == (0, "")
    listed = [p for p in json.loads(out)["plugins"] if p["id"] == "renamed"]
    code, out, err, _ = plugin_env.cli("plugins", "check", "renamed", "--json")
    assert (code, err) == (1, "")
    assert json.loads(out)["plugins"] == listed
    assert [p["reason"] for p in listed] == ["entry-point-mismatch"]


# --------------------------------------------------------------------------- namespace packages


def _shared_namespace(env: PluginEnv, beta_manifest: str | None = None) -> None:
    """Two distributions in the namespace package ``nsplug`` (no __init__.py): 'alpha' is a
    wheel install in the site folder, 'beta' an editable install from its own source folder."""
    env.add(
        "helios-alpha",
        "alpha",
        package="nsplug",
        module="alpha",
        class_name="AlphaPlugin",
        namespace=True,
    )
    env.add(
        "helios-beta",
        "beta",
        package="nsplug",
        module="beta",
        class_name="BetaPlugin",
        namespace=True,
        editable=True,
        source_dir="beta-src",
        manifest=beta_manifest,
    )
    env.activate()


def test_plugins_sharing_a_namespace_package_read_their_own_manifests(
    plugin_env: PluginEnv,
) -> None:
    _shared_namespace(plugin_env)
    alpha, beta = plugin_env.dists
    assert len({c.package_dirs for c in discover() if c.package == "nsplug"}) == 1
    report = build_report(["alpha", "beta"], settings=NONE)
    assert report["alpha"].reason is Reason.READY
    assert report["alpha"].manifest == str(alpha.package_dir / "helios-plugin.toml")
    assert report["beta"].reason is Reason.READY
    assert report["beta"].manifest == str(beta.package_dir / "helios-plugin.toml")
    classes = load_plugins(["alpha", "beta"], settings=NONE)
    assert [c.__module__ for c in classes.values()] == ["nsplug.alpha", "nsplug.beta"]


def test_a_namespace_plugin_without_its_own_manifest_does_not_borrow_one(
    plugin_env: PluginEnv,
) -> None:
    _shared_namespace(plugin_env, beta_manifest="")
    alpha, beta = plugin_env.dists
    verdict = build_report(["beta"], settings=NONE)["beta"]
    assert verdict.reason is Reason.MANIFEST_MISSING
    assert verdict.manifest is None
    assert verdict.message == (
        "no helios-plugin.toml of its own in the namespace package 'nsplug', which other "
        f"distributions share ({alpha.package_dir}, {beta.package_dir})"
    )


def test_a_namespace_manifest_the_record_does_not_list_is_not_owned(
    plugin_env: PluginEnv,
) -> None:
    _shared_namespace(plugin_env)
    alpha = plugin_env.dists[0]
    record = alpha.dist_info / "RECORD"
    record.write_text(
        "".join(line + "\n" for line in record.read_text().splitlines() if "toml" not in line)
    )
    assert build_report(["alpha"], settings=NONE)["alpha"].reason is Reason.MANIFEST_MISSING


# --------------------------------------------------------------------------- no dist-info folder


class _MemoryDistribution(md.Distribution):
    """A distribution whose metadata lives in memory, as some custom finders provide."""

    def __init__(self, files: dict[str, str]) -> None:
        self._files = files

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: Any) -> Any:
        raise NotImplementedError("nothing of it is on disk")


class _MemoryFinder:
    """A meta path finder that only finds distributions."""

    def __init__(self, dists: list[md.Distribution]) -> None:
        self.dists = dists

    def find_spec(self, *args: object) -> None:
        return None

    def find_distributions(self, context: Any = None) -> Iterator[md.Distribution]:
        name = getattr(context, "name", None)
        return iter(d for d in self.dists if name is None or d.metadata["Name"] == name)


def _memory_plugin(name: str, plugin_id: str) -> md.Distribution:
    return _MemoryDistribution(
        {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.0\n\n",
            "entry_points.txt": f"[helios.plugins]\n{plugin_id} = memory_pkg.plugin:Mem\n",
        }
    )


def test_distributions_without_a_folder_are_told_apart(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    finder = _MemoryFinder([_memory_plugin("mem-one", "mem"), _memory_plugin("mem-two", "mem")])
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, finder])
    plugin_env.activate()
    rows = [v for v in build_report(["mem"], settings=NONE).verdicts if v.id == "mem"]
    assert [(v.distribution, v.reason) for v in rows] == [
        ("mem-one", Reason.DUPLICATE_ID),
        ("mem-two", Reason.DUPLICATE_ID),
    ]
    one, two = (v.dist_info or "" for v in rows)
    assert one.startswith("metadata not in a folder (_MemoryDistribution #")
    assert two.startswith("metadata not in a folder (_MemoryDistribution #")
    assert one != two
    assert rows[0].fix == "uninstall all but one: pip uninstall mem-two"


def test_a_long_dist_info_path_is_shown_whole_so_a_fix_naming_it_can_be_copied(
    plugin_env: PluginEnv,
) -> None:
    dist = plugin_env.add("helios-deep", "deep", dist_info_folder="helios_deep-" + "9" * 200)
    plugin_env.activate()
    shown = build_report(["deep"], settings=NONE)["deep"].dist_info
    assert len(str(dist.dist_info)) > 250
    assert shown == str(dist.dist_info)


def test_only_a_path_longer_than_the_system_allows_is_cut_from_the_left() -> None:
    from helios.plugins._host.distinfo import PATH_LIMIT, cut_path

    assert PATH_LIMIT == 4096  # PATH_MAX on Linux
    deep = "/site" * 1000 + "/helios_deep-1.0.dist-info"
    assert cut_path(deep) == "..." + deep[-(PATH_LIMIT - 3) :]
    assert cut_path(deep[-PATH_LIMIT:]) == deep[-PATH_LIMIT:]

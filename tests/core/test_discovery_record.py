"""Discovery finds a wheel install's manifest through its RECORD, without ``find_spec``.

Everything else (an editable install, a RECORD that does not list the manifest, one too large
to read for it, a manifest gone since the install) falls back to ``find_spec`` and the package
copy, with the verdicts of before. The copy a wheel may carry in its ``.dist-info`` is never
read: the package copy is the source.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from helios.plugins._host.discovery import discover
from helios.plugins._host.distinfo import LOCATE_RECORD_LIMIT, listed_file
from helios.plugins._host.loader import build_report
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Reason
from support.distfactory import FixtureDist
from support.plugin_env import PluginEnv

NONE = Settings()


class _AskedFor:
    """A real meta path finder, first in line, that finds nothing and notes every name that
    the import system (``find_spec`` included) asks it for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, *args: object) -> None:
        self.names.append(name)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> _AskedFor:
    finder = _AskedFor()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    return finder


def _metadata_copy(dist: FixtureDist, text: str) -> None:
    """A manifest copy in the dist-info folder, listed in RECORD, as hatchling's
    ``extra-metadata`` and an installer leave it."""
    copy = dist.dist_info / "extra_metadata" / "helios-plugin.toml"
    copy.parent.mkdir()
    copy.write_text(text, encoding="utf-8")
    record = dist.dist_info / "RECORD"
    row = f"{dist.dist_info.name}/extra_metadata/helios-plugin.toml,,\n"
    record.write_text(row + record.read_text(encoding="utf-8"), encoding="utf-8")


def test_a_wheel_installs_manifest_is_found_through_its_record_without_find_spec(
    plugin_env: PluginEnv, asked: _AskedFor
) -> None:
    dist = plugin_env.add("helios-rec", "rec", class_name="RecPlugin")
    plugin_env.activate()

    verdict = build_report(["rec"], settings=NONE)["rec"]
    assert verdict.reason is Reason.READY
    assert verdict.manifest == str(dist.package_dir / "helios-plugin.toml")
    assert "helios_rec" not in asked.names


def test_the_path_is_spelled_as_find_spec_spells_it_for_a_relative_sys_path_entry(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = plugin_env.add("helios-rel", "rel")
    monkeypatch.chdir(plugin_env.root)
    monkeypatch.setattr(sys, "path", ["site-packages", *sys.path])
    importlib.invalidate_caches()
    (candidate,) = [c for c in discover(refresh=True) if c.entry_name == "rel"]
    spec = importlib.util.find_spec("helios_rel")
    assert spec is not None and spec.submodule_search_locations
    assert str(candidate.dist_info) == "site-packages/helios_rel-0.1.0.dist-info"
    found = Path(spec.submodule_search_locations[0], "helios-plugin.toml")
    assert candidate.manifest_path == found == dist.package_dir / "helios-plugin.toml"


def test_an_editable_install_reads_the_live_package_copy_never_the_stale_metadata_copy(
    plugin_env: PluginEnv, asked: _AskedFor
) -> None:
    """An editable wheel's dist-info copy is frozen at install time; the RECORD of an editable
    install lists no package file, so the package copy is found with ``find_spec``."""
    dist = plugin_env.add("helios-live", "live", class_name="LivePlugin", editable=True)
    source = dist.package_dir / "helios-plugin.toml"
    _metadata_copy(dist, source.read_text(encoding="utf-8"))
    edited = source.read_text(encoding="utf-8").replace(
        'summary = "fixture plug-in live"', 'summary = "edited after the install"'
    )
    source.write_text(edited, encoding="utf-8")
    plugin_env.activate()

    verdict = build_report(["live"], settings=NONE)["live"]
    assert (verdict.reason, verdict.summary) == (Reason.READY, "edited after the install")
    assert verdict.manifest == str(source)
    assert "helios_live" in asked.names


def test_a_metadata_copy_that_differs_is_not_read(plugin_env: PluginEnv) -> None:
    dist = plugin_env.add("helios-two", "two")
    _metadata_copy(dist, 'manifest-version = 1\nid = "other"\n')
    plugin_env.activate()

    verdict = build_report(["two"], settings=NONE)["two"]
    assert (verdict.reason, verdict.summary) == (Reason.READY, "fixture plug-in two")


def test_a_manifest_the_record_lists_but_that_is_gone_is_missing_as_before(
    plugin_env: PluginEnv, asked: _AskedFor
) -> None:
    dist = plugin_env.add("helios-gone", "gone")
    (dist.package_dir / "helios-plugin.toml").unlink()
    plugin_env.activate()

    verdict = build_report(["gone"], settings=NONE)["gone"]
    assert verdict.reason is Reason.MANIFEST_MISSING
    assert verdict.message == (
        f"no helios-plugin.toml next to the __init__.py of 'helios_gone' ({dist.package_dir})"
    )
    assert "helios_gone" in asked.names


def test_a_record_too_large_to_read_for_it_falls_back_to_find_spec(
    plugin_env: PluginEnv, asked: _AskedFor
) -> None:
    dist = plugin_env.add("helios-big", "big")
    record = dist.dist_info / "RECORD"
    filler = "".join(f"helios_big/data/{i:07d}.bin,,\n" for i in range(LOCATE_RECORD_LIMIT // 30))
    record.write_text(filler + record.read_text(encoding="utf-8"), encoding="utf-8")
    assert record.stat().st_size > LOCATE_RECORD_LIMIT
    plugin_env.activate()

    verdict = build_report(["big"], settings=NONE)["big"]
    assert verdict.reason is Reason.READY
    assert verdict.manifest == str(dist.package_dir / "helios-plugin.toml")
    assert "helios_big" in asked.names


@pytest.mark.parametrize(
    "row",
    [
        "../helios_esc/helios-plugin.toml",  # a file outside the site folder
        "/helios_esc/helios-plugin.toml",
        "helios_esc/./helios-plugin.toml",
        "xhelios_esc/helios-plugin.toml",  # another row that merely ends like it
    ],
)
def test_only_a_plain_row_of_its_own_locates_a_file(plugin_env: PluginEnv, row: str) -> None:
    dist = plugin_env.add("helios-esc", "esc")
    record = dist.dist_info / "RECORD"
    record.write_text(f"{row},,\n", encoding="utf-8")
    assert listed_file(dist.dist_info, row) is None
    assert listed_file(dist.dist_info, "helios_esc/helios-plugin.toml") is None
    record.write_text("helios_esc/helios-plugin.toml,sha256=x,1\n", encoding="utf-8")
    assert listed_file(dist.dist_info, "helios_esc/helios-plugin.toml") == (
        dist.package_dir / "helios-plugin.toml"
    )


def test_a_record_that_is_not_a_regular_file_locates_nothing(plugin_env: PluginEnv) -> None:
    dist = plugin_env.add("helios-dir", "dir")
    record = dist.dist_info / "RECORD"
    record.unlink()
    record.mkdir()
    assert listed_file(dist.dist_info, "helios_dir/helios-plugin.toml") is None

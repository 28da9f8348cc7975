"""Which manifest discovery reads: the package copy next to the code an import would run.

A wheel also carries a copy in its ``.dist-info/extra_metadata/`` (hatchling's
``extra-metadata``); it is never read. Nor is a wheel's RECORD trusted to say where the package
is: a package of the same name earlier on ``sys.path`` is what ``import`` would run, so its
manifest is the one checked (``find_spec`` of the top-level name, which runs no package code).
"""

from __future__ import annotations

import sys

import pytest

from helios.plugins._host.host import build_report
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Reason
from support.distfactory import FixtureDist
from support.plugin_env import PluginEnv

NONE = Settings()


def _metadata_copy(dist: FixtureDist, text: str) -> None:
    """A manifest copy in the dist-info folder, listed in RECORD, as hatchling's
    ``extra-metadata`` and an installer leave it."""
    copy = dist.dist_info / "extra_metadata" / "helios-plugin.toml"
    copy.parent.mkdir()
    copy.write_text(text, encoding="utf-8")
    record = dist.dist_info / "RECORD"
    row = f"{dist.dist_info.name}/extra_metadata/helios-plugin.toml,,\n"
    record.write_text(row + record.read_text(encoding="utf-8"), encoding="utf-8")


def test_an_editable_install_reads_the_live_package_copy_never_the_stale_metadata_copy(
    plugin_env: PluginEnv,
) -> None:
    """An editable wheel's dist-info copy is frozen at install time."""
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


def test_a_metadata_copy_that_differs_is_not_read(plugin_env: PluginEnv) -> None:
    dist = plugin_env.add("helios-two", "two")
    _metadata_copy(dist, 'manifest-version = 1\nid = "other"\n')
    plugin_env.activate()

    verdict = build_report(["two"], settings=NONE)["two"]
    assert (verdict.reason, verdict.summary) == (Reason.READY, "fixture plug-in two")


def test_a_package_shadowing_the_installed_one_is_the_one_checked(
    plugin_env: PluginEnv, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of the same name first on ``sys.path`` (a script's own folder, say) is what an
    import would run: its manifest is judged, not the one the wheel's RECORD lists."""
    dist = plugin_env.add("helios-shade", "shade", class_name="ShadePlugin")
    plugin_env.activate()
    front = tmp_path_factory.mktemp("front")
    (front / "helios_shade").mkdir()
    (front / "helios_shade" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(sys, "path", [str(front), *sys.path])

    verdict = build_report(["shade"], settings=NONE)["shade"]
    assert verdict.reason is Reason.MANIFEST_MISSING  # the folder that would be imported has none
    assert verdict.manifest is None
    assert (dist.package_dir / "helios-plugin.toml").is_file()  # the wheel's copy is not used

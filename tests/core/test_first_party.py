"""The table of first-party plug-ins agrees with their distributions, and every place that
names them reads it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import helios.plugins as hlp
from helios.plugins._host import first_party
from helios.plugins._host.first_party import FIRST_PARTY, FirstParty, by_class, by_id
from helios.plugins.authoring.scaffold import RESERVED, Names, ScaffoldError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def _folder(row: FirstParty) -> Path:
    return REPO / "plugins" / row.id


@pytest.mark.parametrize("row", FIRST_PARTY, ids=lambda r: r.id)
def test_each_row_matches_its_manifest_and_pyproject(row: FirstParty) -> None:
    project = tomllib.loads((_folder(row) / "pyproject.toml").read_text(encoding="utf-8"))
    manifest_path = _folder(row) / "src" / row.package / "helios-plugin.toml"
    manifest = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    assert project["project"]["name"] == row.distribution
    assert project["project"]["entry-points"]["helios.plugins"] == {row.id: row.entry_value}
    assert (manifest["id"], manifest["class"]) == (row.id, row.entry_value)
    # What it needs, said for people, covers what the manifest requires.
    if manifest.get("device", {}).get("accelerator") == "cuda":
        assert "GPU" in row.needs
    for requirement in manifest.get("requires", {}).get("packages", []):
        name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        assert name.lower() in row.needs.lower()


def test_the_table_covers_every_plugin_folder() -> None:
    folders = sorted(
        p.name for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file()
    )
    assert sorted(row.id for row in FIRST_PARTY) == folders


@pytest.mark.parametrize("row", FIRST_PARTY, ids=lambda r: r.id)
def test_the_documented_names_come_from_the_table(row: FirstParty) -> None:
    assert row.class_name in hlp.__all__
    assert by_id(row.id) is row
    assert by_class(row.class_name) is row
    assert RESERVED[row.id] == f"{row.distribution} is the first-party {row.topic} plug-in"
    with pytest.raises(ScaffoldError, match=row.distribution):
        Names.from_id(row.id)


def test_a_row_added_to_the_table_reaches_every_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new first-party plug-in is one row: install hints and the documented module's name
    follow it (here the seed module helios.plugins.plugin)."""
    import helios.plugins.plugin as seed

    ghost = FirstParty(
        "ghost", "helios-ghost", "GhostPlugin", "helios_ghost", "Ghost", "nothing", seed.__name__
    )
    monkeypatch.setattr(first_party, "FIRST_PARTY", (*FIRST_PARTY, ghost))
    with pytest.raises(hlp.PluginNotInstalledError) as caught:
        seed.GhostPlugin  # noqa: B018 - resolved through the table
    assert str(caught.value) == (
        "the plug-in class 'GhostPlugin' comes with the distribution helios-ghost, which is not "
        "installed. Fix: pip install helios-ghost"
    )
    with pytest.raises(hlp.PluginNotInstalledError, match=r"Fix: pip install helios-ghost$"):
        hlp.load_plugins(["ghost"])

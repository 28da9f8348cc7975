"""One hostile plug-in never stops the others from being listed, checked or loaded.

Real fixture distributions on a temporary site path; each hostile part (a manifest bomb, a
terminal escape, undecodable metadata, a class that breaks verification or registration) is a
real file, not a mock.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from helios.plugins import PluginBrokenError, PluginIncompatibleError, build_report, load_plugins
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Kind, Reason
from support.devices import NO_GPU
from support.distfactory import manifest_text, plugin_source, write_dist_info
from support.intlimit import needs_int_limit
from support.plugin_env import PluginEnv

NONE = Settings()
BOMBS = {
    "deep": "nested = " + "[" * 1000 + "]" * 1000,
    "digits": "big = " + "9" * 4301,
    "hex": "big = 0x" + "f" * 20_000,
    "dotted": "a" + ".a" * 20_000 + " = 1",
}


def table(out: str) -> dict[str, list[str]]:
    """The rows of a rendered report's table, by plug-in id."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ID "))
    rows = [line.split() for line in lines[start + 1 :]]
    return {row[0]: row[1:] for row in rows[: rows.index([])]}


def with_good(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")


def bomb_manifest(name: str, plugin_id: str) -> str:
    return manifest_text(plugin_id, f"helios_{plugin_id}.plugin:FixturePlugin") + BOMBS[name]


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_manifest_bomb_is_one_verdict_and_the_others_are_listed(
    plugin_env: PluginEnv, bomb: str
) -> None:
    with_good(plugin_env)
    plugin_env.add("helios-bomb", "bomb", manifest=bomb_manifest(bomb, "bomb"))
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    verdict = report["bomb"]
    assert verdict.reason is Reason.MANIFEST_INVALID
    code = {"deep": "too-deep", "dotted": "too-many-key-parts"}.get(bomb, "too-many-digits")
    assert f"helios-plugin.toml:11: {bomb_code_message(code)}" in verdict.message
    with pytest.raises(PluginIncompatibleError, match="manifest-invalid"):
        load_plugins(["bomb"], settings=NONE)
    assert list(load_plugins(["good"], settings=NONE)) == ["good"]


def bomb_code_message(code: str) -> str:
    return {
        "too-deep": "arrays and inline tables nested more than 32 levels deep",
        "too-many-key-parts": "a dotted key of more than 32 parts",
        "too-many-digits": "a number of ",
    }[code]


def test_terminal_escapes_in_a_manifest_never_reach_the_listing(plugin_env: PluginEnv) -> None:
    with_good(plugin_env)
    evil = manifest_text("evil", "helios_evil.plugin:FixturePlugin").replace(
        'id = "evil"', 'id = "\\u001b]0;owned\\u0007\\u001b[2J"'
    )
    dist = plugin_env.add("helios-evil", "evil", manifest=evil)

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    assert "\x1b" not in out and "\x07" not in out
    manifest = dist.package_dir / "helios-plugin.toml"
    assert (
        f"  {manifest}:2: [id] expected a lowercase identifier (a letter, then letters, digits "
        "or '_', at most 64 characters) such as 'my_plugin', found "
        '"\\x1b]0;owned\\x07\\x1b[2J"'
    ) in out.splitlines()
    assert table(out)["evil"] == ["helios-evil", "0.1.0", "incompatible", "manifest-invalid"]
    assert table(out)["good"] == ["helios-good", "0.1.0", "ok", "ready"]


def install_undecodable_requirement(plugin_env: PluginEnv) -> None:
    """``needy`` requires ``weird``, whose installed METADATA is not UTF-8."""
    plugin_env.add("helios-needy", "needy", packages=("weird",))
    dist_info = write_dist_info(plugin_env.site, "weird", "1.0")
    (dist_info / "METADATA").write_bytes(b"Name: weird\nVersion: 1.0\nSummary: caf\xe9\n\n")


def unreadable(plugin_env: PluginEnv) -> str:
    """needy's verdict on ``weird`` (a check that raised was ``check-crashed`` before the
    metadata reader turned this case into its own verdict; see test_discovery_hostile.py)."""
    return (
        "requires.packages cannot be checked: the metadata of weird cannot be read: cannot "
        f"read {plugin_env.site}/weird-1.0.dist-info/METADATA: not UTF-8 text (byte 0xe9 at "
        "offset 37)"
    )


def test_undecodable_metadata_of_a_requirement_is_that_plugins_verdict(
    plugin_env: PluginEnv,
) -> None:
    with_good(plugin_env)
    install_undecodable_requirement(plugin_env)
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU)
    assert report["good"].reason is Reason.READY
    verdict = report["needy"]
    assert (verdict.reason, verdict.kind) == (Reason.METADATA_UNREADABLE, Kind.INCOMPATIBLE)
    assert verdict.message == unreadable(plugin_env)
    assert verdict.distribution == "helios-needy"
    assert verdict.fix == "reinstall it: pip install --force-reinstall weird"
    with pytest.raises(PluginIncompatibleError) as caught:
        load_plugins(["needy", "good"], settings=NONE)
    assert f"needy (helios-needy 0.1.0): metadata-unreadable: {unreadable(plugin_env)}" in str(
        caught.value
    )
    assert list(load_plugins(["good"], settings=NONE)) == ["good"]


def test_list_and_check_report_undecodable_metadata(plugin_env: PluginEnv) -> None:
    with_good(plugin_env)
    install_undecodable_requirement(plugin_env)

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    assert f"needy: {unreadable(plugin_env)}" in out.splitlines()
    code, out, err, _ = plugin_env.cli("plugins", "check")
    assert (code, err) == (1, "")
    assert table(out)["good"] == ["helios-good", "0.1.0", "ok", "ready"]
    assert table(out)["needy"] == ["helios-needy", "0.1.0", "incompatible", "metadata-unreadable"]


def test_a_class_that_breaks_verification_is_that_plugins_verdict(
    plugin_env: PluginEnv,
) -> None:
    source = plugin_source("OddPlugin", "odd").replace(
        "declared_overrides = UniquePluginOverrides()", "declared_overrides = {'x': True}"
    )
    plugin_env.add("helios-odd", "odd", class_name="OddPlugin", module_source=source)
    with_good(plugin_env)
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU, load=True)
    assert report["good"].reason is Reason.LOADED
    assert report["odd"].reason is Reason.CHECK_CRASHED
    assert report["odd"].message == (
        "verifying the plug-in 'odd' raised AttributeError: 'dict' object has no attribute "
        "'claimed'"
    )
    with pytest.raises(PluginBrokenError, match="check-crashed: verifying the plug-in 'odd'"):
        load_plugins(["odd"], settings=NONE)


def test_two_classes_of_one_name_are_a_verdict_not_a_crash(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-first", "first", class_name="SamePlugin")
    plugin_env.add("helios-second", "second", class_name="SamePlugin")
    plugin_env.activate()

    report = build_report(settings=NONE, device=NO_GPU, load=True)
    assert report["first"].reason is Reason.LOADED
    assert report["second"].reason is Reason.CHECK_CRASHED
    assert report["second"].message == (
        "registering the plug-in 'second' raised ValueError: a plug-in class named "
        "'SamePlugin' is already registered (helios_first.plugin.SamePlugin); cannot also "
        "register helios_second.plugin.SamePlugin: rename one of the two classes"
    )


@pytest.mark.torch
def test_the_trainer_sees_the_verdict(plugin_env: PluginEnv) -> None:
    pytest.importorskip("torch")
    from helios.trainer import Trainer

    install_undecodable_requirement(plugin_env)
    plugin_env.activate()
    with pytest.raises(PluginIncompatibleError) as caught:
        Trainer(total=1, device="cpu", progress=False, plugins=["needy"])
    assert str(caught.value) == (
        "plug-in check failed; nothing was imported:\n"
        f"  - needy (helios-needy 0.1.0): metadata-unreadable: {unreadable(plugin_env)} Fix: "
        "reinstall it: pip install --force-reinstall weird"
    )


DEMO_NEEDS = ("torch", "optuna", "sklearn", "matplotlib")


@pytest.mark.torch
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in DEMO_NEEDS), reason="the demo extra is absent"
)
def test_the_demo_stops_with_one_line_not_a_traceback(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """A manifest bomb that claims the id 'optuna' is listed, then refused with the others."""
    plugin_env.add(
        "helios-optuna-bomb",
        "optuna",
        package="helios_optuna_bomb",
        manifest=bomb_manifest("deep", "optuna").replace("helios_optuna.", "helios_optuna_bomb."),
    )
    code, out, err, _ = plugin_env.cli("demo", "--run-dir", str(tmp_path / "run"))
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("helios: error: 2 plug-in checks failed; nothing was imported:\n")
    assert "  - optuna (helios-optuna-bomb 0.1.0): " in err
    rows = [line.split()[:3] for line in out.splitlines()]
    assert ["optuna", "helios-optuna-bomb", "0.1.0"] in rows  # the report was printed first


def test_an_unknown_id_is_cut_and_the_installed_ids_it_lists_are_bounded(
    plugin_env: PluginEnv,
) -> None:
    """An id from the command line may be huge; the installed ids named stop after 10."""
    for number in range(11):
        plugin_env.add(f"helios-p{number:02d}", f"p{number:02d}")
    plugin_env.activate()
    ids = sorted(v.id for v in build_report(settings=NONE).verdicts)
    assert len(ids) >= 11
    asked = "x" * 10_000
    (verdict,) = build_report([asked], settings=NONE).verdicts
    assert verdict.reason is Reason.NOT_INSTALLED
    name = "'" + "x" * 80 + "'... (10,000 characters)"
    assert verdict.message == (
        f"no installed distribution provides the plug-in {name} "
        f"(installed: {', '.join(ids[:10])} and {len(ids) - 10} more)"
    )
    assert verdict.required == f"plug-in {name}"
    assert verdict.fix == f"install a distribution providing {name}"


# --- what a distribution's metadata says is cut in every message ----------------------------

LONG = 100_000


def cut(text: str) -> str:
    """``text`` as a message shows a long outside value: 80 characters and the length."""
    return f"{text[:80]}... ({len(text):,} characters)"


def rewrite_metadata(dist_info: Path, old: str, new: str) -> None:
    metadata = dist_info / "METADATA"
    metadata.write_text(metadata.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_a_huge_distribution_name_is_cut_in_the_fix(plugin_env: PluginEnv) -> None:
    """A Name of 100,000 characters: the fix named it twice, whole (1.8 MB of list output)."""
    with_good(plugin_env)
    dist = plugin_env.add("helios-old", "old", core_range=">=0.9,<1.0")
    name = "helios-old" + "x" * LONG
    rewrite_metadata(dist.dist_info, "Name: helios-old", f"Name: {name}")

    code, out, err, _ = plugin_env.cli("plugins", "list")
    assert (code, err) == (0, "")
    assert table(out)["good"] == ["helios-good", "0.1.0", "ok", "ready"]
    assert (
        "  fix: pip install 'helios-trainer<1.0,>=0.9', or install a release of "
        f"{cut(name)} made for this core: pip install -U {cut(name)}"
    ) in out.splitlines()
    assert len(out) < 3_000


def test_requires_dist_lines_are_cut_and_counted(plugin_env: PluginEnv) -> None:
    """One Requires-Dist line of 100,000 characters, then 1,000 more lines on the core."""
    line = "helios-trainer>=0.1; python_version > '" + "3" * LONG + "'"
    plugin_env.add("helios-needy", "needy", requires=(line, *["helios-trainer>=0.1,<0.2"] * 1_000))
    plugin_env.activate()

    verdict = build_report(["needy"], settings=NONE)["needy"]
    assert verdict.reason is Reason.REQUIRES_DIST_MISMATCH
    found = f"{cut(line)}, {', '.join(['helios-trainer>=0.1,<0.2'] * 3)} and 997 more"
    assert verdict.found == found
    assert verdict.message.startswith(f"Requires-Dist says {found} (")
    assert len(verdict.message) + len(verdict.fix) < 2_000


def test_a_huge_entry_point_value_is_cut_in_the_message_and_the_fix(
    plugin_env: PluginEnv,
) -> None:
    """The entry point names a class of 100,000 characters; neither it nor the manifest's
    class is in the installed source, so the fix names both."""
    value = "helios_long.plugin:" + "C" * LONG
    source = plugin_source("OtherPlugin", "long")
    plugin_env.add("helios-long", "long", entry_points={"long": value}, module_source=source)
    plugin_env.activate()

    verdict = build_report(["long"], settings=NONE)["long"]
    assert verdict.reason is Reason.ENTRY_POINT_MISMATCH
    assert verdict.message == (
        f"the entry point 'long = {cut(value)}' ({plugin_env.site}/helios_long-0.1.0.dist-info) "
        "does not match the manifest's id = 'long', class = 'helios_long.plugin:FixturePlugin' "
        f"({plugin_env.site}/helios_long/helios-plugin.toml)"
    )
    assert verdict.fix == (
        f"neither 'helios_long.plugin:FixturePlugin' nor '{value[:80]}'... ({len(value):,} "
        "characters) is a class in the plug-in's source: point both at the plug-in class"
    )


def test_the_installed_version_of_a_required_package_is_cut(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-needy", "needy", packages=("weird>=1,<2",))
    version = "3" + ".0" * LONG
    write_dist_info(plugin_env.site, "weird", version, folder="weird-3.0")
    plugin_env.activate()

    verdict = build_report(["needy"], settings=NONE)["needy"]
    assert verdict.reason is Reason.INCOMPATIBLE_PACKAGE
    assert verdict.message == f"requires weird<2,>=1, found weird {cut(version)}"


@needs_int_limit
def test_versions_too_long_to_compare_in_metadata_are_verdicts_not_crashes(
    plugin_env: PluginEnv,
) -> None:
    """A version of 5,000 digits raises ValueError when compared: an installed package's
    Version, and a Requires-Dist range, made the plug-ins 'check-crashed'."""
    big = "1" + "0" * 5_000
    plugin_env.add("helios-needy", "needy", packages=("weird>=1",))
    write_dist_info(plugin_env.site, "weird", big, folder="weird-1.0")
    plugin_env.add("helios-ranged", "ranged", requires=(f"helios-trainer=={big}",))
    with_good(plugin_env)
    plugin_env.activate()

    report = build_report(settings=NONE)
    assert report["good"].reason is Reason.READY
    assert report["needy"].reason is Reason.INCOMPATIBLE_PACKAGE
    assert report["needy"].message == f"requires weird>=1, found weird {cut(big)}"
    ranged = report["ranged"]
    assert ranged.reason is Reason.REQUIRES_DIST_MISMATCH
    assert ranged.found == cut(f"helios-trainer=={big}")
    assert ranged.fix == (
        "make [project].dependencies in pyproject.toml say 'helios-trainer<0.2,>=0.1', then "
        "rebuild and reinstall the plug-in (one 'helios-trainer' line, the manifest's range)"
    )

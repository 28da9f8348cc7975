"""What one setting or one manifest can make the report say is bounded, and still counted."""

from __future__ import annotations

import pytest

from helios.plugins import build_report
from helios.plugins._host.manifest import MAX_MANIFEST_BYTES, load_manifest
from helios.plugins._host.settings import NAMED_IDS, Settings, named_ids
from helios.plugins._host.verdicts import Reason, Verdict
from helios.plugins.errors import LISTED_ISSUES, ManifestError
from support.distfactory import manifest_text
from support.plugin_env import PluginEnv

MANY = " ".join(f"ghost{i:06d}" for i in range(100_000))


def test_named_ids_names_a_few_and_counts_the_rest() -> None:
    assert named_ids([]) == ""
    assert named_ids(["b", "a"]) == "a, b"
    ids = [f"p{i:02d}" for i in range(NAMED_IDS + 3)]
    assert named_ids(ids) == ", ".join(ids[:NAMED_IDS]) + " and 3 more"
    assert named_ids(["\x1b[2J" + "x" * 100]) == "\\x1b[2J" + "x" * 73 + "... (104 characters)"


@pytest.mark.parametrize("variable", ["HELIOS_PLUGINS_ONLY", "HELIOS_PLUGINS_DISABLE"])
def test_100000_unknown_ids_make_a_few_warnings(plugin_env: PluginEnv, variable: str) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()
    settings = Settings.from_env({variable: MANY})

    warnings = build_report(["good"], settings=settings).warnings
    assert warnings == (
        *(
            f"{variable} names 'ghost{i:06d}', which no installed plug-in provides"
            for i in range(NAMED_IDS)
        ),
        f"{variable} names {100_000 - NAMED_IDS:,} more ids that no installed plug-in "
        "provides (not listed)",
    )


def test_a_verdict_names_a_few_of_the_ids_it_was_judged_by(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()

    disabled = build_report(["good"], settings=Settings(disable=frozenset(["good", *MANY.split()])))
    first = ", ".join(f"ghost{i:06d}" for i in range(NAMED_IDS))
    assert disabled["good"].reason is Reason.DISABLED
    assert disabled["good"].found == f"disabled: {first} and 99,991 more"
    selected = build_report(settings=Settings(only=frozenset(MANY.split())))
    assert selected["good"].reason is Reason.NOT_SELECTED
    assert selected["good"].found == f"only: {first} and 99,990 more"


def crowded_manifest() -> tuple[str, int]:
    """A valid manifest plus as many unknown keys as fit in the size limit; and their count."""
    text = manifest_text("crowd", "helios_crowd.plugin:FixturePlugin")
    head, _, rest = text.partition("\n[requires]")
    keys = []
    size = len(text)
    while size + 13 <= MAX_MANIFEST_BYTES:
        keys.append(f"k{len(keys):05d} = 1\n")
        size += len(keys[-1])
    return head + "\n" + "".join(keys) + "\n[requires]" + rest, len(keys)


def test_a_manifest_of_thousands_of_problems_lists_fifty(plugin_env: PluginEnv) -> None:
    text, count = crowded_manifest()
    assert count > 5000
    dist = plugin_env.add("helios-crowd", "crowd", manifest=text)
    plugin_env.activate()
    path = dist.package_dir / "helios-plugin.toml"

    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert len(caught.value.issues) == count  # every problem is kept, for tools
    lines = str(caught.value).splitlines()
    assert lines[0] == f"invalid plug-in manifest {path} ({count:,} problem(s)):"
    assert len(lines) == 1 + LISTED_ISSUES + 1
    assert lines[1] == (
        f"  {path}:6: [k00000] unknown key 'k00000'; allowed here: manifest-version, id, "
        "class, summary, requires, overrides, device (check the spelling, or upgrade "
        "helios-trainer if the key is newer)"
    )
    assert lines[LISTED_ISSUES].startswith(
        f"  {path}:{5 + LISTED_ISSUES}: [k{LISTED_ISSUES - 1:05d}]"
    )
    assert lines[-1] == f"  ... and {count - LISTED_ISSUES:,} more problem(s)"

    verdict = build_report(["crowd"], settings=Settings())["crowd"]
    assert verdict.reason is Reason.MANIFEST_INVALID
    assert verdict.message == str(caught.value)
    assert verdict.found == f"{count} problem(s)"
    assert len(verdict.message.replace(str(path), "")) < 20_000  # whatever the path's length


def test_many_distributions_claiming_one_id_make_a_report_linear_in_them(
    plugin_env: PluginEnv,
) -> None:
    """Each duplicate-id verdict names three of the others and counts the rest: before, 200
    claimants made 200 messages naming 199 each (300 made 9 MB of ``helios plugins list``)."""
    for i in range(200):
        plugin_env.add(f"helios-dup{i:03d}", "dup", package=f"dup{i:03d}")
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()

    report = build_report(settings=Settings())
    assert report["good"].reason is Reason.READY
    dups = [v for v in report.verdicts if v.id == "dup"]  # in scan order
    assert len(dups) == 200
    assert {v.reason for v in dups} == {Reason.DUPLICATE_ID}

    def who(verdict: Verdict) -> str:
        return f"{verdict.distribution} 0.1.0 ({verdict.dist_info})"

    first, others = dups[0], dups[1:4]
    assert first.message == (
        f"the plug-in id 'dup' is also provided by {', '.join(map(who, others))} and 196 more"
    )
    assert first.fix == (
        f"uninstall all but one: pip uninstall {' '.join(v.distribution for v in others)}; "
        "likewise for the 196 more (each has its own row in this report)"
    )
    assert first.found == f"{who(first)}, {', '.join(map(who, others))} and 196 more"
    assert dups[1].message.startswith(f"the plug-in id 'dup' is also provided by {who(first)}, ")
    assert len(report.render().replace(str(plugin_env.site), "")) < 200 * 1_500  # any path

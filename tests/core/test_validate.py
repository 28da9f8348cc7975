"""``helios plugins validate``: manifest files and whole plug-in source trees, statically."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from helios.cli import main
from helios.plugins.static import validate_path
from support.distfactory import manifest_text, plugin_source

PYPROJECT = """\
[project]
name = "helios-tree"
version = "0.1.0"
dependencies = ["helios-trainer{core_range}"]

[project.entry-points."helios.plugins"]
{entry}
"""


def make_tree(
    root: Path,
    *,
    overrides: tuple[str, ...] = ("training_batch",),
    manifest_overrides: tuple[str, ...] | None = None,
    source: str | None = None,
    core_range: str = ">=0.1,<0.2",
    entry: str = 'tree = "helios_tree.plugin:TreePlugin"',
) -> Path:
    package = root / "src" / "helios_tree"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('validate must not import me')\n")
    (package / "plugin.py").write_text(source or plugin_source("TreePlugin", "tree", overrides))
    claimed = overrides if manifest_overrides is None else manifest_overrides
    (package / "helios-plugin.toml").write_text(
        manifest_text("tree", "helios_tree.plugin:TreePlugin", overrides=claimed)
    )
    (root / "pyproject.toml").write_text(PYPROJECT.format(core_range=core_range, entry=entry))
    return root


def codes(path: Path) -> list[str]:
    return [p.code for p in validate_path(path).problems]


def test_a_consistent_tree_validates(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    result = validate_path(root)
    assert result.ok, result.problems
    assert result.manifest is not None and result.manifest.id == "tree"
    assert validate_path(root / "src" / "helios_tree").ok  # the package folder works too


def test_hook_defined_but_not_claimed(tmp_path: Path) -> None:
    root = make_tree(tmp_path, overrides=("training_batch",), manifest_overrides=())
    (problem, *rest) = validate_path(root).problems
    assert problem.code == "overrides-mismatch"
    assert rest[0].code == "hook-unclaimed"
    assert rest[0].message == (
        "TreePlugin defines process_training_batch but the manifest does not claim "
        "training_batch; add training_batch = true under [overrides]"
    )
    assert rest[0].line is not None and rest[0].path.endswith("plugin.py")


def test_claim_without_hook(tmp_path: Path) -> None:
    source = plugin_source("TreePlugin", "tree").replace(
        "UniquePluginOverrides()", "UniquePluginOverrides(should_training_stop=True)"
    )
    root = make_tree(tmp_path, source=source, manifest_overrides=("should_training_stop",))
    assert codes(root) == ["hook-missing"]


def test_id_and_project_mismatches(tmp_path: Path) -> None:
    source = plugin_source("TreePlugin", "other")
    root = make_tree(
        tmp_path,
        overrides=(),
        source=source,
        core_range=">=0.1",
        entry='tree = "helios_tree.plugin:Other"',
    )
    assert codes(root) == ["entry-point-mismatch", "requires-dist-mismatch", "id-mismatch"]
    problems = {p.code: p for p in validate_path(root).problems}
    assert problems["requires-dist-mismatch"].message == (
        "[project].dependencies must require helios-trainer<0.2,>=0.1 (the manifest's "
        "requires.helios), found helios-trainer>=0.1"
    )


def test_unreadable_overrides_and_missing_class(tmp_path: Path) -> None:
    source = plugin_source("TreePlugin", "tree", ("training_batch",)).replace(
        "UniquePluginOverrides(training_batch=True)", "make_overrides()"
    )
    assert codes(make_tree(tmp_path / "a", source=source)) == ["overrides-unreadable"]
    assert codes(make_tree(tmp_path / "b", source="x = 1\n")) == ["class-not-found"]
    assert codes(tmp_path / "nowhere") == ["unreadable"]
    (tmp_path / "empty").mkdir()
    assert codes(tmp_path / "empty") == ["manifest-missing"]


def test_cli_validate_exit_codes_and_json(tmp_path: Path, capsys: object) -> None:
    good = make_tree(tmp_path / "good")
    bad = tmp_path / "bad.toml"
    bad.write_text('manifest-version = 2\nid = "x"\n')
    assert main(["plugins", "validate", str(good)]) == 0
    assert main(["plugins", "validate", str(good), str(bad), "--json"]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    results = json.loads(out[out.index("[") :])
    assert [r["ok"] for r in results] == [True, False]
    assert results[1]["problems"] == [
        {
            "path": str(bad),
            "code": "version-too-new",
            "message": "this helios-trainer understands manifest-version up to 1, found 2; "
            "upgrade helios-trainer (pip install -U helios-trainer)",
            "key": "manifest-version",
            "line": 1,
        }
    ]


def test_cli_validate_table(tmp_path: Path, capsys: object) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        textwrap.dedent("""\
        manifest-version = 1
        id = "x"
        class = "x.plugin:X"
        colour = "red"
        [requires]
        helios = ">=0.1"
        """)
    )
    assert main(["plugins", "validate", str(bad)]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.splitlines() == [
        f"invalid: {bad}",
        f"  {bad}:4: [colour] unknown key 'colour'; allowed here: manifest-version, id, class, "
        "summary, requires, overrides, device (check the spelling, or upgrade helios-trainer if "
        "the key is newer)",
    ]

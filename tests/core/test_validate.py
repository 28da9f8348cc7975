"""``helios plugins validate``: manifest files and whole plug-in source trees, statically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helios.cli import main
from helios.plugins.static import MAX_PROJECT_FILE_BYTES, validate_path
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


# --- special files and malformed project files: one line each, never a hang or a traceback --


def validate_cli(*paths: Path) -> tuple[int, str, str]:
    """``helios plugins validate PATHS`` in a fresh interpreter (a hang fails, not blocks)."""
    proc = subprocess.run(
        [sys.executable, "-m", "helios", "plugins", "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


FIFO_MESSAGE = "not a regular file but a FIFO (named pipe); only regular files are read"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@needs_fifo
def test_validate_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "helios-plugin.toml"
    os.mkfifo(fifo)
    assert validate_cli(fifo) == (1, f"invalid: {fifo}\n  {fifo}: {FIFO_MESSAGE}\n", "")


@needs_fifo
def test_validate_a_folder_whose_manifest_is_a_fifo(tmp_path: Path) -> None:
    package = tmp_path / "helios_tree"
    package.mkdir()
    (package / "__init__.py").write_text("")
    os.mkfifo(package / "helios-plugin.toml")
    assert validate_cli(tmp_path) == (
        1,
        f"invalid: {tmp_path}\n  {package / 'helios-plugin.toml'}: {FIFO_MESSAGE}\n",
        "",
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_validate_a_link_to_dev_zero(tmp_path: Path) -> None:
    link = tmp_path / "helios-plugin.toml"
    link.symlink_to("/dev/zero")
    assert [(p.code, p.message) for p in validate_path(link).problems] == [
        ("not-a-file", "not a regular file but a character device; only regular files are read")
    ]


@needs_fifo
def test_a_pyproject_that_is_a_fifo(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "pyproject.toml").unlink()
    os.mkfifo(root / "pyproject.toml")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.message) == (
        "pyproject-unreadable",
        f"cannot read pyproject.toml: {FIFO_MESSAGE}",
    )


@pytest.mark.parametrize(
    ("replace", "key", "message"),
    [
        (
            ('dependencies = ["helios-trainer>=0.1,<0.2"]', 'dependencies = ["x", 3]'),
            "project.dependencies[1]",
            "a dependency must be a string (PEP 621), found an integer; fix pyproject.toml",
        ),
        (
            ('dependencies = ["helios-trainer>=0.1,<0.2"]', 'dependencies = "helios-trainer"'),
            "project.dependencies",
            "[project].dependencies must be an array (PEP 621), found a string; fix pyproject.toml",
        ),
        (
            ('tree = "helios_tree.plugin:TreePlugin"', "tree = { a = 1 }"),
            'project.entry-points."helios.plugins".tree',
            "an entry point must be a string (PEP 621), found a table; fix pyproject.toml",
        ),
        (
            ('[project.entry-points."helios.plugins"]\n', 'entry-points = ["x"]\n[tool.x]\n'),
            "project.entry-points",
            "[project.entry-points] must be a table (PEP 621), found an array; fix pyproject.toml",
        ),
    ],
    ids=["dependency-int", "dependencies-str", "entry-table", "entry-points-array"],
)
def test_a_malformed_pyproject_is_one_problem(
    tmp_path: Path, replace: tuple[str, str], key: str, message: str
) -> None:
    root = make_tree(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    assert replace[0] in text
    pyproject.write_text(text.replace(*replace))
    (problem,) = validate_path(root).problems
    assert (problem.path, problem.code, problem.key, problem.message) == (
        str(pyproject),
        "pyproject-invalid",
        key,
        message,
    )


def test_a_pyproject_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    """Decoded by the shared reader (bounded_read.read_regular_text): the byte and its offset."""
    root = make_tree(tmp_path)
    (root / "pyproject.toml").write_bytes(b"[project]\nname = '\xe9'\n")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.message) == (
        "pyproject-unreadable",
        "cannot read pyproject.toml: not UTF-8 text (byte 0xe9 at offset 18)",
    )


def test_a_pyproject_whose_project_is_no_table(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "pyproject.toml").write_text("project = 1\n")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.key, problem.message) == (
        "pyproject-invalid",
        "project",
        "[project] must be a table (PEP 621), found an integer; fix pyproject.toml",
    )


def test_a_deeply_nested_pyproject_is_one_problem(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n[tool.x]\ny = " + "[" * 1000 + "]" * 1000 + "\n")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.line, problem.message) == (
        "pyproject-unreadable",
        10,
        "arrays and inline tables nested more than 32 levels deep; at most 32 levels are read",
    )


SOURCES = {
    "unary-chain": (
        "x = " + "-" * 100_000 + "1\n",
        "the code is nested too deeply for Python's parser (MemoryError)",
    ),
    "nul-byte": ("x = 1\0\n", "source code string cannot contain null bytes"),
}


@pytest.mark.parametrize("name", SOURCES)
def test_a_source_python_cannot_parse_is_one_problem(tmp_path: Path, name: str) -> None:
    source, reason = SOURCES[name]
    root = make_tree(tmp_path, source=source)
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.message) == ("syntax-error", f"cannot parse: {reason}")
    assert problem.path == str(root / "src" / "helios_tree" / "plugin.py")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10's parser takes this chain")
def test_a_source_too_deep_for_the_ast_is_one_problem(tmp_path: Path) -> None:
    root = make_tree(tmp_path, source="x = " + "1+" * 100_000 + "1\n")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.message) == (
        "syntax-error",
        "cannot parse: the code is nested too deeply for Python's parser (RecursionError)",
    )


def test_a_deep_attribute_chain_in_the_class_is_read_without_recursion(tmp_path: Path) -> None:
    """Names are read from the last attribute, not by unparsing (which recursed 3 frames a dot)."""
    chain = "a." * 600
    source = plugin_source("TreePlugin", "tree", ("training_batch",))
    source = source.replace("UniquePluginOverrides(t", f"{chain}UniquePluginOverrides(t")
    source = source.replace("(Plugin)", f"({chain}Plugin)")
    assert validate_path(make_tree(tmp_path, source=source)).problems == []


def test_a_source_over_the_size_limit(tmp_path: Path) -> None:
    root = make_tree(tmp_path, source="#" * (MAX_PROJECT_FILE_BYTES + 1))
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.message) == (
        "source-unreadable",
        "cannot read the module: the file holds 1,048,577 bytes; at most 1,048,576 bytes are read",
    )


def test_problems_are_rendered_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('manifest-version = 1\n"\\u001b[2J\\r" = 1\n')
    lines = [p.render() for p in validate_path(bad).problems]
    assert lines[0] == (
        f"{bad}: [\\x1b[2J\\r] unknown key '\\x1b[2J\\r'; allowed here: manifest-version, id, "
        "class, summary, requires, overrides, device (check the spelling, or upgrade "
        "helios-trainer if the key is newer)"
    )
    assert all(line.isprintable() for line in lines)

"""``helios plugins validate``: manifest files and whole plug-in source trees, statically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import helios
from helios.cli import main
from helios.plugins._host.hook_checks import LISTED_PROBLEMS
from helios.plugins.authoring.source_classes import MAX_MODULES
from helios.plugins.authoring.static import MAX_PROJECT_FILE_BYTES, validate_path
from helios.plugins.hooks import HOOKS, Hook
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
    assert rest[0].text == (
        "TreePlugin overrides process_training_batch without claiming training_batch; claim "
        "training_batch (training_batch=True in declared_overrides, and training_batch = true "
        "under [overrides] in its manifest if it has one), or remove process_training_batch"
    )
    assert rest[0].line is not None and rest[0].file.endswith("plugin.py")


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
    pyproject, manifest = root / "pyproject.toml", root / "src/helios_tree/helios-plugin.toml"
    mismatch = problems["requires-dist-mismatch"]
    assert (mismatch.message, mismatch.fix) == (
        f"[project].dependencies says helios-trainer>=0.1 ({pyproject}) but the manifest's "
        f"requires.helios is <0.2,>=0.1 ({manifest}): pip installs what [project].dependencies "
        "says, the core checks requires.helios",
        "write the helios-trainer versions the plug-in works with in both places (helios-trainer "
        f"{helios.__version__}, the one at hand, is admitted by [project].dependencies only): if "
        "that is <0.2,>=0.1, make [project].dependencies say 'helios-trainer<0.2,>=0.1'; if it "
        f"is >=0.1, set requires.helios = '>=0.1' in {manifest}",
    )
    entry = problems["entry-point-mismatch"]
    assert (entry.message, entry.fix) == (
        f"the entry point 'tree = helios_tree.plugin:Other' ({pyproject}) does not match the "
        f"manifest's id = 'tree', class = 'helios_tree.plugin:TreePlugin' ({manifest})",
        "the manifest's class exists and the entry point's does not: make the entry point's "
        "value 'helios_tree.plugin:TreePlugin' in [project.entry-points.\"helios.plugins\"]",
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
            "required": "",
            "found": "",
            "fix": "",
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
    assert (problem.file, problem.code, problem.key, problem.message) == (
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
    assert problem.file == str(root / "src" / "helios_tree" / "plugin.py")


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


# --- the hook rules, on the source (test_hook_rules.py holds them on the imported class) ------

BY_POSITION = "(parameter names are free: the trainer passes hook arguments by position)"


def tree_with(tmp_path: Path, body: str, *, bases: str = "Plugin", head: str = "") -> Path:
    """A tree whose plug-in class has ``body`` (after setup), below ``head`` in its module."""
    source = (
        "from helios.plugins.plugin import Plugin, UniquePluginOverrides\n"
        f"{head}\n\n"
        f"class TreePlugin({bases}):\n"
        "    plugin_id = 'tree'\n"
        "    declared_overrides = UniquePluginOverrides()\n\n"
        "    def setup(self):\n"
        "        pass\n\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )
    return make_tree(tmp_path, overrides=(), source=source)


def found(root: Path) -> list[tuple[str, str, int | None, str]]:
    """(file name, code, line, message) of every problem."""
    return [(Path(p.file).name, p.code, p.line, p.text) for p in validate_path(root).problems]


def test_a_misspelt_hook_is_a_problem_with_did_you_mean(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "def on_train_batch_end(self, state):\n    pass\n")
    (problem,) = validate_path(root).problems
    assert (problem.code, problem.key, problem.line) == ("hook-unknown", "on_train_batch_end", 11)
    assert problem.file == str(root / "src" / "helios_tree" / "plugin.py")
    assert problem.text == (
        "TreePlugin.on_train_batch_end is named like a hook but is none, so the trainer never "
        "calls it (did you mean on_training_batch_end?); rename on_train_batch_end to "
        "on_training_batch_end, or make it private (_on_train_batch_end) if it is a helper"
    )


def test_cli_validate_fails_on_a_misspelt_hook(tmp_path: Path, capsys: object) -> None:
    root = tree_with(tmp_path, "def should_stop(self):\n    return True\n")
    assert main(["plugins", "validate", str(root)]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.splitlines()[1] == (
        f"  {root / 'src' / 'helios_tree' / 'plugin.py'}:11: [should_stop] TreePlugin.should_stop "
        "is named like a hook but is none, so the trainer never calls it (did you mean "
        "should_training_stop?); rename should_stop to should_training_stop, or make it private "
        "(_should_stop) if it is a helper"
    )


def test_a_hook_with_the_wrong_parameters_is_a_problem(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "def on_validation_end(self):\n    pass\n")
    assert found(root) == [
        (
            "plugin.py",
            "hook-signature",
            11,
            "TreePlugin.on_validation_end(self) cannot take the trainer's call "
            "on_validation_end(validation_cycle) (1 positional argument after self): it takes "
            f"none; define it as def on_validation_end(self, validation_cycle) {BY_POSITION}",
        )
    ]


def test_names_the_rules_leave_alone(tmp_path: Path) -> None:
    body = """\
        def _on_train_batch_end(self, state):
            pass

        @property
        def on_gpu(self):
            return True

        @on_gpu.setter
        def on_gpu(self, value):
            pass

        def suggest(self, name):
            pass

        def on_validation_end(self, cycle, *rest, verbose=False):
            pass

        @staticmethod
        def on_testing_end():
            pass

        @torch.no_grad()
        def on_optimizer_step_end(self, state):
            pass
        """
    assert found(tree_with(tmp_path, body, head="import torch")) == []


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        ("async def on_training_start(self):", "it is an async def, and the trainer never awaits"),
        ("def on_training_start():", "it has no parameter for self"),
        ("def process_testing_batch(self, batch):", "it takes at most 1"),
        ("def on_validation_start(self, cycle, *, log):", "its keyword-only parameter log has"),
        ("@classmethod\ndef on_training_epoch_start(cls):", "it takes none"),
        ("@staticmethod\ndef on_training_epoch_start(self, epoch):", "it requires 2 positional"),
    ],
)
def test_shapes_that_cannot_take_the_call(tmp_path: Path, definition: str, why: str) -> None:
    root = tree_with(tmp_path, f"{definition}\n    pass\n")
    problems = [p for p in validate_path(root).problems if p.code == "hook-signature"]
    assert len(problems) == 1 and why in problems[0].message, problems


def _hook_source(hook: Hook, params: str) -> str:
    flag = f"{hook.flag}=True" if hook.flag else ""
    setup = "" if hook.name == "setup" else "    def setup(self):\n        pass\n"
    return (
        "from helios.plugins.plugin import Plugin, UniquePluginOverrides\n\n"
        "class TreePlugin(Plugin):\n"
        "    plugin_id = 'tree'\n"
        f"    declared_overrides = UniquePluginOverrides({flag})\n"
        f"{setup}"
        f"    def {hook.name}({params}):\n"
        "        return None\n"
    )


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_each_hook_of_the_table_is_checked_from_source(tmp_path: Path, hook: Hook) -> None:
    flags = (hook.flag,) if hook.flag else ()
    right = ", ".join(("self", *hook.args))
    assert found(make_tree(tmp_path / "a", overrides=flags, source=_hook_source(hook, right))) == []
    wrong = f"{right}, extra"
    source = _hook_source(hook, wrong)
    line = source.splitlines().index(f"    def {hook.name}({wrong}):") + 1
    (problem,) = validate_path(make_tree(tmp_path / "b", overrides=flags, source=source)).problems
    assert (problem.code, problem.key, problem.line) == ("hook-signature", hook.name, line)
    assert problem.message.startswith(
        f"TreePlugin.{hook.name}({wrong}) cannot take the trainer's call {hook.signature}"
    )


# --- inherited methods: bases the tree defines are read -------------------------------------


def test_a_base_in_the_same_module_is_read(tmp_path: Path) -> None:
    head = (
        "\n\nclass Base(Plugin):\n"
        "    def on_epoch_end(self, epoch):\n"
        "        pass\n\n"
        "    def process_training_batch(self, batch, state):\n"
        "        return batch\n"
    )
    root = tree_with(tmp_path, "pass\n", bases="Base", head=head)
    assert found(root) == [
        (
            "plugin.py",
            "hook-unclaimed",
            8,
            "TreePlugin overrides process_training_batch (inherited from Base) without claiming "
            "training_batch; claim training_batch (training_batch=True in declared_overrides, "
            "and training_batch = true under [overrides] in its manifest if it has one), or "
            "remove process_training_batch",
        ),
        (
            "plugin.py",
            "hook-unknown",
            5,
            "TreePlugin.on_epoch_end (inherited from Base) is named like a hook but is none, so "
            "the trainer never calls it (did you mean on_training_epoch_end?); rename "
            "on_epoch_end to on_training_epoch_end, or make it private (_on_epoch_end) if it is "
            "a helper",
        ),
    ]


BASE_MODULE = """\
from helios.plugins import Plugin


class Base(Plugin):
    def on_train_start(self):
        pass

    def should_training_stop(self):
        return False
"""


@pytest.mark.parametrize(
    ("head", "bases"),
    [
        ("from .base import Base", "Base"),
        ("from helios_tree.base import Base as Renamed", "Renamed"),
        ("from . import base", "base.Base"),
        ("import helios_tree.base", "helios_tree.base.Base"),
        ("import helios_tree.base as b", "b.Base"),
        ("from .reexport import Base", "Base"),  # reexport.py imports it from base.py
    ],
)
def test_a_base_in_another_module_of_the_tree_is_read(
    tmp_path: Path, head: str, bases: str
) -> None:
    root = tree_with(tmp_path, "pass\n", bases=bases, head=head)
    package = root / "src" / "helios_tree"
    (package / "base.py").write_text(BASE_MODULE)
    (package / "reexport.py").write_text("from helios_tree.base import Base\n")
    assert [(f, c, line) for f, c, line, _ in found(root)] == [
        ("base.py", "hook-unclaimed", 8),
        ("base.py", "hook-unknown", 5),
    ]


def test_a_claimed_hook_defined_in_a_base_is_not_missing(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        overrides=("should_training_stop",),
        source=(
            "from helios.plugins.plugin import UniquePluginOverrides\n"
            "from helios_tree.base import Base\n\n"
            "class TreePlugin(Base):\n"
            "    plugin_id = 'tree'\n"
            "    declared_overrides = UniquePluginOverrides(should_training_stop=True)\n"
        ),
    )
    (root / "src" / "helios_tree" / "base.py").write_text(BASE_MODULE.replace("on_train", "_on"))
    assert found(root) == []
    (root / "src" / "helios_tree" / "base.py").write_text(
        "from helios.plugins import Plugin\n\nclass Base(Plugin):\n    pass\n"
    )
    assert [c for _, c, _, _ in found(root)] == ["hook-missing"]  # no base defines it now


def test_a_base_from_elsewhere_leaves_the_class_incomplete(tmp_path: Path) -> None:
    """Its own body is still checked; a claimed hook may come from the base, so none is missing."""
    source = (
        "from helios.plugins.plugin import UniquePluginOverrides\n"
        "from helios_cuda.plugin import CUDAPlugin\n\n"
        "class TreePlugin(CUDAPlugin):\n"
        "    plugin_id = 'tree'\n"
        "    declared_overrides = UniquePluginOverrides(training_batch=True)\n\n"
        "    def on_test_start(self):\n"
        "        pass\n"
    )
    root = make_tree(tmp_path, source=source)
    assert [(c, line) for _, c, line, _ in found(root)] == [("hook-unknown", 8)]


def test_a_base_is_the_one_bound_above_the_class(tmp_path: Path) -> None:
    """``class TreePlugin(TreePlugin)`` derives from the imported class, not from itself."""
    source = (
        "from helios.plugins.plugin import UniquePluginOverrides\n"
        "from helios_tree.base import Base as TreePlugin\n\n"
        "class TreePlugin(TreePlugin):\n"
        "    plugin_id = 'tree'\n"
        "    declared_overrides = UniquePluginOverrides(should_training_stop=True)\n"
    )
    root = make_tree(tmp_path, overrides=("should_training_stop",), source=source)
    (root / "src" / "helios_tree" / "base.py").write_text(BASE_MODULE)
    assert [(f, c) for f, c, _, _ in found(root)] == [("base.py", "hook-unknown")]


def test_bases_in_a_cycle_end(tmp_path: Path) -> None:
    """Modules that import each other's classes as bases (Python could not import them)."""
    root = tree_with(tmp_path, "pass\n", bases="A", head="from .m1 import A")
    package = root / "src" / "helios_tree"
    (package / "m1.py").write_text("from .m2 import B\n\nclass A(B):\n    pass\n")
    (package / "m2.py").write_text(
        "from .m1 import A\n\nclass B(A):\n    def on_log(self):\n        pass\n"
    )
    assert [(f, c) for f, c, _, _ in found(root)] == [("m2.py", "hook-unknown")]


def test_a_chain_of_modules_longer_than_the_limit_is_cut(tmp_path: Path) -> None:
    root = tree_with(tmp_path, "pass\n", bases="Base0", head="from .m0 import Base0")
    package = root / "src" / "helios_tree"
    for i in range(MAX_MODULES + 4):
        (package / f"m{i}.py").write_text(
            f"from .m{i + 1} import Base{i + 1}\n\nclass Base{i}(Base{i + 1}):\n    pass\n"
        )
    last = MAX_MODULES + 4
    (package / f"m{last}.py").write_text(
        f"from helios.plugins import Plugin\n\nclass Base{last}(Plugin):\n"
        "    def on_log(self):\n        pass\n"
    )
    assert found(root) == []  # the typo lies beyond what is read; the import check sees it
    (package / "m1.py").write_text(
        "from helios.plugins import Plugin\n\nclass Base1(Plugin):\n"
        "    def on_log(self):\n        pass\n"
    )
    assert [(f, c) for f, c, _, _ in found(root)] == [("m1.py", "hook-unknown")]


@needs_fifo
def test_a_base_module_that_is_a_fifo_is_not_read(tmp_path: Path) -> None:
    root = tree_with(
        tmp_path, "def on_log(self):\n    pass\n", bases="Base", head="from .b import Base"
    )
    os.mkfifo(root / "src" / "helios_tree" / "b.py")
    assert validate_cli(root)[0] == 1  # returns (the FIFO is refused, never opened), and reports
    assert [c for _, c, _, _ in found(root)] == ["hook-unknown"]


@pytest.mark.parametrize("plugin", ["cuda", "optuna"])
def test_the_first_party_plugins_validate(plugin: str) -> None:
    result = validate_path(Path(__file__).resolve().parents[2] / "plugins" / plugin)
    assert result.ok, [p.render() for p in result.problems]


def test_a_class_of_many_hook_like_methods_makes_a_bounded_report(tmp_path: Path) -> None:
    count = 20_000
    body = "".join(f"def on_thing_{i}(self): pass\n" for i in range(count))
    problems = validate_path(tree_with(tmp_path, body)).problems
    assert len(problems) == LISTED_PROBLEMS + 1
    assert [p.key for p in problems[:-1]] == [f"on_thing_{i}" for i in range(LISTED_PROBLEMS)]
    assert (problems[-1].code, problems[-1].line, problems[-1].message) == (
        "hook-unknown",
        11 + LISTED_PROBLEMS,
        f"and {count - LISTED_PROBLEMS:,} more hook-unknown problems in TreePlugin (not listed); "
        "fix the ones above and validate again",
    )


def test_long_names_and_parameter_lists_are_cut(tmp_path: Path) -> None:
    long = "on_" + "x" * 5000
    params = ", ".join(["self", *(f"p{i}" for i in range(1000))])
    body = f"def {long}(self): pass\ndef on_training_start({params}): pass\n"
    tree = tree_with(tmp_path, body)
    unknown, signature = validate_path(tree).problems
    assert unknown.message.startswith(
        f"TreePlugin.{long[:80]}... (5,003 characters) is named like a hook but is none"
    )
    # The name is cut wherever it is shown (the file's path is shown whole, however long).
    assert len(unknown.render().replace(str(tree), "")) < 1000
    assert signature.message.startswith(
        "TreePlugin.on_training_start(self, p0, p1, p2, p3, p4, p5, p6, … (1,001 parameters)) "
        "cannot take the trainer's call on_training_start()"
    )

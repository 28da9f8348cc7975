"""The docs test's own parts: reading blocks and markers, and running a page as a reader would."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from docs.markdown import (
    Command,
    Directives,
    MarkdownError,
    commands,
    output_matches,
    parse_page,
    programs,
)
from docs.runner import BlockFailed, PageRun

# ---------------------------------------------------------------------- reading a page
PAGE = """# Title

<!-- docs-test: skip (needs the network) -->
```console
$ pip install something
```

Text.

<!-- docs-test: file tools/x.py -->
<!-- docs-test: replace "N = 3" "N = 1" (one is enough) -->
<!-- docs-test: setup
import os
-->
```python
N = 3
```

```
a tree
```
"""


def test_blocks_come_with_their_line_kind_text_and_markers() -> None:
    skipped, script, tree = parse_page(PAGE, "page.md")
    assert (skipped.where, skipped.kind, skipped.text) == (
        "page.md:4",
        "console",
        "$ pip install something\n",
    )
    assert skipped.directives == Directives(skip="needs the network")
    assert (script.line, script.kind) == (15, "python")
    assert script.directives == Directives(
        file="tools/x.py", replace=(("N = 3", "N = 1"),), setup="import os\n"
    )
    assert script.source() == "N = 1\n"
    assert (tree.kind, tree.runnable) == ("text", False)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "<!-- docs-test: skip -->\n```python\n```\n",
            "p.md:1: docs-test marker `skip`: says why in parentheses at its end, e.g. (needs "
            "the network)",
        ),
        (
            "<!-- docs-test: skip (why) -->\nsome text\n```python\n```\n",
            "p.md:1: docs-test marker not followed by a code block (line 2 is text); put the "
            "marker right before the block it is for",
        ),
        (
            "<!-- docs-test: sikp (why) -->\n```python\n```\n",
            "p.md:1: docs-test marker `sikp (why)`: unknown directive 'sikp'; the directives "
            "are skip, needs-gpu, file, cwd, replace, allow-exit and setup",
        ),
        (
            '<!-- docs-test: replace "a" "b" (why) -->\n```python\nc\n```\n',
            'p.md:1: docs-test marker `replace "a" "b" (why)`: \'a\' does not occur in the '
            "block at line 2",
        ),
        (
            "<!-- docs-test: file ../x.py -->\n```python\n```\n",
            "p.md:1: docs-test marker `file ../x.py`: expected one relative path inside the "
            "page's folder",
        ),
        (
            "<!-- docs-test: allow-exit one (why) -->\n```console\n```\n",
            "p.md:1: docs-test marker `allow-exit one (why)`: takes a status 1-255, then (why)",
        ),
        (
            "```pyton\nx\n```\n",
            "p.md:1: code block language 'pyton' is not one the docs test knows (bash, console, "
            "json, python, sh, shell, text, toml); use one of them",
        ),
        ("```python\nx\n", "p.md:1: code block without its closing ```"),
        (
            "text\n<!-- docs-test: skip (why) -->\n",
            "p.md:2: docs-test marker at the end of the page",
        ),
        (
            "<!-- docs-test: skip (why) -->\n```\ntree\n```\n",
            "p.md:2: a text block is never run, so only `file` applies to it",
        ),
    ],
)
def test_markers_that_cannot_be_followed_say_where_and_why(text: str, error: str) -> None:
    with pytest.raises(MarkdownError) as caught:
        parse_page(text, "p.md")
    assert str(caught.value) == error


def test_console_commands_continuations_and_shown_output() -> None:
    text = "```console\n$ helios plugins list \\\n    --json\n{\n…\n\n$ helios plugins check\n```\n"
    (block,) = parse_page(text, "p.md")
    assert commands(block) == [
        Command(2, "helios plugins list \\\n    --json", ("{", "…", "")),
        Command(7, "helios plugins check", None),
    ]


def test_shell_blocks_are_one_command_a_line_without_comments() -> None:
    (block,) = parse_page("```bash\n# set up\npip install x\nhelios plugins list\n```\n", "p.md")
    assert [c.text for c in commands(block)] == ["pip install x", "helios plugins list"]


def test_programs_of_pipes_lists_and_assignments() -> None:
    line = "HELIOS_PLUGINS_ONLY=cuda helios plugins list --json | head -3 && nox -s x; git st"
    assert programs(line) == ["helios", "head", "nox", "git"]
    assert programs("helios plugins check   # exit 1 | nox") == ["helios"]


def test_shown_output_matches_line_by_line_with_ellipsis() -> None:
    printed = "header\nID  STATUS   \nrow 1\nrow 2\n\n"
    assert output_matches(("…", "ID  STATUS", "…"), printed)
    assert output_matches(("header", "ID  STATUS", "row 1", "row 2"), printed)
    assert not output_matches(("header", "ID  STATUS", "row 1"), printed)
    assert not output_matches(("…", "row 3"), printed)


# ---------------------------------------------------------------------- running a page
def _run(tmp_path: Path, text: str) -> PageRun:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    folder = tmp_path / "run"
    folder.mkdir()
    return PageRun(page, parse_page(text, "page.md"), folder)


def test_python_blocks_share_one_namespace_and_errors_name_the_page_line(tmp_path: Path) -> None:
    run = _run(tmp_path, "```python\nx = 2\n```\n\n```python\nassert x == 2\n1 / (x - 2)\n```\n")
    try:
        run.run_through(0)
        with pytest.raises(BlockFailed) as caught:
            run.run_through(1)
    finally:
        run.close()
    message = str(caught.value)
    assert message.startswith("page.md:5: the python block failed:\nTraceback")
    assert f'File "{tmp_path / "page.md"}", line 7, in <module>' in message
    assert "ZeroDivisionError: division by zero" in message


def test_a_block_after_a_failed_one_is_not_run(tmp_path: Path) -> None:
    run = _run(tmp_path, "```python\nraise SystemExit(3)\n```\n```python\nx = 1\n```\n")
    try:
        with pytest.raises(BlockFailed, match=r"^page\.md:1: the python block failed"):
            run.run_through(0)
        with pytest.raises(BlockFailed) as caught:
            run.run_through(1)
    finally:
        run.close()
    assert str(caught.value) == (
        "page.md:4: not run, an earlier block of the page failed (page.md:1); the page is "
        "followed in order"
    )


def test_a_command_that_fails_names_its_line_status_and_output(tmp_path: Path) -> None:
    run = _run(tmp_path, "```console\n$ helios plugins list\n$ helios plugins lsit\n```\n")
    with pytest.raises(BlockFailed) as caught:
        run.run_through(0)
    message = str(caught.value)
    assert message.startswith("page.md:3: `helios plugins lsit` exited with 2 (expected 0):\n")
    assert "invalid choice: 'lsit'" in message


def test_allow_exit_admits_that_status(tmp_path: Path) -> None:
    text = (
        "<!-- docs-test: allow-exit 1 (a failing check) -->\n"
        "```console\n$ helios plugins check no_such_plugin\n```\n"
    )
    _run(tmp_path, text).run_through(0)


def test_a_program_the_test_does_not_start_needs_a_skip_marker(tmp_path: Path) -> None:
    run = _run(tmp_path, "```bash\nhelios plugins list\nnox -s tests\n```\n")
    with pytest.raises(BlockFailed) as caught:
        run.run_through(0)
    assert str(caught.value) == (
        "page.md:3: `nox -s tests` runs nox, which the docs test does not start (it runs only "
        "head, helios, pip, pytest, python); mark the block <!-- docs-test: skip (why) --> or "
        "make it runnable"
    )
    assert not (tmp_path / "run" / "logs" / "block-1").exists()  # nothing of it ran


def test_shown_output_that_differs_fails_with_both(tmp_path: Path) -> None:
    run = _run(tmp_path, "```console\n$ python -c 'print(1)'\n2\n```\n")
    with pytest.raises(BlockFailed) as caught:
        run.run_through(0)
    assert str(caught.value) == (
        "page.md:2: `python -c 'print(1)'` printed something else than the page shows.\n"
        "--- the page:\n2\n--- printed:\n1\n"
    )


def test_setup_file_and_cwd_work_together(tmp_path: Path) -> None:
    text = (
        "<!-- docs-test: file pkg/mod.py -->\n```python\nprint('from a file')\n```\n\n"
        "<!-- docs-test: cwd pkg -->\n<!-- docs-test: setup\nexport GREETING=hello\n-->\n"
        "```console\n$ python -c 'import os, mod; print(os.environ[\"GREETING\"])'\n"
        "from a file\nhello\n```\n"
    )
    run = _run(tmp_path, text)
    run.run_through(1)
    assert (run.work / "pkg" / "mod.py").read_text() == "print('from a file')\n"


@pytest.mark.slow
def test_pip_installs_into_the_page_environment_only(tmp_path: Path) -> None:
    project = tmp_path / "docs-probe"
    (project / "src" / "docs_probe").mkdir(parents=True)
    (project / "src" / "docs_probe" / "__init__.py").write_text("VALUE = 7\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "docs-probe"\nversion = "1.0"\n'
    )
    text = (
        f"```console\n$ pip install {project}\n"
        "$ python -c 'import docs_probe; print(docs_probe.VALUE)'\n…\n7\n```\n"
    )
    _run(tmp_path, text).run_through(0)
    assert importlib.util.find_spec("docs_probe") is None

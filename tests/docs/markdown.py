"""The fenced code blocks of a Markdown page, and the markers that tell the docs test what to do.

A marker is an HTML comment, invisible on the rendered page, written just before a block (only
blank lines and other markers may stand between them), one directive per marker::

    <!-- docs-test: skip (REASON) -->            not run; reported as skipped with REASON
    <!-- docs-test: needs-gpu -->                run only where torch sees a CUDA GPU
    <!-- docs-test: file PATH -->                write the block to PATH; a python block is then
                                                 run as ``python PATH``, not in the namespace
    <!-- docs-test: cwd PATH -->                 run the block's commands in PATH
    <!-- docs-test: replace "OLD" "NEW" (REASON) -->   run it with OLD (which must occur) as NEW
    <!-- docs-test: allow-exit N (REASON) -->    its commands may also exit with status N
    <!-- docs-test: setup
    LINES -->                                    run LINES first (Python for a python block,
                                                 bash for commands), hidden from readers

Paths are relative to the page's folder and stay inside it. Languages: ``python`` (run),
``console`` (``$ `` lines are commands, the lines under one are its output), ``bash``/``sh``/
``shell`` (every line a command), ``toml`` and ``json`` (parsed), and none or ``text`` (not run).
"""

from __future__ import annotations

import functools
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "ELLIPSIS",
    "RUNNABLE_PROGRAMS",
    "Block",
    "Command",
    "Directives",
    "MarkdownError",
    "commands",
    "doc_pages",
    "output_matches",
    "parse_page",
    "programs",
]

#: Block languages and the kind of block each one is.
LANGUAGES = {
    "python": "python",
    "console": "console",
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "toml": "toml",
    "json": "json",
    "text": "text",
    "": "text",
}
#: The programs a command may run: nothing else is started from the docs (no nox, git, torchrun).
RUNNABLE_PROGRAMS = frozenset({"helios", "python", "pip", "pytest", "head"})
#: A line of shown output that stands for any number of lines.
ELLIPSIS = "…"
MARKER = "<!-- docs-test:"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "|&"})


class MarkdownError(ValueError):
    """A page whose blocks or markers the docs test cannot follow; names the page and line."""


@dataclass(frozen=True)
class Directives:
    """What the markers before one block say."""

    skip: str | None = None
    needs_gpu: bool = False
    file: str | None = None
    cwd: str | None = None
    replace: tuple[tuple[str, str], ...] = ()
    allow_exit: frozenset[int] = frozenset()
    setup: str | None = None


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its kind, its text and its directives."""

    page: str
    line: int  # 1-based line of the opening fence
    kind: str  # a value of LANGUAGES
    text: str
    directives: Directives = field(default_factory=Directives)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runnable(self) -> bool:
        """Does the docs test do anything with it (run, parse or write it)?"""
        return self.kind != "text" or self.directives.file is not None

    def source(self) -> str:
        """The text to run: the block with its ``replace`` directives applied."""
        text = self.text
        for old, new in self.directives.replace:
            text = text.replace(old, new)
        return text


@dataclass(frozen=True)
class Command:
    """One command of a console or shell block, with the output the page shows under it."""

    line: int  # page line of its first line
    text: str  # as bash gets it (continuation lines kept)
    expected: tuple[str, ...] | None  # None: the page shows no output


def doc_pages(root: Path) -> list[Path]:
    """The pages whose examples must run: the READMEs, the guides and the manifest spec."""
    pages = [root / "README.md", root / "core" / "README.md", root / "manifests" / "README.md"]
    pages += sorted((root / "docs").glob("*.md")) + sorted(root.glob("plugins/*/README.md"))
    return [p for p in pages if p.is_file()]


def parse_page(text: str, page: str) -> list[Block]:
    """Every fenced block of ``text`` (the page ``page``), with the markers before it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: list[tuple[int, str]] = []  # (line, marker text) waiting for their block
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        stripped = line.strip()
        if stripped.startswith(MARKER):
            start = number
            body = [stripped[len(MARKER) :]]
            while "-->" not in body[-1]:
                if number == len(lines):
                    raise MarkdownError(f"{page}:{start}: docs-test marker without its closing -->")
                body.append(lines[number])
                number += 1
            content, _, after = "\n".join(body).partition("-->")
            if after.strip():
                raise MarkdownError(
                    f"{page}:{number}: text after a docs-test marker's --> on the same line; "
                    "put it on a line of its own"
                )
            pending.append((start, content))
            continue
        fence = _FENCE.match(line)
        if fence is None:
            if pending and stripped:
                raise MarkdownError(
                    f"{page}:{pending[0][0]}: docs-test marker not followed by a code block "
                    f"(line {number} is text); put the marker right before the block it is for"
                )
            continue
        opening = number
        indent, mark = len(fence["indent"]), fence["fence"]
        language = fence["info"].split()[0].lower() if fence["info"] else ""
        body_lines = []
        while True:
            if number == len(lines):
                raise MarkdownError(f"{page}:{opening}: code block without its closing {mark}")
            line = lines[number]
            number += 1
            if line.strip().startswith(mark[0] * len(mark)) and not line.strip().strip(mark[0]):
                break
            body_lines.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
        if language not in LANGUAGES:
            known = ", ".join(sorted(k for k in LANGUAGES if k))
            raise MarkdownError(
                f"{page}:{opening}: code block language {language!r} is not one the docs test "
                f"knows ({known}); use one of them"
            )
        text_ = "\n".join(body_lines) + "\n" if body_lines else ""
        block = Block(page, opening, LANGUAGES[language], text_)
        directives = _directives(pending, block)
        blocks.append(Block(page, opening, block.kind, text_, directives))
        pending = []
    if pending:
        raise MarkdownError(f"{page}:{pending[0][0]}: docs-test marker at the end of the page")
    return blocks


def _directives(markers: list[tuple[int, str]], block: Block) -> Directives:
    found: dict[str, str] = {}  # skip, needs-gpu, file, cwd, setup: each at most once
    replace: list[tuple[str, str]] = []
    allow: set[int] = set()
    for line, content in markers:
        head, _, body = content.strip(" ").partition("\n")
        head = head.strip()
        name, _, rest = head.partition(" ")
        where = f"{block.page}:{line}: docs-test marker `{head}`"
        args, reason = _split_reason(rest.strip())
        if name != "setup" and body.strip():
            raise MarkdownError(f"{where}: only `setup` takes more than one line")
        if name in found and name not in ("replace", "allow-exit"):
            raise MarkdownError(f"{where}: `{name}` given twice for the block at line {block.line}")
        if name == "skip":
            _expect(where, not args, "takes no argument before its (reason)")
            found[name] = _reason(where, reason)
        elif name == "needs-gpu":
            _expect(where, not args and reason is None, "takes no argument")
            found[name] = "yes"
        elif name in ("file", "cwd"):
            _expect(where, reason is None, "takes a path and no (reason)")
            found[name] = _relative_path(where, args)
        elif name == "replace":
            try:
                old_new = shlex.split(args)
            except ValueError as exc:
                raise MarkdownError(f'{where}: {exc}; write replace "OLD" "NEW" (why)') from None
            _expect(where, len(old_new) == 2, 'takes two quoted strings: replace "OLD" "NEW" (why)')
            _reason(where, reason)
            old, new = old_new
            _expect(
                where,
                old in block.text,
                f"{old!r} does not occur in the block at line {block.line}",
            )
            replace.append((old, new))
        elif name == "allow-exit":
            _expect(
                where, args.isdigit() and 0 < int(args) < 256, "takes a status 1-255, then (why)"
            )
            _reason(where, reason)
            allow.add(int(args))
        elif name == "setup":
            _expect(where, not args and reason is None, "takes its code on the lines after `setup`")
            _expect(where, bool(body.strip()), "has no code on the lines after `setup`")
            found[name] = textwrap.dedent(body).strip("\n") + "\n"
        else:
            raise MarkdownError(
                f"{where}: unknown directive {name!r}; the directives are skip, needs-gpu, file, "
                "cwd, replace, allow-exit and setup"
            )
    if block.kind == "text" and set(found) - {"file"}:
        raise MarkdownError(
            f"{block.page}:{block.line}: a text block is never run, so only `file` applies to it"
        )
    return Directives(
        skip=found.get("skip"),
        needs_gpu="needs-gpu" in found,
        file=found.get("file"),
        cwd=found.get("cwd"),
        replace=tuple(replace),
        allow_exit=frozenset(allow),
        setup=found.get("setup"),
    )


def _expect(where: str, condition: bool, problem: str) -> None:
    if not condition:
        raise MarkdownError(f"{where}: {problem}")


def _split_reason(text: str) -> tuple[str, str | None]:
    """``args (reason)`` -> (args, reason); the reason is the last balanced parenthesis."""
    if not text.endswith(")"):
        return text, None
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            return text[:index].strip(), text[index + 1 : -1].strip()
    return text, None


def _reason(where: str, reason: str | None) -> str:
    if not reason:
        raise MarkdownError(
            f"{where}: says why in parentheses at its end, e.g. (needs the network)"
        )
    return reason


def _relative_path(where: str, text: str) -> str:
    path = PurePosixPath(text)
    if not text or " " in text or path.is_absolute() or ".." in path.parts:
        raise MarkdownError(f"{where}: expected one relative path inside the page's folder")
    return text


def commands(block: Block) -> list[Command]:
    """The commands of a console or shell block, in order, with the output shown under each."""
    text = block.source().splitlines()
    found: list[Command] = []
    current: list[str] = []
    output: list[str] = []
    start = 0

    def close() -> None:
        if current:
            shown = tuple(output) if any(line.strip() for line in output) else None
            found.append(Command(start, "\n".join(current), shown))

    for offset, line in enumerate(text, start=block.line + 1):
        if current and current[-1].endswith("\\"):
            current.append(line)
            continue
        if block.kind == "console":
            if line.startswith("$ "):
                close()
                start, current, output = offset, [line[2:]], []
            elif current:
                output.append(line)
            elif line.strip():
                raise MarkdownError(
                    f"{block.page}:{offset}: output before the first `$ ` command of the "
                    f"console block at line {block.line}"
                )
        elif line.strip() and not line.lstrip().startswith("#"):
            close()
            start, current, output = offset, [line], []
    close()
    return found


def programs(command: str) -> list[str]:
    """The program each simple command of a command line starts (pipes, ``&&`` and ``;``)."""
    lexer = shlex.shlex(command.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    names: list[str] = []
    expect_program = True
    for token in lexer:
        if token in _SEPARATORS:
            expect_program = True
        elif expect_program and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            names.append(token)
            expect_program = False
    return names


def output_matches(expected: tuple[str, ...], actual: str) -> bool:
    """Does ``actual`` read as ``expected``, line by line? A line ``…`` stands for any lines.

    Trailing spaces and trailing blank lines do not count.
    """
    want = [line.rstrip() for line in expected]
    got = [line.rstrip() for line in actual.splitlines()]
    for lines in (want, got):
        while lines and not lines[-1]:
            lines.pop()

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i] == ELLIPSIS:
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and want[i] == got[j] and match(i + 1, j + 1)

    return match(0, 0)

"""The hook table of docs/plugins.md, generated from ``helios.plugins.hooks.HOOKS``.

    python -m tools.hooks_table            # rewrite the table on the page
    python -m tools.hooks_table --check    # exit 1 if the page and the table differ

The table lies between the markers :data:`BEGIN` and :data:`END`; nothing else on the page is
touched. ``tests/core/test_hooks_table.py`` runs the check, so a change to the hook table
without regenerating the page fails the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helios.plugins.hooks import HOOKS, Hook

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = REPO_ROOT / "docs" / "plugins.md"
COMMAND = "python -m tools.hooks_table"
BEGIN = (
    f"<!-- hooks-table: begin (generated from helios.plugins.hooks.HOOKS by `{COMMAND}`; "
    "change the table there, then rerun it) -->"
)
END = "<!-- hooks-table: end -->"


class PageError(ValueError):
    """The page does not hold exactly one pair of markers, in order."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _receives(hook: Hook) -> str:
    if hook.flag is not None:
        return f"the plug-in claiming `{hook.flag}`"
    return "every plug-in"


def render() -> str:
    """The Markdown table, one row per hook, in the table's order (a fit, then a test)."""
    rows = [
        "| hook | receives it | when the trainer calls it | in the seed |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| `{_cell(h.signature)}` | {_receives(h)} | {_cell(h.when)} | "
        f"{'yes' if h.seed else 'no: added by Helios'} |"
        for h in HOOKS
    ]
    return "\n".join(rows)


def regenerate(text: str) -> str:
    """``text`` (a page) with the block between the markers replaced by :func:`render`."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise PageError(
            f"the page must hold the line {BEGIN!r} once and {END!r} once, after it; found "
            f"{text.count(BEGIN)} and {text.count(END)}"
        )
    head, _, rest = text.partition(BEGIN)
    if END not in rest:
        raise PageError(f"{END!r} comes before {BEGIN!r}; put the table between them")
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page (docs/plugins.md)")
    args = parser.parse_args(argv)
    text = args.page.read_text(encoding="utf-8")
    try:
        wanted = regenerate(text)
    except PageError as exc:
        print(f"{args.page}: {exc}", file=sys.stderr)
        return 1
    if wanted == text:
        return 0
    if args.check:
        print(
            f"{args.page}: the hook table differs from helios.plugins.hooks.HOOKS; "
            f"regenerate it with: {COMMAND}",
            file=sys.stderr,
        )
        return 1
    args.page.write_text(wanted, encoding="utf-8")
    print(f"{args.page}: hook table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

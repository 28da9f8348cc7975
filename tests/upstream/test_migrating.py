"""docs/migrating.md and the tests that point into it stay in step: every ``#anchor`` a test
reason or the page's own links name is a heading of the page it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
PAGE = DOCS / "migrating.md"


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def _test_references() -> list[tuple[str, str]]:
    found = []
    for source in sorted(Path(__file__).parent.glob("test_*.py")):
        text = source.read_text(encoding="utf-8")
        found += [(source.name, a) for a in re.findall(r"docs/migrating\.md#([\w-]+)", text)]
    return found


def test_slugs_follow_github() -> None:
    assert _slug("Rank and map_loc") == "rank-and-map_loc"
    assert _slug("`fit` and `test`: Exceptions!") == "fit-and-test-exceptions"


def test_every_reason_points_at_a_heading() -> None:
    references = _test_references()
    assert len(references) >= 10  # the deviations the xfail reasons name
    headings = _anchors(PAGE)
    assert [(f, a) for f, a in references if a not in headings] == []


@pytest.mark.parametrize(
    "link",
    sorted(set(re.findall(r"\]\(([\w./-]*#[\w-]+)\)", PAGE.read_text(encoding="utf-8")))),
)
def test_the_page_links_to_headings(link: str) -> None:
    target, _, anchor = link.partition("#")
    page = (DOCS / target).resolve() if target else PAGE
    assert page.is_file(), f"{link}: no page {page}"
    assert anchor in _anchors(page), f"{link}: no heading #{anchor} in {page.name}"

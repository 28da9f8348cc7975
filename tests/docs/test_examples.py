"""Every code block of README.md, core/README.md, docs/*.md, manifests/README.md and
plugins/*/README.md runs as written (see ``runner.py``); a block that cannot run here says why
in a ``<!-- docs-test: ... -->`` marker, and is reported as skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from docs.markdown import Block, MarkdownError, doc_pages, parse_page
from docs.runner import REPO, BlockFailed, PageRun, cuda_available


def _pages() -> dict[str, list[Block] | str]:
    """Each page's blocks, or why its markers cannot be followed."""
    pages: dict[str, list[Block] | str] = {}
    for path in doc_pages(REPO):
        name = path.relative_to(REPO).as_posix()
        try:
            pages[name] = parse_page(path.read_text(encoding="utf-8"), name)
        except MarkdownError as exc:
            pages[name] = str(exc)
    return pages


PAGES = _pages()
CASES = [
    pytest.param(name, index, id=block.where)
    for name, blocks in PAGES.items()
    if not isinstance(blocks, str)
    for index, block in enumerate(blocks)
    if block.runnable
]


@pytest.fixture(scope="session")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PageRun]]:
    runs: dict[str, PageRun] = {}
    yield runs
    for run in runs.values():
        run.close()


def test_every_guide_is_read() -> None:
    expected = {"README.md", "manifests/README.md", "docs/trainer.md", "docs/plugins.md"}
    expected |= {"plugins/cuda/README.md", "plugins/optuna/README.md", "docs/demo.md"}
    assert expected <= set(PAGES)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_markers_can_be_followed(name: str) -> None:
    problem = PAGES[name]
    if isinstance(problem, str):
        pytest.fail(problem, pytrace=False)


@pytest.mark.parametrize(("name", "index"), CASES)
def test_example(
    name: str, index: int, page_runs: dict[str, PageRun], tmp_path_factory: pytest.TempPathFactory
) -> None:
    blocks = PAGES[name]
    assert not isinstance(blocks, str)
    block = blocks[index]
    if name not in page_runs:
        folder = tmp_path_factory.mktemp(name.replace("/", "-").removesuffix(".md"))
        page_runs[name] = PageRun(REPO / name, blocks, folder)
    failure = None
    try:
        page_runs[name].run_through(index)
    except BlockFailed as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    if block.directives.skip is not None:
        pytest.skip(f"{block.where}: {block.directives.skip}")
    if block.directives.needs_gpu and not cuda_available():
        pytest.skip(f"{block.where}: needs a CUDA GPU")

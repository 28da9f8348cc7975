"""The hook table's helpers (did-you-mean) and the page generated from it (docs/plugins.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helios.plugins.authoring.source_classes import MAX_CLASSES, MAX_MODULES
from helios.plugins.hooks import (
    FOREIGN_HOOKS,
    HOOK_PREFIXES,
    HOOKS,
    HOOKS_BY_NAME,
    SYNONYMS,
    Hook,
    Phase,
    closest_hook,
    lookalike_hooks,
    related_hooks,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins.md"
HOOK_LIKE = [h for h in HOOKS if h.name.startswith(HOOK_PREFIXES)]


@pytest.fixture
def tool(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(ROOT))  # the repository's tools/ (not shipped)
    import tools.hooks_table

    return tools.hooks_table


# --- did you mean -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hook"),
    [
        # the names docs/plugins.md gives as examples
        ("on_train_batch_end", "on_training_batch_end"),
        ("on_before_optimizer_step", "on_optimizer_step_start"),
        ("on_validation_epoch_end", "on_validation_end"),
        ("on_epoch_begin", "on_training_epoch_start"),
        ("on_step_end", "on_optimizer_step_end"),
        # where difflib alone picks another hook
        ("on_train_begin", "on_training_start"),  # difflib: on_training_end
        ("on_fit_start", "on_training_start"),  # difflib: on_testing_start
        ("on_test_epoch_end", "on_testing_end"),  # difflib: on_training_epoch_end
        ("on_before_zero_grad", "on_optimizer_step_end"),  # difflib: none
        ("on_after_backward", "on_optimizer_step_start"),
        ("on_validation_begin", "on_validation_start"),  # difflib: on_validation_end
        ("on_save_checkpoint", "state_dict"),
        ("on_load_checkpoint", "load_state_dict"),
        ("on_val_batch_start", "process_validation_batch"),
        ("process_batch", "process_training_batch"),
        ("on_optimiser_step_end", "on_optimizer_step_end"),
        ("should_stop", "should_training_stop"),
    ],
)
def test_closest_hook_reads_other_trainers_names(name: str, hook: str) -> None:
    assert closest_hook(name) == hook


def _foreign_spelling(name: str) -> str:
    for ours, theirs in (("training", "train"), ("validation", "val"), ("testing", "test")):
        name = name.replace(ours, theirs)
    return name.replace("_start", "_begin")


@pytest.mark.parametrize("hook", HOOK_LIKE, ids=[h.name for h in HOOK_LIKE])
def test_every_hook_like_hook_is_found_from_its_typos(hook: Hook) -> None:
    name = hook.name
    assert closest_hook(name + "s") == name
    foreign = _foreign_spelling(name)
    if foreign != name:
        assert closest_hook(foreign) == name


def test_the_alias_maps_name_hooks_of_the_table() -> None:
    assert set(FOREIGN_HOOKS.values()) <= set(HOOKS_BY_NAME)
    assert not set(FOREIGN_HOOKS) & set(HOOKS_BY_NAME)
    assert all(name.startswith(HOOK_PREFIXES) for name in FOREIGN_HOOKS)
    assert not set(SYNONYMS.values()) & set(SYNONYMS)  # one step maps to our word


def test_lookalikes_are_public_prefixed_names_that_are_no_hooks() -> None:
    names = ["on_train_start", "on_training_start", "_on_x", "suggest", "should_log", "setup"]
    assert lookalike_hooks(names) == [("on_train_start", "on_training_start"), ("should_log", None)]


def test_related_hooks_are_the_phase_or_the_prefix() -> None:
    assert related_hooks("on_val_loss_improved") == tuple(
        h for h in HOOKS if h.phase is Phase.VALIDATION
    )
    assert [h.name for h in related_hooks("should_log")] == ["should_training_stop"]
    assert related_hooks("on_log") == tuple(h for h in HOOKS if h.name.startswith("on_"))


# --- the page -----------------------------------------------------------------------------


def test_the_docs_hook_table_is_the_hook_table(tool: Any) -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert tool.regenerate(text) == text, (
        "docs/plugins.md's hook table differs from helios.plugins.hooks.HOOKS; regenerate it "
        "with: python -m tools.hooks_table"
    )


def test_every_hook_has_its_row_on_the_page() -> None:
    """Read back from the page, independently of the generator."""
    rows = re.findall(r"^\| `(\w+)\(([^)]*)\)` \| ([^|]+) \|", PAGE.read_text("utf-8"), re.M)
    assert [(name, args) for name, args, _ in rows] == [(h.name, ", ".join(h.args)) for h in HOOKS]
    for (_, _, receives), hook in zip(rows, HOOKS, strict=True):
        expected = f"the plug-in claiming `{hook.flag}`" if hook.flag else "every plug-in"
        assert receives.strip() == expected


def test_the_page_states_the_source_limits() -> None:
    assert f"at most {MAX_MODULES} modules and {MAX_CLASSES} classes" in PAGE.read_text("utf-8")


def test_check_fails_on_drift_and_says_how_to_regenerate(
    tool: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "plugins.md"
    stale = PAGE.read_text(encoding="utf-8").replace("| `setup()` | every plug-in |", "| x |")
    page.write_text(stale, encoding="utf-8")
    main = tool.main
    assert main(["--check", "--page", str(page)]) == 1
    assert capsys.readouterr().err == (
        f"{page}: the hook table differs from helios.plugins.hooks.HOOKS; regenerate it with: "
        "python -m tools.hooks_table\n"
    )
    assert page.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert main(["--page", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == PAGE.read_text(encoding="utf-8")
    assert main(["--check", "--page", str(page)]) == 0


def test_a_page_without_its_markers_is_an_error(
    tool: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "plugins.md"
    page.write_text("# no table\n", encoding="utf-8")
    assert tool.main(["--page", str(page)]) == 1
    begin, end = tool.BEGIN, tool.END
    assert capsys.readouterr().err == (
        f"{page}: the page must hold the line {begin!r} once and {end!r} once, after it; "
        "found 0 and 0\n"
    )
    page.write_text(f"{end}\n{begin}\n", encoding="utf-8")
    assert tool.main(["--page", str(page)]) == 1
    assert "comes before" in capsys.readouterr().err


def test_every_exclusive_hook_says_what_owning_its_flag_lets_a_plugin_do() -> None:
    """Conflict messages read ``does`` from the table: a new guarded hook is one row."""
    from helios.plugins._host.claims import DOES
    from helios.plugins.hooks import HOOKS

    exclusive = [hook for hook in HOOKS if hook.flag is not None]
    assert all(hook.does for hook in exclusive)
    assert {hook.flag: hook.does for hook in exclusive} == DOES
    assert all(not hook.does for hook in HOOKS if hook.flag is None)

"""Plug-in selection settings: HELIOS_PLUGINS_ONLY / DISABLE / STRICT and the CLI flags."""

from __future__ import annotations

import pytest

from helios.plugins._host.settings import Settings


@pytest.mark.parametrize(
    ("value", "only"),
    [
        ("a", {"a"}),
        ("a,b", {"a", "b"}),
        ("a,,b,", {"a", "b"}),  # empty items are ignored
        (" a  b ", {"a", "b"}),  # spaces separate like commas
        (",", None),  # names no id: the same as unset
        (" , ,", None),
        ("   ", None),
        ("", None),
    ],
)
def test_only_names_ids_or_restricts_nothing(value: str, only: set[str] | None) -> None:
    settings = Settings.from_env({"HELIOS_PLUGINS_ONLY": value})
    assert settings.only == (frozenset(only) if only is not None else None)


def test_unset_only_restricts_nothing() -> None:
    assert Settings.from_env({}).only is None


def test_disable_ignores_empty_items() -> None:
    assert Settings.from_env({"HELIOS_PLUGINS_DISABLE": ",a,,"}).disable == {"a"}
    assert Settings.from_env({"HELIOS_PLUGINS_DISABLE": ","}).disable == frozenset()


def test_an_only_flag_that_names_no_id_is_like_no_flag() -> None:
    from_env = Settings.from_env({"HELIOS_PLUGINS_ONLY": "a"})
    assert from_env.merged(only=frozenset()).only == {"a"}
    assert from_env.merged(only=None).only == {"a"}
    assert from_env.merged(only=["b"]).only == {"b"}
    assert Settings().merged(only=[]).only is None
    assert Settings(only=frozenset()).only is None


def test_a_huge_strict_value_with_escapes_is_shown_escaped_and_cut() -> None:
    value = "\x1b[31m" + "y" * 100_000
    with pytest.raises(ValueError, match=r"^HELIOS_PLUGINS_STRICT must be") as caught:
        Settings.from_env({"HELIOS_PLUGINS_STRICT": value})
    message = str(caught.value)
    assert "\x1b" not in message and len(message) < 300
    assert message.startswith(
        "HELIOS_PLUGINS_STRICT must be one of 1/true/yes/on or 0/false/no/off, found '\\x1b[31myyy"
    )
    assert message.endswith("... (100,005 characters); unset it or set HELIOS_PLUGINS_STRICT=1")

"""User settings for plug-in selection, from the environment or the CLI flags."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from helios.plugins._host.echo import quote, shown

__all__ = ["DISABLE_ENV", "NAMED_IDS", "ONLY_ENV", "STRICT_ENV", "Settings", "named_ids"]

ONLY_ENV = "HELIOS_PLUGINS_ONLY"
DISABLE_ENV = "HELIOS_PLUGINS_DISABLE"
STRICT_ENV = "HELIOS_PLUGINS_STRICT"

#: How many ids a warning list or a verdict names before it only counts the others.
NAMED_IDS = 10

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def parse_ids(text: str) -> frozenset[str]:
    """Plug-in ids from a comma- or space-separated list; empty items are ignored."""
    return frozenset(part for part in re.split(r"[,\s]+", text) if part)


def named_ids(ids: Iterable[str], limit: int = NAMED_IDS) -> str:
    """``a, b and 3 more``: the first ``limit`` of ``ids`` in order, each escaped and cut."""
    ordered = sorted(ids)
    text = ", ".join(shown(i) for i in ordered[:limit])
    more = len(ordered) - limit
    return f"{text} and {more:,} more" if more > 0 else text


def _quoted(plugin_id: str) -> str:
    return quote(plugin_id, quote_char="'")


@dataclass(frozen=True)
class Settings:
    """Which installed plug-ins may load.

    ``only``: if set, every other plug-in is *not selected*; a selection that names no id
    (``HELIOS_PLUGINS_ONLY=","``, blank, or ``--only ""``) restricts nothing, like an unset one.
    ``disable``: these are *disabled*. ``strict``: names in ``only``/``disable`` that no
    installed plug-in has, and installed plug-ins that are incompatible or broken, are errors
    instead of warnings (``helios plugins list/check``); a plug-in a ``Trainer`` selects by id
    that is *not applicable* here is an error instead of a skip (unless the trainer's own
    ``strict`` argument says otherwise).
    """

    only: frozenset[str] | None = None
    disable: frozenset[str] = frozenset()
    strict: bool = False

    def __post_init__(self) -> None:
        if self.only is not None and not self.only:  # names no id: the same as unset
            object.__setattr__(self, "only", None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        only = env.get(ONLY_ENV)
        strict = env.get(STRICT_ENV, "").strip().lower()
        if strict not in _TRUE | _FALSE:
            raise ValueError(
                f"{STRICT_ENV} must be one of 1/true/yes/on or 0/false/no/off, found "
                f"{quote(env[STRICT_ENV], quote_char=chr(39))}; unset it or set {STRICT_ENV}=1"
            )
        return cls(
            only=parse_ids(only) if only is not None else None,
            disable=parse_ids(env.get(DISABLE_ENV, "")),
            strict=strict in _TRUE,
        )

    def merged(
        self,
        only: Iterable[str] | None = None,
        disable: Iterable[str] = (),
        strict: bool = False,
    ) -> Settings:
        """These settings with CLI flags on top: ``only`` replaces (unless it names no id, like
        an absent flag), ``disable`` adds."""
        return Settings(
            only=frozenset(only or ()) or self.only,
            disable=self.disable | frozenset(disable),
            strict=self.strict or strict,
        )

    def unknown_id_warnings(self, installed: Collection[str]) -> list[str]:
        """One warning per id in ``only``/``disable`` that no installed plug-in has; after
        :data:`NAMED_IDS` of them for a setting, one line counts the others."""
        warnings = []
        for name, named in ((ONLY_ENV, self.only or ()), (DISABLE_ENV, self.disable)):
            unknown = sorted(i for i in named if i not in installed)
            warnings += [
                f"{name} names {_quoted(i)}, which no installed plug-in provides"
                for i in unknown[:NAMED_IDS]
            ]
            if len(unknown) > NAMED_IDS:
                warnings.append(
                    f"{name} names {len(unknown) - NAMED_IDS:,} more ids that no installed "
                    "plug-in provides (not listed)"
                )
        return warnings

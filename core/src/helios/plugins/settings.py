"""User settings for plug-in selection, from the environment or the CLI flags."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["DISABLE_ENV", "ONLY_ENV", "STRICT_ENV", "Settings"]

ONLY_ENV = "HELIOS_PLUGINS_ONLY"
DISABLE_ENV = "HELIOS_PLUGINS_DISABLE"
STRICT_ENV = "HELIOS_PLUGINS_STRICT"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def parse_ids(text: str) -> frozenset[str]:
    """Plug-in ids from a comma- or space-separated list; empty items are ignored."""
    return frozenset(part for part in re.split(r"[,\s]+", text) if part)


@dataclass(frozen=True)
class Settings:
    """Which installed plug-ins may load.

    ``only``: if set, every other plug-in is *not selected*; a selection that names no id
    (``HELIOS_PLUGINS_ONLY=","``, blank, or ``--only ""``) restricts nothing, like an unset one.
    ``disable``: these are *disabled*. ``strict``: names in ``only``/``disable`` that no
    installed plug-in has, and installed plug-ins that are incompatible or broken, are errors
    instead of warnings.
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
                f"{env[STRICT_ENV]!r}; unset it or set {STRICT_ENV}=1"
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

"""What ``Trainer(plugins=[...])`` accepts: instances, ids, and ``(id, options)`` pairs.

An id selects an installed plug-in; a pair ``("ema", {"decay": 0.999})`` also gives the
keyword arguments its class is constructed with, once every check has passed. This module
parses the list, checks options against the constructor's signature, and words the warning for
a plug-in skipped because it does not apply here. It imports no torch.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from helios.plugins._host.echo import escape, quote, shown
from helios.plugins._host.settings import STRICT_ENV
from helios.plugins._host.verdicts import Verdict
from helios.plugins.base import Plugin
from helios.plugins.errors import PluginConflictError, PluginError

__all__ = ["PluginRequest", "instantiate", "parse_plugins", "skipped_warning"]

_FORMS = (
    "plug-in instances, ids of installed plug-ins such as 'cuda', or (id, options) pairs such "
    "as ('ema', {'decay': 0.999})"
)


@dataclass(frozen=True)
class PluginRequest:
    """An installed plug-in selected by id, with the keyword arguments for its constructor."""

    plugin_id: str
    options: dict[str, Any] = field(default_factory=dict)
    item: int = 0  # its position in the list given, for messages

    def shown_as(self) -> str:
        """How the request was written: ``'ema'`` or ``('ema', {...})``."""
        name = quote(self.plugin_id, quote_char="'")
        return f"({name}, {{...}})" if self.options else name


def _describe(item: object) -> str:
    try:
        text = repr(item)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<{type(item).__qualname__} object>"
    return f"{type(item).__qualname__} {shown(text, limit=60)}"


def _request(item: object, position: int) -> Plugin | PluginRequest:
    where = f"Trainer(plugins=...) takes {_FORMS}; item {position}"
    if isinstance(item, Plugin):
        return item
    if isinstance(item, str):
        return PluginRequest(item, {}, position)
    if isinstance(item, type) and issubclass(item, Plugin):
        raise TypeError(f"{where} is the class {item.__qualname__}: pass an instance of it")
    if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
        raise TypeError(f"{where} is {_describe(item)}")
    plugin_id, options = item
    name = quote(plugin_id, quote_char="'")
    if not isinstance(options, Mapping):
        raise TypeError(
            f"{where} gives the plug-in {name} options that are not a dict of keyword "
            f"arguments: {_describe(options)}"
        )
    bad = [key for key in options if not isinstance(key, str)]
    if bad:
        raise TypeError(
            f"{where} gives the plug-in {name} an option name that is not a string: "
            f"{_describe(bad[0])}; option names are the keyword arguments of its class"
        )
    return PluginRequest(plugin_id, dict(options), position)


def parse_plugins(items: Iterable[object]) -> list[Plugin | PluginRequest]:
    """The ``plugins`` argument of a trainer, checked item by item.

    :raises TypeError: an item is none of the accepted forms.
    :raises PluginConflictError: an id is selected twice.
    """
    parsed = [_request(item, n) for n, item in enumerate(items)]
    seen: dict[str, int] = {}
    for entry in parsed:
        if isinstance(entry, PluginRequest):
            first = seen.setdefault(entry.plugin_id, entry.item)
            if first != entry.item:
                name = quote(entry.plugin_id, quote_char="'")
                raise PluginConflictError(
                    f"Trainer(plugins=...) selects the plug-in {name} twice (items {first} "
                    f"and {entry.item}); give each plug-in once"
                )
    return parsed


_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_STAR = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _who(request: PluginRequest, cls: type[Plugin]) -> str:
    name = quote(request.plugin_id, quote_char="'")
    return f"the plug-in {name} ({cls.__module__}.{cls.__qualname__})"


def check_options(request: PluginRequest, cls: type[Plugin]) -> None:
    """The options name only parameters of ``cls`` and give every one that has no default.

    :raises PluginError: naming the plug-in, the unknown or missing names, and the fix.
    """
    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):  # no signature to check against: the call will tell
        return
    accepted = [p.name for p in parameters if p.kind in _KEYWORD]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    unknown = [] if takes_any else [k for k in request.options if k not in accepted]
    if unknown:
        guess = difflib.get_close_matches(unknown[0], accepted, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        names = ", ".join(quote(k, quote_char="'") for k in unknown)
        options = ", ".join(accepted) or "none: it is created with no arguments"
        raise PluginError(
            f"{_who(request, cls)} takes no option {names}{hint}; its options are: {options}. "
            f"Fix: give only those names in {request.shown_as()} (item {request.item} of "
            "Trainer(plugins=...))"
        )
    missing = [
        p
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind not in _STAR
        and p.name not in request.options
    ]
    if missing:
        names = ", ".join(p.name for p in missing)
        given = ", ".join(quote(k, quote_char="'") for k in request.options) or "none"
        fix = f"pass an instance instead, Trainer(plugins=[{cls.__qualname__}(...)])"
        if all(p.kind in _KEYWORD for p in missing):
            pairs = ", ".join(f"{p.name!r}: ..." for p in missing)
            fix += f", or give them as options: ({request.plugin_id!r}, {{{pairs}}})"
        raise PluginError(
            f"{_who(request, cls)} cannot be created from its options alone: its constructor "
            f"needs {names} (options given: {given}). Fix: {fix}"
        )


def instantiate(request: PluginRequest, cls: type[Plugin]) -> Plugin:
    """``cls(**request.options)``, after :func:`check_options`."""
    check_options(request, cls)
    return cls(**request.options)


def skipped_warning(verdict: Verdict) -> str:
    """The one line that says a plug-in selected by id was skipped because it does not apply
    here: its id, distribution, verdict and reason, and how to make it an error."""
    name = quote(verdict.id, quote_char="'")
    who = f"{name} ({shown(verdict.distribution)} {shown(verdict.version)})"
    return (
        f"plug-in {who} skipped: not applicable here ({verdict.reason.value}): "
        f"{escape(verdict.message)}; Trainer(strict=True) or {STRICT_ENV}=1 makes this an "
        "error"
    )

"""The hook rules of a plug-in class, read from the hook table, in one wording for all checks.

``helios plugins validate`` applies them to a class read with ``ast`` (static.py), the loader's
class verification to the imported class (verify.py), and ``Trainer.register_plugin`` to the
class of the instance it registers (:func:`check_plugin_hooks`):

- ``hook-unknown``: a public method whose name starts with ``on_``, ``process_`` or ``should_``
  must be a hook of :data:`~helios.plugins.hooks.HOOKS`; the trainer calls hooks by name, so
  a misspelt one would never run.
- ``hook-signature``: a hook must take the trainer's call. The trainer passes a hook's
  arguments by position, so their number counts and their names are the author's choice; and
  it never awaits, so a hook is a plain ``def``.

Inherited methods count: the rules apply to every class between the plug-in class and
:class:`~helios.plugins.plugin.Plugin`, mixins included. Nothing here imports torch.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helios.plugins._host.echo import shown
from helios.plugins.hooks import HOOK_PREFIXES, HOOKS_BY_NAME, Hook, Phase, closest_hook
from helios.plugins.hooks import related_hooks as _related

if TYPE_CHECKING:
    from helios.plugins.base import Plugin

__all__ = [
    "LISTED_PROBLEMS",
    "HookProblem",
    "Params",
    "bad_signature",
    "check_plugin_hooks",
    "class_problems",
    "method_problems",
    "unknown_hook",
]

#: How many hook problems one error message lists; the headline counts them all.
LISTED_PROBLEMS = 10
#: How many parameters a message shows of one definition.
SHOWN_PARAMETERS = 8


@dataclass(frozen=True)
class Params:
    """A method's parameters, as far as a call by position cares.

    :param positional: positional-only and positional-or-keyword names, ``self`` included.
    :param defaults: how many of the last positional parameters have a default.
    :param varargs: the name of ``*args``, if any.
    :param keyword_only: keyword-only parameters without a default.
    :param binds_self: False for a ``staticmethod`` (nothing is bound to its first parameter).
    :param is_async: defined with ``async def``.
    """

    positional: tuple[str, ...]
    defaults: int = 0
    varargs: str | None = None
    keyword_only: tuple[str, ...] = ()
    binds_self: bool = True
    is_async: bool = False

    @classmethod
    def of(cls, value: object) -> Params | None:
        """The parameters of a function, ``staticmethod`` or ``classmethod`` found in a class
        ``__dict__``; None when Python cannot tell them (a builtin, say)."""
        binds_self = not isinstance(value, staticmethod)
        function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        try:
            signature = inspect.signature(function)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        kinds = inspect.Parameter
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        ]
        return cls(
            positional=tuple(p.name for p in positional),
            defaults=sum(p.default is not kinds.empty for p in positional),
            varargs=next(
                (p.name for p in signature.parameters.values() if p.kind is kinds.VAR_POSITIONAL),
                None,
            ),
            keyword_only=tuple(
                p.name
                for p in signature.parameters.values()
                if p.kind is kinds.KEYWORD_ONLY and p.default is kinds.empty
            ),
            binds_self=binds_self,
            is_async=inspect.iscoroutinefunction(function),
        )

    def render(self) -> str:
        """``(self, a, b=…, *args, k)``: enough to recognise the definition."""
        parts = [
            name + ("=…" if index >= len(self.positional) - self.defaults else "")
            for index, name in enumerate(self.positional)
        ]
        if self.varargs is not None:
            parts.append(f"*{self.varargs}")
        elif self.keyword_only:
            parts.append("*")
        parts += self.keyword_only
        if len(parts) > SHOWN_PARAMETERS:
            parts = [*parts[:SHOWN_PARAMETERS], f"… ({len(parts):,} parameters)"]
        return f"({', '.join(shown(part) for part in parts)})"

    def mismatch(self, count: int) -> str | None:
        """Why a call with ``count`` positional arguments (after self) cannot bind, or None."""
        if self.is_async:
            return "it is an async def, and the trainer never awaits a hook"
        positional = self.positional
        if self.binds_self:
            if not positional and self.varargs is None:
                return "it has no parameter for self"
            positional = positional[1:]
        required = len(positional) - min(self.defaults, len(positional))
        if required > count:
            return f"it requires {_count(required)}"
        if len(positional) < count and self.varargs is None:
            return "it takes none" if not positional else f"it takes at most {len(positional)}"
        if self.keyword_only:
            names = ", ".join(self.keyword_only)
            plural = len(self.keyword_only) > 1
            return f"its keyword-only parameter{'s' if plural else ''} {names} {'have' if plural else 'has'} no default"
        return None


def _count(number: int) -> str:
    return f"{number} positional argument{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class HookProblem:
    """One broken hook rule: its code, the method, what is wrong and the fix."""

    code: str  # "hook-unknown" or "hook-signature"
    method: str
    message: str
    fix: str

    @property
    def text(self) -> str:
        """The message and the fix, as one sentence."""
        return f"{self.message}; {self.fix}"


def _where(owner: str, method: str, defined_in: str | None, params: str = "") -> str:
    """``Owner.method(params) (inherited from Base)``, every name escaped and cut."""
    inherited = (
        f" (inherited from {shown(defined_in)})" if defined_in and defined_in != owner else ""
    )
    return f"{shown(owner)}.{shown(method)}{params}{inherited}"


_PHASE_NAMES = {
    Phase.CONFIGURE: "configuration",
    Phase.TRAINING: "training",
    Phase.VALIDATION: "validation",
    Phase.TESTING: "testing",
    Phase.CHECKPOINT: "checkpoint",
}


def unknown_hook(owner: str, method: str, defined_in: str | None = None) -> HookProblem:
    """The problem of a hook-like public method ``method`` that is no hook.

    :param owner: the plug-in class's name.
    :param defined_in: the base class defining the method, when it is inherited.
    """
    where = _where(owner, method, defined_in)
    name = shown(method)
    private = f"make it private (_{name}) if it is a helper"
    close = closest_hook(method)
    if close is not None:
        hint = f"did you mean {close}?"
        fix = f"rename {name} to {close}, or {private}"
    else:
        listed = _related(method)
        phases = {h.phase for h in listed}
        if len(phases) == 1:
            group = f"the {_PHASE_NAMES[phases.pop()]} hooks"
        else:
            prefix = next(p for p in HOOK_PREFIXES if method.startswith(p))
            group = f"the hooks named {prefix}*"
        hint = f"{group}: {', '.join(h.name for h in listed)}"
        fix = f"rename {name} to one of those hooks, or {private}"
    return HookProblem(
        "hook-unknown",
        method,
        f"{where} is named like a hook but is none, so the trainer never calls it ({hint})",
        fix,
    )


def bad_signature(
    owner: str, hook: Hook, params: Params, defined_in: str | None = None
) -> HookProblem | None:
    """The problem of a definition of ``hook`` that cannot take the trainer's call, if any."""
    count = len(hook.args)
    why = params.mismatch(count)
    if why is None:
        return None
    where = _where(owner, hook.name, defined_in, params.render())
    arguments = "no argument" if not count else _count(count)
    definition = f"def {hook.name}({', '.join(('self', *hook.args))})"
    if params.is_async:
        fix = f"define it with def, not async def: {definition}"
    else:
        fix = (
            f"define it as {definition} (parameter names are free: the trainer passes hook "
            "arguments by position)"
        )
    return HookProblem(
        "hook-signature",
        hook.name,
        f"{where} cannot take the trainer's call {hook.signature} ({arguments} after self): {why}",
        fix,
    )


def method_problems(
    owner: str, methods: Iterable[tuple[str, Params | None, str | None]]
) -> list[HookProblem]:
    """The hook problems of ``methods``: (name, its parameters or None when unknown, the base
    class that defines it or None), each name once, the one that wins in the class."""
    problems = []
    for name, params, defined_in in methods:
        hook = HOOKS_BY_NAME.get(name)
        if hook is not None:
            problem = None if params is None else bad_signature(owner, hook, params, defined_in)
            if problem is not None:
                problems.append(problem)
        elif name.startswith(HOOK_PREFIXES):
            problems.append(unknown_hook(owner, name, defined_in))
    return problems


def _is_method(value: object) -> bool:
    return isinstance(value, (types.FunctionType, staticmethod, classmethod))


def class_problems(cls: type) -> list[HookProblem]:
    """The hook problems of an imported plug-in class, inherited methods included.

    Every class of its MRO that is not :class:`~helios.plugins.plugin.Plugin` (or one of its
    bases) contributes its methods; a name is judged where it resolves, as an attribute
    lookup on the class would find it. Properties and other attributes are not methods.
    """
    from helios.plugins.base import Plugin

    core = set(Plugin.__mro__)
    seen: set[str] = set()
    methods: list[tuple[str, Params | None, str | None]] = []
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if klass not in core and _is_method(value):
                methods.append((name, Params.of(value), klass.__qualname__))
    return method_problems(cls.__qualname__, methods)


def describe(problems: list[HookProblem], headline: str) -> str:
    """``headline: problem`` for one problem; a headline and one line each for several."""
    if len(problems) == 1:
        return f"{headline}: {problems[0].text}"
    lines = [f"{headline} ({len(problems)} problems):"]
    lines += [f"  - {p.text}" for p in problems[:LISTED_PROBLEMS]]
    if len(problems) > LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - LISTED_PROBLEMS} more")
    return "\n".join(lines)


def check_plugin_hooks(plugin: Plugin) -> None:
    """Raise :class:`~helios.plugins.errors.PluginError` if ``plugin``'s class breaks a hook
    rule; called by ``Trainer.register_plugin`` before the plug-in is registered."""
    cls = type(plugin)
    problems = class_problems(cls)
    if problems:
        from helios.plugins.errors import PluginError

        raise PluginError(
            describe(
                problems,
                f"plug-in {plugin.plugin_id!r} ({cls.__module__}.{cls.__qualname__}) cannot be "
                "registered",
            )
        )

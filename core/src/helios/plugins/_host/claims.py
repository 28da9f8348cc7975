"""The claim rules: which unique override guards which hook, and who may claim what.

One home for every check of the unique overrides, read from :data:`helios.plugins.hooks.HOOKS`
(the flag of each guarded hook):

- a class that overrides a guarded hook claims its flag (:func:`unclaimed_hooks`), and a class
  that claims a flag overrides its hook (:func:`unused_claims`);
- a class's ``declared_overrides`` claims what its manifest's ``[overrides]`` claims
  (:func:`declared_mismatch`);
- within a selection or a trainer, each flag has one owner (:func:`conflict_groups`,
  :func:`selection_conflict`, :func:`trainer_conflict`).

The loader's class verification, ``Trainer.register_plugin``, the selection checks and
``helios plugins validate`` all take their findings and wording from here. Importing this
module imports nothing but the standard library and the hook table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helios.plugins._host.findings import Finding
from helios.plugins.hooks import HOOKS

if TYPE_CHECKING:
    from helios.plugins._host.manifest import Manifest

__all__ = [
    "DOES",
    "FLAG_OF",
    "HOOK_OF",
    "Override",
    "claim_findings",
    "conflict_groups",
    "declared_mismatch",
    "find_conflicts",
    "joined",
    "overridden_flags",
    "overrides_of",
    "selection_conflict",
    "show_flags",
    "trainer_conflict",
    "unclaimed_hooks",
    "unused_claims",
]

#: Flag -> the guarded hook it gives its owner, in the order of the hook table.
HOOK_OF: dict[str, str] = {hook.flag: hook.name for hook in HOOKS if hook.flag is not None}
#: Guarded hook -> its flag.
FLAG_OF: dict[str, str] = {name: flag for flag, name in HOOK_OF.items()}

#: What owning each flag lets a plug-in do, for messages.
DOES: dict[str, str] = {hook.flag: hook.does for hook in HOOKS if hook.flag is not None}


@dataclass(frozen=True)
class Override:
    """A guarded hook a class defines: where, and the base it inherits it from (if any).

    :param hook: the hook's name (a key of :data:`FLAG_OF`).
    :param inherited_from: the base class that defines it, or None when the class does.
    :param file: the file that defines it ("" when unknown, as for an imported class).
    :param line: the line of its ``def``, when known.
    """

    hook: str
    inherited_from: str | None = None
    file: str = ""
    line: int | None = None

    @property
    def flag(self) -> str:
        return FLAG_OF[self.hook]


def show_flags(flags: Iterable[str]) -> str:
    """``a, b`` sorted, or ``none``."""
    return ", ".join(sorted(flags)) or "none"


def overridden_flags(cls: type) -> frozenset[str]:
    """The flags whose guarded hook ``cls`` (or a base below ``Plugin``) redefines."""
    from helios.plugins.base import Plugin  # torch-free; imported when a class is judged

    return frozenset(
        flag
        for flag, hook in HOOK_OF.items()
        if getattr(cls, hook, None) is not getattr(Plugin, hook)
    )


def overrides_of(cls: type) -> list[Override]:
    """The guarded hooks an imported class redefines, each with the base defining it."""
    flags = overridden_flags(cls)
    found = []
    for flag, hook in HOOK_OF.items():
        if flag in flags:
            owner = next((k for k in cls.__mro__ if hook in vars(k)), cls)
            inherited = owner.__qualname__ if owner is not cls else None
            found.append(Override(hook, inherited))
    return found


def unclaimed_hooks(
    owner: str, overrides: Iterable[Override], claimed: frozenset[str]
) -> list[Finding]:
    """``hook-unclaimed``: each guarded hook ``owner`` overrides without claiming its flag.

    :param owner: how to name the class (``TreePlugin``, ``plug-in 'x' (mod.TreePlugin)``).
    """
    findings = []
    for override in overrides:
        flag = override.flag
        if flag in claimed:
            continue
        inherited = (
            f" (inherited from {override.inherited_from})" if override.inherited_from else ""
        )
        findings.append(
            Finding(
                "hook-unclaimed",
                f"{owner} overrides {override.hook}{inherited} without claiming {flag}",
                file=override.file,
                key=override.hook,
                line=override.line,
                required=f"{flag} claimed",
                found=f"claimed: {show_flags(claimed)}",
                fix=f"claim {flag} ({flag}=True in declared_overrides, and {flag} = true under "
                f"[overrides] in its manifest if it has one), or remove {override.hook}",
            )
        )
    return findings


def unused_claims(
    owner: str, claimed: frozenset[str], defined: frozenset[str], file: str = ""
) -> list[Finding]:
    """``hook-missing``: each flag ``owner`` claims whose hook it does not override."""
    return [
        Finding(
            "hook-missing",
            f"{owner} claims {flag} but does not override {HOOK_OF[flag]}",
            file=file,
            key=HOOK_OF[flag],
            required=f"an override of {HOOK_OF[flag]}",
            found="the base class's no-op",
            fix=f"implement {HOOK_OF[flag]}, or drop the claim of {flag}",
        )
        for flag in sorted(claimed - defined)
    ]


def declared_mismatch(
    owner: str, declared: frozenset[str], claimed: frozenset[str], file: str = ""
) -> Finding | None:
    """``overrides-mismatch``: ``declared_overrides`` and the manifest's ``[overrides]`` differ."""
    if declared == claimed:
        return None
    return Finding(
        "overrides-mismatch",
        f"{owner}.declared_overrides claims {show_flags(declared)} but the manifest's "
        f"[overrides] claims {show_flags(claimed)}",
        file=file,
        key="declared_overrides",
        required=show_flags(claimed),
        found=show_flags(declared),
        fix="make declared_overrides and [overrides] list the same flags",
    )


def joined(findings: Sequence[Finding]) -> Finding:
    """Several findings of one class as one: messages and fixes joined by ``; ``."""
    if len(findings) == 1:
        return findings[0]
    first = findings[0]
    return Finding(
        first.code,
        "; ".join(f.message for f in findings),
        file=first.file,
        key=first.key,
        line=first.line,
        required="; ".join(f.required for f in findings),
        found=first.found,
        fix="; ".join(f.fix for f in findings),
    )


def conflict_groups(selected: Sequence[tuple[str, Manifest]]) -> dict[str, list[str]]:
    """Each unique override that several of ``selected`` claim -> their ids, in given order.

    The overrides come sorted by name, so the groups are in a stable order.
    """
    owners: dict[str, list[str]] = {}
    for plugin_id, manifest in selected:
        for flag in manifest.overrides.claimed():
            owners.setdefault(flag, []).append(plugin_id)
    return {flag: owners[flag] for flag in sorted(owners) if len(owners[flag]) > 1}


def find_conflicts(selected: Sequence[tuple[str, Manifest]]) -> dict[str, list[tuple[str, str]]]:
    """For each plug-in id, the (other id, override) pairs it shares a unique override with."""
    clashes: dict[str, list[tuple[str, str]]] = {}
    for flag, ids in conflict_groups(selected).items():
        for plugin_id in ids:
            clashes.setdefault(plugin_id, []).extend(
                (other, flag) for other in ids if other != plugin_id
            )
    return clashes


def selection_conflict(plugin_id: str, pairs: Sequence[tuple[str, str]]) -> Finding:
    """``conflict``: ``plugin_id`` shares the unique overrides ``pairs`` (other id, flag) with
    other plug-ins selected with it. The fix is to select fewer, never to disable one:
    disabling would break every other selection that uses it alone."""
    text = "; ".join(f"{plugin_id!r} and {other!r} both claim {flag}" for other, flag in pairs)
    names = ", ".join(repr(i) for i in dict.fromkeys([plugin_id, *(o for o, _ in pairs)]))
    return Finding(
        "conflict",
        f"unique override conflict: {text}",
        required="each unique override claimed by one plug-in",
        found=text,
        fix=f"select only one of {names}: leave the others out of the ids given "
        "(Trainer(plugins=[...]), load_plugins([...]), helios plugins check ID...)",
    )


def trainer_conflict(owner: str, newcomer: str, flag: str) -> str:
    """The message of a plug-in ``newcomer`` that claims ``flag``, which ``owner`` (a plug-in
    of the same trainer) owns already; both are shown as given (``'id'``, ``'id' (dist 1.0)``)."""
    return (
        f"plug-ins {owner} and {newcomer} both claim the unique override {flag}; only one "
        f"plug-in of a trainer may {DOES.get(flag, f'claim {flag}')}: keep only one of them in "
        "the trainer (Trainer(plugins=[...]), register_plugin)"
    )


def claim_findings(
    owner: str,
    overrides: Sequence[Override],
    claimed: frozenset[str],
    *,
    complete: bool = True,
    file: str = "",
) -> list[Finding]:
    """Every claim problem of a class: unclaimed overridden hooks, then (when every base was
    seen, ``complete``) claims without a hook."""
    findings = unclaimed_hooks(owner, overrides, claimed)
    if complete:
        defined = frozenset(o.flag for o in overrides)
        findings += unused_claims(owner, claimed, defined, file)
    return findings

"""The load report: every verdict of one loader run, rendered as a table or as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helios.plugins._host.checks import python_version
from helios.plugins._host.echo import escape, quote, shown
from helios.plugins._host.verdicts import NEWLINE, Kind, Verdict
from helios.plugins._host.whatif import WhatIf
from helios.plugins.device.probe import DeviceInfo

__all__ = ["Conflict", "LoadReport"]

_STATUS = {
    Kind.OK: "ok",
    Kind.NOT_APPLICABLE: "not applicable",
    Kind.INCOMPATIBLE: "incompatible",
    Kind.BROKEN: "broken",
}


@dataclass(frozen=True)
class Conflict:
    """Installed plug-ins that each pass their checks but claim the same unique override.

    Each can be selected alone; selected together (in one trainer, one ``load_plugins`` or one
    ``helios plugins check ID...``) they fail with the ``conflict`` verdict. A report of every
    installed plug-in shows them as a note, since installing both is no error.
    """

    override: str
    ids: tuple[str, ...]

    def render(self) -> str:
        """One line: who claims what, and that they cannot be selected together."""
        names = [quote(i, quote_char="'") for i in self.ids]
        who = f"{', '.join(names[:-1])} and {names[-1]}"
        which = "they cannot" if len(names) == 2 else "no two of them can"
        return (
            f"{who} {'both' if len(names) == 2 else 'all'} claim the unique override "
            f"{self.override}: each works alone, but {which} be selected together (in one "
            "Trainer, load_plugins or 'helios plugins check' call)"
        )

    def to_json(self) -> dict[str, Any]:
        return {"override": self.override, "ids": list(self.ids)}


@dataclass(frozen=True)
class LoadReport:
    """What the loader decided about each plug-in, and the environment it judged against."""

    verdicts: tuple[Verdict, ...]
    core_version: str | None
    device: DeviceInfo | None = None
    warnings: tuple[str, ...] = ()
    python: str = field(default_factory=python_version)
    #: Why the core's own metadata could not be read (then ``core_version`` is None).
    core_error: str = ""
    #: In a report of every installed plug-in: those that cannot be selected together. (In a
    #: report of a selection, such plug-ins get the ``conflict`` verdict instead.)
    conflicts: tuple[Conflict, ...] = ()
    #: The hypothetical core, Python or device judged against (``helios plugins check
    #: --core/--python/--device``); None: this machine as it is.
    what_if: WhatIf | None = None
    #: Uninstalled wheels judged as if installed (``check --wheel``).
    wheels: tuple[str, ...] = ()

    @property
    def hypothetical(self) -> bool:
        """Whether the report judged another environment than this one, as it is."""
        return self.what_if is not None or bool(self.wheels)

    def __getitem__(self, plugin_id: str) -> Verdict:
        for verdict in self.verdicts:
            if verdict.id == plugin_id:
                return verdict
        raise KeyError(f"no plug-in {plugin_id!r} in this report; it has: {self.ids()}")

    def ids(self) -> list[str]:
        return [v.id for v in self.verdicts]

    def failures(self, *kinds: Kind) -> list[Verdict]:
        """Verdicts that are not OK, optionally only of the given kinds."""
        wanted = kinds or (Kind.NOT_APPLICABLE, Kind.INCOMPATIBLE, Kind.BROKEN)
        return [v for v in self.verdicts if v.kind in wanted]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data; a what-if adds ``what_if`` (what was hypothetical)."""
        data = {
            "core": {
                "distribution": "helios-trainer",
                "version": self.core_version,
                **({"error": self.core_error} if self.core_error else {}),
            },
            "python": self.python,
            "device": self.device.to_json() if self.device else None,
            "plugins": [v.to_json() for v in self.verdicts],
            "conflicts": [c.to_json() for c in self.conflicts],
            "warnings": list(self.warnings),
        }
        if self.hypothetical:
            data["what_if"] = (self.what_if or WhatIf()).to_json(self.wheels)
        return data

    def render(self) -> str:
        """A table a person can read, one line per plug-in that is not OK, then the notes.

        What came from a plug-in's metadata or manifest is escaped (and names are cut), so no
        control character reaches the terminal.
        """
        core = self.core_version or (
            "(metadata unreadable)" if self.core_error else "(not installed)"
        )
        head = f"helios-trainer {core} · Python {self.python}"
        lines = [head]
        if self.hypothetical:
            lines.insert(0, (self.what_if or WhatIf()).describe(self.wheels))
        if self.device is not None:
            lines.append(f"device: {self.device.describe()}")
        if not self.verdicts:
            lines.append("no plug-ins installed (none declares a 'helios.plugins' entry point)")
        else:
            rows = [("ID", "DISTRIBUTION", "STATUS", "REASON")]
            rows += [
                (
                    shown(v.id),
                    f"{shown(v.distribution)} {shown(v.version)}".strip(),
                    _STATUS[v.kind],
                    v.reason.value,
                )
                for v in self.verdicts
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            lines.append("")
            lines += [
                "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
                + "  "
                + row[3]
                for row in rows
            ]
            details = [v for v in self.verdicts if not v.ok]
            if details:
                lines.append("")
                lines += [
                    f"{shown(v.id)}: {escape(v.message, keep=NEWLINE)}"
                    + (f"\n  fix: {escape(v.fix)}" if v.fix else "")
                    for v in details
                ]
        if self.conflicts:
            lines.append("")
            lines += [f"note: {c.render()}" for c in self.conflicts]
        lines += [f"warning: {escape(w)}" for w in self.warnings]
        return "\n".join(lines)

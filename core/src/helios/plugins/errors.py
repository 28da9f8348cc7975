"""The exceptions of the plug-in system; all derive from :class:`PluginError`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helios.plugins.verdicts import Verdict


class PluginError(Exception):
    """Base class of every error raised by the plug-in system."""


@dataclass(frozen=True)
class ManifestIssue:
    """One problem in a manifest: a stable code, the dotted key, its line and a message."""

    code: str
    key: str
    message: str
    line: int | None = None

    def render(self, path: str) -> str:
        """``PATH:LINE: [KEY] message``, with any control character escaped."""
        from helios.plugins.echo import escape  # only when there is an error to show

        where = f"{escape(path)}:{self.line}" if self.line else escape(path)
        key = f" [{escape(self.key)}]" if self.key else ""
        return f"{where}:{key} {escape(self.message)}"


#: How many of a manifest's problems its error message lists; the headline counts them all.
LISTED_ISSUES = 50


class ManifestError(PluginError, ValueError):
    """A ``helios-plugin.toml`` is unreadable or invalid; ``issues`` holds every problem.

    The message lists the first :data:`LISTED_ISSUES` of them and says how many more there are,
    so a manifest of thousands of problems still makes a message of some KB, not MB.
    """

    def __init__(self, path: str, issues: Sequence[ManifestIssue]) -> None:
        self.path = path
        self.issues = tuple(issues)
        from helios.plugins.echo import escape

        count = len(self.issues)
        lines = [f"invalid plug-in manifest {escape(path)} ({count:,} problem(s)):"]
        lines += ["  " + issue.render(path) for issue in self.issues[:LISTED_ISSUES]]
        if count > LISTED_ISSUES:
            lines.append(f"  ... and {count - LISTED_ISSUES:,} more problem(s)")
        super().__init__("\n".join(lines))


class PluginSelectionError(PluginError):
    """Plug-ins asked for by id did not pass their checks; none of them was imported.

    ``verdicts`` holds the failing verdicts. The subclass tells which kind failed first;
    :class:`PluginBrokenError` alone comes after the imports.
    """

    def __init__(self, verdicts: Sequence[Verdict]) -> None:
        self.verdicts = tuple(verdicts)
        body = "\n".join(f"  - {v.render()}" for v in self.verdicts)
        super().__init__(f"{self._headline(len(self.verdicts))}:\n{body}")

    @staticmethod
    def _headline(count: int) -> str:
        head = "plug-in check failed" if count == 1 else f"{count} plug-in checks failed"
        return f"{head}; nothing was imported"


class PluginNotApplicableError(PluginSelectionError):
    """A selected plug-in is disabled or its device is absent on this machine."""


class PluginIncompatibleError(PluginSelectionError):
    """A selected plug-in is invalid, incompatible with this environment or conflicting."""


class PluginBrokenError(PluginSelectionError):
    """A selected plug-in failed to import or its class failed verification.

    Its checks had passed, so its import ran (and the plug-ins of the selection that did
    load stay registered); each verdict says what failed and the fix.
    """

    @staticmethod
    def _headline(count: int) -> str:
        if count == 1:
            return (
                "plug-in broken: its checks passed and its import ran, but importing or "
                "verifying it failed"
            )
        return (
            f"{count} plug-ins broken: their checks passed and their imports ran, but importing "
            "or verifying them failed"
        )


class PluginNotInstalledError(PluginError, ImportError):
    """No installed distribution provides the plug-in asked for."""


class PluginConflictError(PluginError, ValueError):
    """Two plug-ins registered in one trainer claim the same unique override or id."""


class PluginIdTakenError(PluginConflictError, KeyError):
    """Another plug-in is registered under the same id in the trainer.

    Also a :class:`KeyError`, as helios-ml raises for a taken id; its text reads as written
    (not quoted, as a plain ``KeyError``'s is).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

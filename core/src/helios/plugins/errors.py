"""The exceptions of the plug-in system; all derive from :class:`PluginError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from helios.plugins._host.findings import Finding

if TYPE_CHECKING:
    from helios.plugins._host.verdicts import Verdict


class PluginError(Exception):
    """Base class of every error raised by the plug-in system."""


def ManifestIssue(code: str, key: str, message: str, line: int | None = None) -> Finding:
    """One problem in a manifest (a :class:`~helios.plugins._host.findings.Finding`), in the
    order the manifest reader gives it: a stable code, the dotted key, the message, its line."""
    return Finding(code, message, key=key, line=line)


#: How many of a manifest's problems its error message lists; the headline counts them all.
LISTED_ISSUES = 50


class ManifestError(PluginError, ValueError):
    """A ``helios-plugin.toml`` is unreadable or invalid; ``issues`` holds every problem.

    The message lists the first :data:`LISTED_ISSUES` of them and says how many more there are,
    so a manifest of thousands of problems still makes a message of some KB, not MB.
    """

    def __init__(self, path: str, issues: Sequence[Finding]) -> None:
        self.path = path
        self.issues = tuple(issues)
        from helios.plugins._host.echo import escape

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

    def __init__(self, verdicts: Sequence[Verdict], headline: str | None = None) -> None:
        self.verdicts = tuple(verdicts)
        body = "\n".join(f"  - {v.render()}" for v in self.verdicts)
        super().__init__(f"{headline or self._headline(len(self.verdicts))}:\n{body}")

    @staticmethod
    def _headline(count: int) -> str:
        head = "plug-in check failed" if count == 1 else f"{count} plug-in checks failed"
        return f"{head}; nothing was imported"


class PluginNotApplicableError(PluginSelectionError, RuntimeError):
    """A selected plug-in is disabled or its device is absent on this machine.

    Also a :class:`RuntimeError`, what helios-ml's ``CUDAPlugin()`` raises without CUDA. A
    ``Trainer`` skips such a plug-in selected by id with a :class:`PluginNotApplicableWarning`
    instead, unless it is strict.
    """


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


class PluginNotInstalledError(PluginError, ImportError, KeyError):
    """No installed distribution provides the plug-in asked for.

    A failed lookup, so also a :class:`KeyError` (what ``PLUGIN_REGISTRY.get`` and
    ``create_plugin`` raise for an unknown name, as in helios-ml), and an :class:`ImportError`
    (what ``from helios.plugins import CUDAPlugin`` raises without helios-cuda). Its ``str()``
    is the message itself, not the quoted form a plain ``KeyError`` shows.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PluginConflictError(PluginError, ValueError):
    """Two plug-ins registered in one trainer claim the same unique override or id."""


class PluginSelectionConflictError(PluginIncompatibleError, PluginConflictError):
    """Plug-ins selected together by id claim the same unique override; none was imported.

    Both a :class:`PluginIncompatibleError` (its ``verdicts`` say ``conflict``) and a
    :class:`PluginConflictError`, the error of two conflicting plug-in instances.
    """


class PluginNotApplicableWarning(RuntimeWarning):
    """A plug-in selected by id does not apply on this machine and was skipped.

    ``Trainer(strict=True)`` or ``HELIOS_PLUGINS_STRICT=1`` raises
    :class:`PluginNotApplicableError` instead.
    """


class PluginIdTakenError(PluginConflictError, KeyError):
    """Another plug-in is registered under the same id in the trainer.

    Also a :class:`KeyError`, as helios-ml raises for a taken id; its text reads as written
    (not quoted, as a plain ``KeyError``'s is).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

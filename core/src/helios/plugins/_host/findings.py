"""One finding type for every check: manifests, consistency, claims, the class, ``validate``.

A :class:`Finding` says what is wrong (a stable ``code`` and a ``message``), where (``file``,
``key``, ``line``), what was required and found, and the fix. A loader verdict is a plug-in's
identity plus one finding (:meth:`helios.plugins._host.verdicts.Verdict.finding`).
Importing this module imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """One problem: a stable code, a sentence, where it is, what was required and found, the fix.

    :param code: a stable code (a verdict's reason code, or a ``validate`` code).
    :param message: one sentence, without the fix.
    :param file: the file the problem is in ("" when it is about no file).
    :param key: the dotted key or symbol (``requires.helios``, ``process_training_batch``).
    :param line: the line in ``file``, when known.
    """

    code: str
    message: str
    file: str = ""
    key: str = ""
    line: int | None = None
    required: str = ""
    found: str = ""
    fix: str = ""

    def at(self, file: str) -> Finding:
        """The same finding in ``file`` (when it says no file of its own)."""
        return self if self.file else replace(self, file=file)

    @property
    def text(self) -> str:
        """The message and the fix (if any), as one sentence."""
        return f"{self.message}; {self.fix}" if self.fix else self.message

    def render(self, path: str | None = None) -> str:
        """``FILE:LINE: [KEY] message; fix`` on one line, control characters escaped; ``path``
        stands in for a finding that names no file."""
        from helios.plugins._host.echo import escape  # only when there is something to show

        file = self.file or path or ""
        where = f"{escape(file)}:{self.line}" if self.line else escape(file)
        key = f" [{escape(self.key)}]" if self.key else ""
        return f"{where}:{key} {escape(self.text)}"

    def to_json(self) -> dict[str, Any]:
        """The fields, ``file`` also as ``path`` (what ``validate --json`` has always said)."""
        return {
            "path": self.file,
            "code": str(getattr(self.code, "value", self.code)),
            "message": self.message,
            "key": self.key,
            "line": self.line,
            "required": self.required,
            "found": self.found,
            "fix": self.fix,
        }

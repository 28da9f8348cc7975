"""Verdicts: what the loader decided about one plug-in, with a stable reason code."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from helios.plugins._host.echo import escape, shown
from helios.plugins._host.findings import Finding

NEWLINE = "\n"  # kept in messages (a manifest's issues are listed one per line)


class Kind(str, enum.Enum):
    """The three kinds of stop users can tell apart, plus success."""

    OK = "ok"
    NOT_APPLICABLE = "not-applicable"  # disabled, or the device is absent: nothing is wrong
    INCOMPATIBLE = (
        "incompatible"  # invalid, incompatible or conflicting: an environment must change
    )
    BROKEN = "broken"  # the import or the class verification failed, or a check crashed


class Reason(str, enum.Enum):
    """Stable reason codes. Their values are part of the JSON report; never rename one."""

    READY = "ready"  # every check before import passed
    LOADED = "loaded"  # imported, verified and registered
    DISABLED = "disabled"
    NOT_SELECTED = "not-selected"
    DEVICE_NO_CUDA_BUILD = "device-no-cuda-build"
    DEVICE_NO_GPU = "device-no-gpu"
    DEVICE_CUDA_VERSION = "device-cuda-version"
    DEVICE_COMPUTE_CAPABILITY = "device-compute-capability"
    NOT_INSTALLED = "not-installed"
    MANIFEST_MISSING = "manifest-missing"
    MANIFEST_INVALID = "manifest-invalid"
    METADATA_UNREADABLE = "metadata-unreadable"  # its, the core's or a package's metadata
    ENTRY_POINT_MISMATCH = "entry-point-mismatch"
    REQUIRES_DIST_MISMATCH = "requires-dist-mismatch"
    DUPLICATE_ID = "duplicate-id"
    INCOMPATIBLE_CORE = "incompatible-core"
    INCOMPATIBLE_PYTHON = "incompatible-python"
    MISSING_PACKAGE = "missing-package"
    INCOMPATIBLE_PACKAGE = "incompatible-package"
    CONFLICT = "conflict"
    IMPORT_FAILED = "import-failed"
    NOT_A_PLUGIN = "not-a-plugin"
    ID_MISMATCH = "id-mismatch"
    OVERRIDES_MISMATCH = "overrides-mismatch"
    HOOK_MISMATCH = "hook-mismatch"  # a hook-like method that is no hook, or a bad signature
    CHECK_CRASHED = "check-crashed"  # checking, importing or registering it raised

    @property
    def kind(self) -> Kind:
        return _KINDS[self]


_KINDS: dict[Reason, Kind] = {
    Reason.READY: Kind.OK,
    Reason.LOADED: Kind.OK,
    Reason.DISABLED: Kind.NOT_APPLICABLE,
    Reason.NOT_SELECTED: Kind.NOT_APPLICABLE,
    Reason.DEVICE_NO_CUDA_BUILD: Kind.NOT_APPLICABLE,
    Reason.DEVICE_NO_GPU: Kind.NOT_APPLICABLE,
    Reason.DEVICE_CUDA_VERSION: Kind.NOT_APPLICABLE,
    Reason.DEVICE_COMPUTE_CAPABILITY: Kind.NOT_APPLICABLE,
    Reason.IMPORT_FAILED: Kind.BROKEN,
    Reason.NOT_A_PLUGIN: Kind.BROKEN,
    Reason.ID_MISMATCH: Kind.BROKEN,
    Reason.OVERRIDES_MISMATCH: Kind.BROKEN,
    Reason.HOOK_MISMATCH: Kind.BROKEN,
    Reason.CHECK_CRASHED: Kind.BROKEN,
}
for _reason in Reason:
    _KINDS.setdefault(_reason, Kind.INCOMPATIBLE)


@dataclass(frozen=True)
class Verdict:
    """The decision about one plug-in: who it is (id, distribution, version, where) plus one
    :class:`~helios.plugins._host.findings.Finding` (why it stopped, or not, and the fix).

    The finding's fields are kept flat here, as the JSON report has always shown them;
    :attr:`finding` and :meth:`judged` go from one form to the other.
    """

    id: str
    distribution: str
    version: str
    reason: Reason
    message: str = ""
    required: str = ""
    found: str = ""
    fix: str = ""
    manifest: str | None = None
    dist_info: str | None = None  # where the distribution is installed: tells two rows apart
    summary: str = ""
    overrides: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> Kind:
        return self.reason.kind

    @property
    def finding(self) -> Finding:
        """The reason, message, what was required and found, and the fix, as a finding."""
        return Finding(
            self.reason.value,
            self.message,
            file=self.manifest or "",
            required=self.required,
            found=self.found,
            fix=self.fix,
        )

    def judged(self, finding: Finding | None) -> Verdict:
        """This plug-in's verdict with ``finding`` (its code a :class:`Reason` value); None
        means every check passed (``ready``)."""
        if finding is None:
            return replace(self, reason=Reason.READY, message="", required="", found="", fix="")
        return replace(
            self,
            reason=Reason(finding.code),
            message=finding.message,
            required=finding.required,
            found=finding.found,
            fix=finding.fix,
        )

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    def render(self) -> str:
        """One line for humans: plug-in, distribution, reason, what was required and found, fix."""
        who = f"{shown(self.id)} ({shown(self.distribution)} {shown(self.version)})"
        text = f"{who}: {self.reason.value}"
        if self.message:
            text += f": {escape(self.message, keep=NEWLINE)}"
        if self.fix:
            text += f" Fix: {escape(self.fix)}"
        return text

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason"] = self.reason.value
        data["kind"] = self.kind.value
        data["overrides"] = list(self.overrides)
        return data

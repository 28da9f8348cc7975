"""The load pipeline: discover → manifest → checks → (only then) import → verify → register.

Each function works on a :class:`~helios.plugins._host.host.PluginHost`, which holds the scan,
the device probe, the classes imported and the registry; ``helios.plugins.build_report`` and
``load_plugins`` call them on the default host. :func:`build_report` decides about every plug-in (or a selection) and never raises for a
plug-in's sake: whatever one candidate's checks, import or registration raise becomes that
candidate's ``check-crashed`` verdict, and the others are judged as usual. :func:`load_plugins`
loads a selection and raises a :class:`~helios.plugins.errors.PluginError` subclass before
importing any of them if one fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from helios.plugins._host import checks, claims, first_party
from helios.plugins._host.discovery import Candidate
from helios.plugins._host.distinfo import MetadataUnreadableError, canonical_name, installed_version
from helios.plugins._host.echo import literal, quote, shown
from helios.plugins._host.findings import Finding
from helios.plugins._host.manifest import (
    CORE_DISTRIBUTION,
    MANIFEST_FILENAME,
    Manifest,
    load_manifest,
)
from helios.plugins._host.report import Conflict, LoadReport
from helios.plugins._host.settings import DISABLE_ENV, ONLY_ENV, Settings, named_ids
from helios.plugins._host.unavailable import unavailable_class
from helios.plugins._host.verdicts import Kind, Reason, Verdict
from helios.plugins._host.whatif import WhatIf
from helios.plugins.base import Plugin
from helios.plugins.device.probe import DeviceInfo
from helios.plugins.errors import (
    ManifestError,
    PluginBrokenError,
    PluginError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotInstalledError,
    PluginSelectionConflictError,
    PluginSelectionError,
)

if TYPE_CHECKING:
    from helios.plugins._host.host import PluginHost

__all__ = [
    "CheckedSelection",
    "build_report",
    "check_selection",
    "load_class",
    "load_plugins",
]


@dataclass(frozen=True)
class _Entry:
    candidate: Candidate
    manifest: Manifest | None
    verdict: Verdict

    @property
    def id(self) -> str:
        return self.verdict.id


def _verdict(candidate: Candidate, manifest: Manifest | None, failure: Finding | None) -> Verdict:
    identity = Verdict(
        id=candidate.entry_name,  # what `list` shows is what `check ID` and load_plugins select
        distribution=candidate.distribution,
        version=candidate.version,
        reason=Reason.READY,
        manifest=str(path) if (path := _manifest_path(candidate)) else None,
        dist_info=candidate.location,
        summary=manifest.summary if manifest else "",
        overrides=tuple(sorted(manifest.overrides.claimed())) if manifest else (),
    )
    return identity.judged(failure)


def _manifest_path(candidate: Candidate) -> Path | None:
    """The candidate's manifest path; None also when looking for it raised."""
    try:
        return candidate.manifest_path
    except Exception:  # reported by the check that needs it
        return None


def _crashed(candidate: Candidate, doing: str, exc: Exception) -> Finding:
    """The failure for an exception raised while ``doing`` something with ``candidate``."""
    error = f"{type(exc).__name__}: {shown(str(exc), limit=200)}"
    name = quote(candidate.entry_name, quote_char="'")
    path = _manifest_path(candidate)
    target = path.parent if path is not None else candidate.package
    return Finding(
        Reason.CHECK_CRASHED,
        f"{doing} the plug-in {name} raised {error}",
        required=f"{doing} completes",
        found=error,
        fix=f"run 'helios plugins validate {target}' and report this to the author of "
        f"{shown(candidate.distribution)} (or to helios-trainer, if the plug-in is not at fault)",
    )


def _read_manifest(candidate: Candidate) -> Manifest | Finding:
    path = candidate.manifest_path
    if path is None:
        package = literal(candidate.package)  # from the entry point: anything, of any length
        where = ", ".join(map(str, candidate.package_dirs)) or f"no importable package {package}"
        message = f"no {MANIFEST_FILENAME} next to the __init__.py of {package}"
        if candidate.shared_package:  # the other folders' manifests are other distributions'
            message = (
                f"no {MANIFEST_FILENAME} of its own in the namespace package "
                f"{package}, which other distributions share"
            )
        return Finding(
            Reason.MANIFEST_MISSING,
            f"{message} ({where})",
            required=f"{shown(candidate.package)}/{MANIFEST_FILENAME}",
            found="nothing",
            fix=f"ship {MANIFEST_FILENAME} inside the package, or reinstall: "
            f"pip install --force-reinstall {shown(candidate.distribution)}",
        )
    try:
        return load_manifest(path, package=candidate.package, read=candidate.read_manifest)
    except ManifestError as exc:
        return Finding(
            Reason.MANIFEST_INVALID,
            str(exc),
            required="a valid manifest (see manifests/README.md)",
            found=f"{len(exc.issues)} problem(s)",
            fix=f"helios plugins validate {path}",
        )


def _enabled(plugin_id: str, settings: Settings) -> Finding | None:
    if plugin_id in settings.disable:
        return Finding(
            Reason.DISABLED,
            f"disabled by {DISABLE_ENV} or --disable",
            required="not disabled",
            found=f"disabled: {named_ids(settings.disable)}",
            fix=f"remove {plugin_id!r} from {DISABLE_ENV} / --disable",
        )
    if settings.only is not None and plugin_id not in settings.only:
        return Finding(
            Reason.NOT_SELECTED,
            f"not among the plug-ins selected by {ONLY_ENV} or --only",
            required=f"listed in {ONLY_ENV}",
            found=f"only: {named_ids(settings.only)}",
            fix=f"add {plugin_id!r} to {ONLY_ENV} / --only",
        )
    return None


@dataclass(frozen=True)
class _Core:
    """The installed helios-trainer's version, or why its metadata could not be read."""

    version: str | None
    error: MetadataUnreadableError | None = None

    @classmethod
    def installed(cls) -> _Core:
        try:
            return cls(installed_version(CORE_DISTRIBUTION))
        except MetadataUnreadableError as exc:
            return cls(None, exc)

    def warning(self) -> list[str]:
        if self.error is None:
            return []
        return [
            f"the metadata of {CORE_DISTRIBUTION} itself cannot be read ({self.error}), so no "
            f"plug-in's requires.helios can be checked. Fix: pip install --force-reinstall "
            f"{CORE_DISTRIBUTION}"
        ]


def _unreadable(what: str, exc: MetadataUnreadableError, distribution: str) -> Finding:
    """The failure for a check that needed metadata that cannot be read."""
    return Finding(
        Reason.METADATA_UNREADABLE,
        f"{what}: {exc}",
        required=f"readable metadata of {shown(distribution)}",
        found=shown(exc.problem, limit=200),
        fix=f"reinstall it: pip install --force-reinstall {shown(distribution)}",
    )


def _check_installed(
    manifest: Manifest, core: _Core, candidate: Candidate, what_if: WhatIf
) -> Finding | None:
    """requires.helios, requires.python and requires.packages, against installed metadata
    (or the core and Python versions of ``what_if``, where it gives them)."""
    if core.error is not None and what_if.core is None:
        what = f"requires.helios cannot be checked: the metadata of {CORE_DISTRIBUTION}"
        return _unreadable(f"{what} cannot be read", core.error, CORE_DISTRIBUTION)
    core_version = what_if.core if what_if.core is not None else core.version
    failure = checks.check_core(manifest, core_version, candidate) or checks.check_python(
        manifest, what_if.python
    )
    if failure is not None:
        return failure
    try:
        return checks.check_packages(manifest, markers=what_if.marker_environment())
    except MetadataUnreadableError as exc:
        name = exc.distribution or "a required package"
        what = f"requires.packages cannot be checked: the metadata of {shown(name)} cannot be read"
        return _unreadable(what, exc, name)


def _precheck(
    candidate: Candidate,
    settings: Settings,
    core: _Core,
    device: Callable[[], DeviceInfo],
    what_if: WhatIf,
) -> _Entry:
    """Every check that needs only the manifest and metadata, in pipeline order."""
    if candidate.metadata_error is not None:
        what = "the metadata of its distribution cannot be read"
        unreadable = _unreadable(what, candidate.metadata_error, candidate.distribution)
        return _Entry(candidate, None, _verdict(candidate, None, unreadable))
    manifest = _read_manifest(candidate)
    if isinstance(manifest, Finding):
        return _Entry(candidate, None, _verdict(candidate, None, manifest))
    failure = (
        checks.check_consistency(candidate, manifest, core.version)
        or _enabled(manifest.id, settings)
        or _check_installed(manifest, core, candidate, what_if)
        or (
            checks.check_device(manifest, device())
            if manifest.device.accelerator == "cuda"
            else None
        )
    )
    return _Entry(candidate, manifest, _verdict(candidate, manifest, failure))


def _judge(
    candidate: Candidate,
    settings: Settings,
    core: _Core,
    device: Callable[[], DeviceInfo],
    what_if: WhatIf,
) -> _Entry:
    """:func:`_precheck`, where an exception becomes the candidate's ``check-crashed`` verdict."""
    try:
        return _precheck(candidate, settings, core, device, what_if)
    except Exception as exc:  # one plug-in's metadata must not stop the others being judged
        failure = _crashed(candidate, "checking", exc)
        return _Entry(candidate, None, _verdict(candidate, None, failure))


def _with(entry: _Entry, failure: Finding) -> _Entry:
    return replace(entry, verdict=entry.verdict.judged(failure))


def _mark_duplicates(entries: list[_Entry]) -> list[_Entry]:
    """Every installed distribution claiming an id that another one claims is a duplicate.

    Distributions are told apart by where they are installed, never by the Name their
    metadata gives: a second distribution calling itself ``helios-optuna`` is still a second.
    However many claim one id, each verdict names at most :data:`NAMED_DUPLICATES` of the
    others, so the report grows with the distributions, not with their square.
    """
    by_id: dict[str, list[Candidate]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry.candidate)
    shared = {i: _Claimants(group) for i, group in by_id.items() if len(group) > 1}
    out = []
    for entry in entries:
        claimants = shared.get(entry.id)
        if claimants is not None and claimants.others(entry.candidate):
            entry = _with(entry, claimants.duplicate(entry.id, entry.candidate))
        out.append(entry)
    return out


#: How many of the other distributions claiming its id a ``duplicate-id`` verdict names.
NAMED_DUPLICATES = 3


class _Claimants:
    """The distributions claiming one plug-in id, counted once (linear in their number)."""

    def __init__(self, group: list[Candidate]) -> None:
        self.group = group
        self.identities = Counter(c.identity for c in group)
        self.names = Counter(canonical_name(c.distribution) for c in group)

    def others(self, me: Candidate) -> int:
        """How many of the group are other distributions than ``me``."""
        return len(self.group) - self.identities[me.identity]

    def named_others(self, me: Candidate) -> list[Candidate]:
        """The first :data:`NAMED_DUPLICATES` of the others, in scan order."""
        found: list[Candidate] = []
        for candidate in self.group:
            if len(found) == NAMED_DUPLICATES:
                break
            if candidate.identity != me.identity:
                found.append(candidate)
        return found

    def duplicate(self, plugin_id: str, me: Candidate) -> Finding:
        others = self.named_others(me)
        more = self.others(me) - len(others)
        unique = [c for c in others if self.names[canonical_name(c.distribution)] == 1]
        shared = [c for c in others if self.names[canonical_name(c.distribution)] > 1]
        names = " ".join(shown(c.distribution) for c in unique)
        fixes = [f"pip uninstall {names}"] if unique else []
        fixes += [  # pip cannot tell apart distributions that claim one Name: remove it by hand
            f"delete the files listed in {c.location}/RECORD, then {c.location} (its Name is "
            "claimed by another installed distribution, so pip cannot pick it)"
            for c in shared
        ]
        if more:
            fixes.append(f"likewise for the {more:,} more (each has its own row in this report)")
        listed = self.group[: NAMED_DUPLICATES + 1]
        rest = len(self.group) - len(listed)
        return Finding(
            Reason.DUPLICATE_ID,
            f"the plug-in id {quote(plugin_id, quote_char=chr(39))} is also provided by "
            f"{_and_more(map(_who, others), more)}",
            required="one distribution per plug-in id",
            found=_and_more(map(_who, listed), rest),
            fix="uninstall all but one: " + "; ".join(fixes),
        )


def _who(candidate: Candidate) -> str:
    """A distribution as a duplicate-id verdict names it: name, version and folder."""
    return f"{shown(candidate.distribution)} {shown(candidate.version)} ({candidate.location})"


def _and_more(items: Iterable[str], more: int) -> str:
    text = ", ".join(items)
    return f"{text} and {more:,} more" if more > 0 else text


def _mark_conflicts(entries: list[_Entry]) -> list[_Entry]:
    """In a selection, every plug-in sharing a unique override with another one conflicts.

    The fix offered is to select fewer of them, never to disable one: disabling would break
    every other selection that uses it alone.
    """
    ready = [(e.id, e.manifest) for e in entries if e.verdict.ok and e.manifest is not None]
    clashes = claims.find_conflicts(ready)
    out = []
    for entry in entries:
        pairs = clashes.get(entry.id)
        if pairs:
            entry = _with(entry, claims.selection_conflict(entry.id, pairs))
        out.append(entry)
    return out


def _conflict_notes(entries: list[_Entry]) -> tuple[Conflict, ...]:
    """The installed plug-ins that pass their checks but cannot be selected together."""
    ready = [(e.id, e.manifest) for e in entries if e.verdict.ok and e.manifest is not None]
    return tuple(
        Conflict(flag, tuple(sorted(ids))) for flag, ids in claims.conflict_groups(ready).items()
    )


def _not_installed(plugin_id: str, installed: Iterable[str]) -> Verdict:
    """The verdict for an id asked for (from a caller or the command line) that nothing
    provides; the id is escaped and cut, and the installed ids named are bounded."""
    name = quote(plugin_id, quote_char="'")
    own = first_party.by_id(plugin_id)
    dist = own.distribution if own is not None else f"a distribution providing {name}"
    known = own is not None
    return Verdict(
        id=plugin_id,
        distribution=dist if known else "",
        version="",
        reason=Reason.NOT_INSTALLED,
        message=f"no installed distribution provides the plug-in {name} "
        f"(installed: {named_ids(installed) or 'none'})",
        required=f"plug-in {name}",
        found="not installed",
        fix=f"pip install {dist}" if known else f"install {dist}",
    )


@dataclass(frozen=True)
class _Evaluation:
    """Every check before import: the candidates' entries, ids nobody provides, and context."""

    entries: list[_Entry]
    missing: list[Verdict]
    warnings: list[str]
    device: DeviceInfo | None
    core: _Core
    conflicts: tuple[Conflict, ...]


def _evaluate(
    host: PluginHost,
    ids: Sequence[str] | None,
    settings: Settings,
    device: DeviceInfo | None,
    refresh: bool,
    what_if: WhatIf | None = None,
    extra: Sequence[Candidate] = (),
) -> _Evaluation:
    """Judge the installed plug-ins, or the selection ``ids``.

    Conflicts belong to a selection: among ``ids`` they are ``conflict`` verdicts; among every
    installed plug-in (``ids`` None) they are notes, since no trainer selects them all.
    ``extra`` (uninstalled wheels) join the selection; each replaces the installed
    distribution of its name, as installing it would. ``what_if`` replaces the core and
    Python versions judged against.
    """
    probed: list[DeviceInfo] = [device] if device is not None else []

    def get_device() -> DeviceInfo:
        if not probed:
            probed.append(host.probe_device())
        return probed[0]

    core = _Core.installed()
    found = host.scan(refresh)
    candidates = found.candidates
    installed = {c.entry_name for c in candidates}  # the ids, as `list` shows them
    missing: list[Verdict] = []
    if ids is not None:  # read only the manifests asked for
        wanted = list(dict.fromkeys(ids))
        missing = [_not_installed(i, installed) for i in wanted if i not in installed]
        candidates = tuple(c for c in candidates if c.entry_name in wanted)
    if extra:
        replaced = {canonical_name(c.distribution) for c in extra}
        candidates = tuple(c for c in candidates if canonical_name(c.distribution) not in replaced)
        candidates = (*candidates, *extra)
    what_if = what_if or WhatIf()
    entries = _mark_duplicates([_judge(c, settings, core, get_device, what_if) for c in candidates])
    conflicts: tuple[Conflict, ...] = ()
    if ids is None:
        conflicts = _conflict_notes(entries)
    else:
        entries = _mark_conflicts(entries)
    warnings = [*core.warning(), *found.warnings, *settings.unknown_id_warnings(installed)]
    return _Evaluation(entries, missing, warnings, probed[0] if probed else None, core, conflicts)


def _load(host: PluginHost, entry: _Entry) -> type[Plugin] | Verdict:
    """Import and verify one plug-in whose checks passed, and register its class.

    Whatever the import, the verification or the registration raises becomes the plug-in's
    ``check-crashed`` verdict (an import that raises is already ``import-failed``).
    """
    assert entry.manifest is not None
    key = (entry.candidate.identity, entry.id)
    if key in host.loaded:
        return host.loaded[key]
    from helios.plugins._host.verify import import_class, verify_class  # only once checks passed

    doing = "importing"
    try:
        cls = import_class(entry.manifest, entry.candidate.distribution)
        doing = "verifying"
        failure = cls if isinstance(cls, Finding) else verify_class(cls, entry.manifest)
        if failure is not None:
            return _with(entry, failure).verdict
        assert isinstance(cls, type)
        assert issubclass(cls, Plugin)
        doing = "registering"
        host.registry.register(cls)
    except Exception as exc:  # the class is the plug-in's own code: anything can happen
        return _with(entry, _crashed(entry.candidate, doing, exc)).verdict
    host.loaded[key] = cls
    return cls


def build_report(
    host: PluginHost,
    ids: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
    refresh: bool = False,
    load: bool = False,
    what_if: WhatIf | None = None,
    wheels: Sequence[Candidate] = (),
) -> LoadReport:
    """Decide about every installed plug-in (or the selection ``ids``) and return the report.

    Nothing is imported unless ``load`` is true; then the plug-ins that passed every check are
    imported, verified and registered. ``device`` replaces the machine probe (tests, what-ifs).
    Installed plug-ins that cannot be selected together are the report's ``conflicts`` (a
    note); among ``ids`` they are ``conflict`` verdicts. ``what_if`` judges against other core
    and Python versions, ``wheels`` (uninstalled plug-ins) join the selection; neither may be
    combined with ``load``.
    """
    if load and (wheels or (what_if is not None and what_if.hypothetical)):
        raise ValueError("a what-if or a wheel is judged without importing: load must be false")
    settings = settings if settings is not None else host.settings()
    found = _evaluate(host, ids, settings, device, refresh, what_if, wheels)
    verdicts = []
    for entry in found.entries:
        verdict = entry.verdict
        if load and verdict.ok:
            outcome = _load(host, entry)
            verdict = (
                outcome if isinstance(outcome, Verdict) else replace(verdict, reason=Reason.LOADED)
            )
        verdicts.append(verdict)
    hypothetical = what_if if what_if is not None and what_if.hypothetical else None
    return LoadReport(
        verdicts=tuple([*verdicts, *found.missing]),
        core_version=found.core.version,
        core_error=str(found.core.error) if found.core.error is not None else "",
        device=found.device,
        warnings=tuple(found.warnings),
        conflicts=found.conflicts,
        what_if=hypothetical,
        wheels=tuple(str(w.identity) for w in wheels),
    )


def _raise_for(failures: Sequence[Verdict]) -> None:
    if all(v.reason is Reason.NOT_INSTALLED for v in failures):
        raise PluginNotInstalledError("\n".join(f"{v.message}. Fix: {v.fix}" for v in failures))
    error: type[PluginSelectionError] = {
        Kind.NOT_APPLICABLE: PluginNotApplicableError,
        Kind.INCOMPATIBLE: PluginIncompatibleError,
        Kind.BROKEN: PluginBrokenError,
    }[failures[0].kind]
    if error is PluginIncompatibleError and any(v.reason is Reason.CONFLICT for v in failures):
        error = PluginSelectionConflictError
    raise error(failures)


@dataclass(frozen=True)
class CheckedSelection:
    """Plug-ins selected by id whose checks passed together; none is imported yet.

    ``verdicts``: those to load, in the order asked. ``skipped``: those not applicable on this
    machine, when the selection was checked with ``skip_not_applicable``.
    """

    verdicts: tuple[Verdict, ...]
    skipped: tuple[Verdict, ...]
    _entries: tuple[_Entry, ...]
    _host: PluginHost

    def load(self) -> dict[str, type[Plugin]]:
        """Import, verify and register each plug-in; id -> class, in the order asked.

        :raises PluginBrokenError: an import or class verification failed (the plug-ins that
            did load stay registered).
        """
        loaded: dict[str, type[Plugin]] = {}
        broken: list[Verdict] = []
        for entry in self._entries:
            outcome = _load(self._host, entry)
            if isinstance(outcome, Verdict):
                broken.append(outcome)
            else:
                loaded[entry.id] = outcome
        if broken:
            raise PluginBrokenError(broken)
        return {v.id: loaded[v.id] for v in self.verdicts}


def check_selection(
    host: PluginHost,
    ids: Sequence[str],
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
    skip_not_applicable: bool = False,
) -> CheckedSelection:
    """Check the plug-ins ``ids`` together, importing none of them.

    With ``skip_not_applicable`` (and ``settings.strict`` off), a plug-in that is *not
    applicable* here (disabled, not selected, device absent) is left out and named in
    ``skipped``; the others are checked as usual. Not applicable plug-ins take part in no
    conflict.

    :raises PluginNotInstalledError: an id no installed distribution provides.
    :raises PluginSelectionError: (a subclass per kind) a check failed; nothing was imported.
    """
    settings = settings if settings is not None else host.settings()
    found = _evaluate(host, ids, settings, device, refresh=False)
    skip = skip_not_applicable and not settings.strict
    position = {plugin_id: n for n, plugin_id in enumerate(dict.fromkeys(ids))}
    entries = sorted(found.entries, key=lambda e: position[e.id])  # the order asked
    skipped = [e.verdict for e in entries if skip and e.verdict.kind is Kind.NOT_APPLICABLE]
    failures = [
        *(e.verdict for e in entries if not (e.verdict.ok or e.verdict in skipped)),
        *found.missing,
    ]
    if failures:
        _raise_for(failures)
    ready = tuple(e for e in entries if e.verdict.ok)
    return CheckedSelection(tuple(e.verdict for e in ready), tuple(skipped), ready, host)


def load_plugins(
    host: PluginHost,
    ids: Sequence[str],
    *,
    settings: Settings | None = None,
    device: DeviceInfo | None = None,
) -> dict[str, type[Plugin]]:
    """Check the plug-ins ``ids`` together, then import, verify and register them.

    :returns: plug-in id -> class, in the order asked.
    :raises PluginNotInstalledError: an id no installed distribution provides.
    :raises PluginSelectionError: (a subclass per kind) a check failed; nothing was imported.
    :raises PluginBrokenError: every check passed, but an import or class verification failed.
    """
    return check_selection(host, ids, settings=settings, device=device).load()


def load_class(host: PluginHost, name: str, registered: Sequence[str] = ()) -> type[Plugin]:
    """Resolve an installed plug-in by class name through the checked pipeline.

    A plug-in that is not applicable here (no GPU, disabled) resolves to a stand-in class of
    the same name and ``plugin_id`` that raises :class:`PluginNotApplicableError` when
    constructed; its own code is never imported. Any other failed check raises at once.

    :raises PluginNotInstalledError: (a ``KeyError``) no installed plug-in has that class name.
    """
    matches = [c for c in host.discover() if c.class_name == name]
    asked = literal(name)
    if len(matches) > 1:
        dists = [f"{shown(c.distribution)} ({shown(c.entry_name)})" for c in matches]
        raise PluginError(
            f"the plug-in class name {asked} is provided by several distributions: "
            f"{_and_more(dists[: NAMED_DUPLICATES + 1], len(dists) - NAMED_DUPLICATES - 1)}; "
            "select the plug-in by id instead (helios.plugins.load_plugins([...]))"
        )
    if matches:
        plugin_id = matches[0].entry_name
        settings = replace(host.settings(), strict=False)  # strict is about selections
        checked = check_selection(host, [plugin_id], settings=settings, skip_not_applicable=True)
        if checked.skipped:
            key = (matches[0].identity, name, checked.skipped[0])
            if key not in host.stand_ins:
                host.stand_ins[key] = unavailable_class(name, checked.skipped[0])
            return host.stand_ins[key]
        return checked.load()[plugin_id]
    own = first_party.by_class(name)
    if own is not None:
        raise PluginNotInstalledError(
            f"the plug-in class {asked} comes with the distribution {own.distribution}, which "
            f"is not installed. Fix: pip install {own.distribution}"
        )
    installed = [c.class_name for c in host.discover()]  # from entry points: cut each
    raise PluginNotInstalledError(
        f"no plug-in class named {asked} is registered or installed "
        f"(registered: {', '.join(registered) or 'none'}; installed: "
        f"{named_ids(installed) or 'none'}). Fix: register it with "
        "@PLUGIN_REGISTRY, or pip-install the distribution that provides it"
    )

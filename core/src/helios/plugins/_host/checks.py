"""The checks a plug-in passes before any of its code is imported.

Each check returns ``None`` (passed) or a :class:`Failure`; the loader turns failures into
verdicts. Nothing here imports torch or plug-in code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from helios.plugins._host.discovery import Candidate
from helios.plugins._host.distinfo import installed_version
from helios.plugins._host.manifest import CORE_DISTRIBUTION, Manifest
from helios.plugins._host.requirements import PackageRequirement
from helios.plugins._host.verdicts import Reason
from helios.plugins.device.probe import DeviceInfo

__all__ = [
    "Failure",
    "admits",
    "check_consistency",
    "check_core",
    "check_device",
    "check_packages",
    "check_python",
    "conflict_groups",
    "find_conflicts",
]


@dataclass(frozen=True)
class Failure:
    """Why a check failed: reason code, a sentence, what was required and found, the fix."""

    reason: Reason
    message: str
    required: str = ""
    found: str = ""
    fix: str = ""


def admits(spec: SpecifierSet, version: str) -> bool:
    """Whether ``version`` satisfies ``spec``; installed pre-releases are judged like releases.

    The policy: a pre-release someone installed is accepted when the range would accept it
    with pre-releases allowed, so 0.1.1rc1 satisfies ``>=0.1,<0.2`` but 0.2.0rc1 does not
    satisfy ``<0.2`` (PEP 440 keeps pre-releases of an excluded upper bound excluded).
    """
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def python_version() -> str:
    """The running interpreter's version, e.g. ``3.11.7`` (platform is slow to import)."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def check_consistency(candidate: Candidate, manifest: Manifest) -> Failure | None:
    """The distribution's entry point and dependency agree with its manifest."""
    entry = f"{candidate.entry_name} = {candidate.entry_value}"
    if candidate.other_entries:
        extra = "; ".join(candidate.other_entries)
        return Failure(
            Reason.ENTRY_POINT_MISMATCH,
            f"the distribution declares more than one 'helios.plugins' entry point ({entry}; "
            f"{extra}); one distribution ships one plug-in",
            required="one entry point",
            found=f"{1 + len(candidate.other_entries)} entry points",
            fix='keep one entry in [project.entry-points."helios.plugins"] and rebuild the plug-in',
        )
    want = f"{manifest.id} = {manifest.class_path}"
    if (candidate.entry_name, candidate.entry_value.replace(" ", "")) != (
        manifest.id,
        manifest.class_path,
    ):
        return Failure(
            Reason.ENTRY_POINT_MISMATCH,
            f"the entry point '{entry}' does not match the manifest (id = {manifest.id!r}, "
            f"class = {manifest.class_path!r})",
            required=want,
            found=entry,
            fix=f"declare '{want}' under [project.entry-points.\"helios.plugins\"] and rebuild",
        )
    declared = candidate.core_requirement
    if declared != manifest.requires_helios:
        found = f"{CORE_DISTRIBUTION}{declared}" if declared is not None else "no such dependency"
        want = f"{CORE_DISTRIBUTION}{manifest.requires_helios}"
        return Failure(
            Reason.REQUIRES_DIST_MISMATCH,
            f"the distribution's dependency on {CORE_DISTRIBUTION} ({found}) differs from the "
            f"manifest's requires.helios ({manifest.requires_helios})",
            required=want,
            found=found,
            fix=f"make [project].dependencies say '{want}', the same range as requires.helios",
        )
    return None


def check_core(
    manifest: Manifest, core_version: str | None, candidate: Candidate
) -> Failure | None:
    """The installed helios-trainer satisfies ``requires.helios``."""
    spec = manifest.requires_helios
    if core_version is not None and admits(spec, core_version):
        return None
    found = f"{CORE_DISTRIBUTION} {core_version}" if core_version else "not installed"
    return Failure(
        Reason.INCOMPATIBLE_CORE,
        f"requires {CORE_DISTRIBUTION}{spec}, found {found}",
        required=f"{CORE_DISTRIBUTION}{spec}",
        found=found,
        fix=f"pip install '{CORE_DISTRIBUTION}{spec}', or install a release of "
        f"{candidate.distribution} made for this core: pip install -U {candidate.distribution}",
    )


def check_python(manifest: Manifest, version: str | None = None) -> Failure | None:
    """The running interpreter (or ``version``) satisfies ``requires.python``."""
    spec = manifest.requires_python
    version = version or python_version()
    if spec is None or admits(spec, version):
        return None
    return Failure(
        Reason.INCOMPATIBLE_PYTHON,
        f"requires Python{spec}, found Python {version}",
        required=f"Python{spec}",
        found=f"Python {version}",
        fix=f"run it with a Python that satisfies {spec}",
    )


def check_packages(
    manifest: Manifest, version_of: Callable[[str], str | None] = installed_version
) -> Failure | None:
    """Every requirement in ``requires.packages`` is installed (metadata only, no import)."""
    missing: list[PackageRequirement] = []
    wrong: list[tuple[PackageRequirement, str]] = []
    for req in manifest.packages:
        if not req.applies():
            continue
        found = version_of(req.name)
        if found is None:
            missing.append(req)
        elif not admits(req.specifier, found):
            wrong.append((req, found))
    if not missing and not wrong:
        return None
    failing = [*missing, *(req for req, _ in wrong)]
    found_text = ", ".join(
        [f"{req.name} not installed" for req in missing]
        + [f"{req.name} {version}" for req, version in wrong]
    )
    required = ", ".join(str(req) for req in failing)
    return Failure(
        Reason.MISSING_PACKAGE if missing else Reason.INCOMPATIBLE_PACKAGE,
        f"requires {required}, found {found_text}",
        required=required,
        found=found_text,
        fix="pip install " + " ".join(f"'{req}'" for req in failing),
    )


def check_device(manifest: Manifest, device: DeviceInfo) -> Failure | None:
    """The machine offers the accelerator the manifest asks for."""
    need = manifest.device
    if need.accelerator != "cuda":
        return None
    if device.torch_cuda is None:
        found = (
            f"torch {device.torch_version} (CPU build)"
            if device.torch_version
            else "torch is not installed"
        )
        return Failure(
            Reason.DEVICE_NO_CUDA_BUILD,
            f"needs a CUDA build of torch, found {found}",
            required="a CUDA build of torch",
            found=found,
            fix="install a CUDA build of torch (pip install torch --index-url "
            "https://download.pytorch.org/whl/cu124, see https://pytorch.org/get-started/)",
        )
    if need.cuda is not None and not admits(need.cuda, device.torch_cuda):
        return Failure(
            Reason.DEVICE_CUDA_VERSION,
            f"needs torch built with CUDA{need.cuda}, found CUDA {device.torch_cuda} "
            f"(torch {device.torch_version})",
            required=f"CUDA{need.cuda}",
            found=f"CUDA {device.torch_cuda}",
            fix=f"install a torch build for CUDA{need.cuda} (https://pytorch.org/get-started/)",
        )
    gpus = device.gpus
    if need.compute_capability is not None:
        gpus = tuple(g for g in gpus if admits(need.compute_capability, g.compute_capability))
    if len(gpus) < need.min_devices:
        return _gpu_failure(manifest, device, len(gpus))
    return None


def _gpu_failure(manifest: Manifest, device: DeviceInfo, usable: int) -> Failure:
    need = manifest.device
    plural = "s" if need.min_devices > 1 else ""
    if need.compute_capability is not None and device.gpus:
        wanted = f"{need.min_devices} GPU{plural} with compute capability {need.compute_capability}"
        seen = ", ".join(f"{g.name} ({g.compute_capability})" for g in device.gpus)
        return Failure(
            Reason.DEVICE_COMPUTE_CAPABILITY,
            f"needs {wanted}, found {usable} among: {seen}",
            required=wanted,
            found=seen,
            fix="run on a machine with such a GPU, or check CUDA_VISIBLE_DEVICES",
        )
    found = f"{len(device.gpus)} visible GPU(s)"
    if not device.gpus and device.note:
        found += f" ({device.note})"
    return Failure(
        Reason.DEVICE_NO_GPU,
        f"needs {need.min_devices} visible NVIDIA GPU{plural}, found {found}",
        required=f"{need.min_devices} GPU{plural}",
        found=found,
        fix="run on a machine with an NVIDIA GPU and driver, or check CUDA_VISIBLE_DEVICES",
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

"""The checks a plug-in passes before any of its code is imported.

Each check returns ``None`` (passed) or a :class:`~helios.plugins._host.findings.Finding`; the loader turns failures into
verdicts. Nothing here imports torch or plug-in code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from helios.plugins._host import consistency
from helios.plugins._host.claims import conflict_groups, find_conflicts
from helios.plugins._host.discovery import Candidate
from helios.plugins._host.distinfo import installed_version
from helios.plugins._host.echo import shown
from helios.plugins._host.findings import Finding
from helios.plugins._host.manifest import CORE_DISTRIBUTION, Manifest
from helios.plugins._host.requirements import PackageRequirement
from helios.plugins._host.verdicts import Reason
from helios.plugins.device.probe import DeviceInfo

__all__ = [
    "admits",
    "check_consistency",
    "check_core",
    "check_device",
    "check_packages",
    "check_python",
    "conflict_groups",
    "find_conflicts",
]


def admits(spec: SpecifierSet, version: str) -> bool:
    """Whether ``version`` satisfies ``spec``; installed pre-releases are judged like releases.

    The policy: a pre-release someone installed is accepted when the range would accept it
    with pre-releases allowed, so 0.1.1rc1 satisfies ``>=0.1,<0.2`` but 0.2.0rc1 does not
    satisfy ``<0.2`` (PEP 440 keeps pre-releases of an excluded upper bound excluded).
    """
    try:
        return spec.contains(Version(version), prereleases=True)
    except ValueError:  # InvalidVersion, or a number int() refuses (installed metadata's word)
        return False


def python_version() -> str:
    """The running interpreter's version, e.g. ``3.11.7`` (platform is slow to import)."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def check_consistency(
    candidate: Candidate, manifest: Manifest, core_version: str | None = None
) -> Finding | None:
    """The distribution's entry point and helios-trainer dependency agree with its manifest
    (:mod:`~helios.plugins._host.consistency`; the installed source is read to tell which side
    is wrong, never imported)."""
    entries = [(candidate.entry_name, candidate.entry_value)]
    entries += [tuple(e.partition("=")[::2]) for e in candidate.other_entries]  # type: ignore[misc]
    declared = consistency.Declared(
        candidate.location,
        "metadata",
        tuple((name.strip(), value.strip()) for name, value in entries),
        tuple(candidate.metadata.get("Requires-Dist", [])),
    )
    found = consistency.consistency_findings(
        consistency.Claimed.of(manifest),
        declared,
        classes=lambda path: _installed_source(candidate)(path),  # read only on a mismatch
        core_version=core_version,
        full=False,
    )
    return found[0] if found else None


def _installed_source(candidate: Candidate) -> consistency.ClassLookup:
    """Look classes up in the installed package's files (found, and read, only when asked:
    a consistent plug-in costs no look-up)."""
    return consistency.source_lookup([d.parent for d in candidate.package_dirs])


def check_core(
    manifest: Manifest, core_version: str | None, candidate: Candidate
) -> Finding | None:
    """The installed helios-trainer satisfies ``requires.helios``."""
    if core_version is not None and admits(manifest.requires_helios, core_version):
        return None
    spec = shown(str(manifest.requires_helios))
    found = f"{CORE_DISTRIBUTION} {core_version}" if core_version else "not installed"
    name = shown(candidate.distribution)
    return Finding(
        Reason.INCOMPATIBLE_CORE,
        f"requires {CORE_DISTRIBUTION}{spec}, found {found}",
        required=f"{CORE_DISTRIBUTION}{spec}",
        found=found,
        fix=f"pip install '{CORE_DISTRIBUTION}{spec}', or install a release of "
        f"{name} made for this core: pip install -U {name}",
    )


def check_python(manifest: Manifest, version: str | None = None) -> Finding | None:
    """The running interpreter (or ``version``) satisfies ``requires.python``."""
    version = version or python_version()
    if manifest.requires_python is None or admits(manifest.requires_python, version):
        return None
    spec = shown(str(manifest.requires_python))
    return Finding(
        Reason.INCOMPATIBLE_PYTHON,
        f"requires Python{spec}, found Python {version}",
        required=f"Python{spec}",
        found=f"Python {version}",
        fix=f"run it with a Python that satisfies {spec}",
    )


def check_packages(
    manifest: Manifest,
    version_of: Callable[[str], str | None] = installed_version,
    markers: Mapping[str, str] | None = None,
) -> Finding | None:
    """Every requirement in ``requires.packages`` is installed (metadata only, no import);
    ``markers`` replaces marker variables (a what-if's Python)."""
    missing: list[PackageRequirement] = []
    wrong: list[tuple[PackageRequirement, str]] = []
    for req in manifest.packages:
        if not req.applies(markers):
            continue
        found = version_of(req.name)
        if found is None:
            missing.append(req)
        elif not admits(req.specifier, found):
            wrong.append((req, found))
    if not missing and not wrong:
        return None
    failing = [*missing, *(req for req, _ in wrong)]
    found_text = ", ".join(  # an installed version is another distribution's word: cut it
        [f"{shown(req.name)} not installed" for req in missing]
        + [f"{shown(req.name)} {shown(version)}" for req, version in wrong]
    )
    required = ", ".join(shown(str(req)) for req in failing)
    return Finding(
        Reason.MISSING_PACKAGE if missing else Reason.INCOMPATIBLE_PACKAGE,
        f"requires {required}, found {found_text}",
        required=required,
        found=found_text,
        fix="pip install " + " ".join(f"'{shown(str(req))}'" for req in failing),
    )


def check_device(manifest: Manifest, device: DeviceInfo) -> Finding | None:
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
        return Finding(
            Reason.DEVICE_NO_CUDA_BUILD,
            f"needs a CUDA build of torch, found {found}",
            required="a CUDA build of torch",
            found=found,
            fix="install a CUDA build of torch (pip install torch --index-url "
            "https://download.pytorch.org/whl/cu124, see https://pytorch.org/get-started/)",
        )
    if need.cuda is not None and not admits(need.cuda, device.torch_cuda):
        return Finding(
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


def _gpu_failure(manifest: Manifest, device: DeviceInfo, usable: int) -> Finding:
    need = manifest.device
    plural = "s" if need.min_devices > 1 else ""
    if need.compute_capability is not None and device.gpus:
        wanted = f"{need.min_devices} GPU{plural} with compute capability {need.compute_capability}"
        seen = ", ".join(f"{g.name} ({g.compute_capability})" for g in device.gpus)
        return Finding(
            Reason.DEVICE_COMPUTE_CAPABILITY,
            f"needs {wanted}, found {usable} among: {seen}",
            required=wanted,
            found=seen,
            fix="run on a machine with such a GPU, or check CUDA_VISIBLE_DEVICES",
        )
    found = f"{len(device.gpus)} visible GPU(s)"
    if not device.gpus and device.note:
        found += f" ({device.note})"
    return Finding(
        Reason.DEVICE_NO_GPU,
        f"needs {need.min_devices} visible NVIDIA GPU{plural}, found {found}",
        required=f"{need.min_devices} GPU{plural}",
        found=found,
        fix="run on a machine with an NVIDIA GPU and driver, or check CUDA_VISIBLE_DEVICES",
    )

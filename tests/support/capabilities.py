"""Holding root to permission bits: a read-only folder is writable to root otherwise."""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["held_to_permissions", "run_in_read_only", "without_dac_override"]

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def without_dac_override() -> None:
    """In a child, before exec (``preexec_fn``): drop CAP_DAC_OVERRIDE from the bounding set,
    so that even root is held to a folder's permission bits after exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def held_to_permissions() -> Callable[[], None] | None:
    """The ``preexec_fn`` that makes a child honour permission bits: None unless this is root."""
    return without_dac_override if os.geteuid() == 0 else None


def run_in_read_only(
    tmp_path: Path, below: bool, command: Callable[[Path], list[str]], **kwargs: Any
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run ``command(run_dir)`` held to permission bits, with ``run_dir`` a read-only folder
    (``below``: a folder to make inside one): (the finished process, that folder, run_dir)."""
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    run_dir = read_only / "run" if below else read_only
    read_only.chmod(0o555)
    try:  # as root, only without CAP_DAC_OVERRIDE: root may write into a folder of mode 555
        proc = subprocess.run(
            command(run_dir), capture_output=True, text=True, timeout=300, check=False,
            preexec_fn=held_to_permissions(), **kwargs,
        )  # fmt: skip
    finally:
        read_only.chmod(0o755)
    return proc, read_only, run_dir

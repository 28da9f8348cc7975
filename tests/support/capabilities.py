"""Holding root to permission bits: a read-only folder is writable to root otherwise."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

__all__ = ["held_to_permissions", "without_dac_override"]

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

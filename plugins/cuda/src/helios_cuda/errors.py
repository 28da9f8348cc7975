"""The error of a CUDAPlugin constructed where torch cannot use CUDA."""

from __future__ import annotations

from helios.plugins._host.verdicts import Verdict
from helios.plugins.errors import PluginNotApplicableError

__all__ = ["CUDANotAvailableError"]


class CUDANotAvailableError(PluginNotApplicableError, RuntimeError):
    """``CUDAPlugin()`` where torch has no CUDA build or sees no GPU.

    A :class:`~helios.plugins.errors.PluginNotApplicableError` (its ``verdicts`` hold the
    reason, as the loader would give it) and a :class:`RuntimeError`, what helios-ml's
    ``CUDAPlugin()`` raises without CUDA. Its message says what is missing and the fix.
    """

    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__([verdict])
        self.args = (message,)

"""helios-cuda: the CUDA batch-to-device plug-in for Helios."""

from helios_cuda.errors import CUDANotAvailableError
from helios_cuda.plugin import CUDAPlugin
from helios_cuda.transfer import move_to_device

__all__ = ["CUDANotAvailableError", "CUDAPlugin", "move_to_device"]

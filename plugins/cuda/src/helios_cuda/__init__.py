"""helios-cuda: the CUDA batch-to-device plug-in for Helios."""

from helios_cuda.plugin import CUDAPlugin
from helios_cuda.transfer import move_to_device

__all__ = ["CUDAPlugin", "move_to_device"]

"""Made-up machines for the device probe's callers (the tests run without a GPU)."""

from __future__ import annotations

from helios.plugins.device.probe import DeviceInfo

#: A CPU-only machine with the CPU build of torch and no NVIDIA driver.
NO_GPU = DeviceInfo(
    torch_version="2.13.0+cpu",
    torch_cuda=None,
    driver=None,
    driver_cuda=None,
    gpus=(),
    source="fake (test)",
    note="libnvidia-ml.so.1 not found: no NVIDIA driver",
)


def cuda_missing() -> str | None:
    """Why torch cannot use a CUDA GPU here (for a skip reason), or None when it can.

    torch is imported only when this is called, so importing this module stays torch-free.
    """
    try:
        import torch
    except ImportError:
        return "needs a CUDA GPU: torch is not installed"
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"needs a CUDA GPU: torch {torch.__version__} is a CPU-only build"
    return f"needs a CUDA GPU: torch {torch.__version__} (CUDA {torch.version.cuda}) sees none"

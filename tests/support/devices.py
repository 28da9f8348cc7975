"""Made-up machines for the device probe's callers (the tests run without a GPU)."""

from __future__ import annotations

from helios.plugins.probe import DeviceInfo

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

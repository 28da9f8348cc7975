"""NVML through ctypes: the driver version and the GPUs, without a CUDA context.

Imported by :mod:`helios.plugins.device.probe` only when it really asks the driver.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Sequence
from typing import Any

from helios.plugins.device.info import DriverReport, RawDevice
from helios.plugins.device.visible import visible_gpus

__all__ = ["NVMLError", "cuda_version_string", "load_nvml", "nvml_library_names", "probe_nvml"]


_NAME_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE
_UUID_BUFFER = 96  # NVML_DEVICE_UUID_V2_BUFFER_SIZE
_DRIVER_BUFFER = 80  # NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

_INT_P = ctypes.POINTER(ctypes.c_int)
_UINT_P = ctypes.POINTER(ctypes.c_uint)
_HANDLE_P = ctypes.POINTER(ctypes.c_void_p)
# Declared argument types let the calls below pass c_int/c_uint/c_void_p objects where NVML wants
# pointers (ctypes adds the byref), so a pure-Python fake library can simply set ``.value``.
_SIGNATURES: dict[str, list[Any]] = {
    "nvmlInit_v2": [],
    "nvmlShutdown": [],
    "nvmlSystemGetDriverVersion": [ctypes.c_char_p, ctypes.c_uint],
    "nvmlSystemGetCudaDriverVersion_v2": [_INT_P],
    "nvmlDeviceGetCount_v2": [_UINT_P],
    "nvmlDeviceGetHandleByIndex_v2": [ctypes.c_uint, _HANDLE_P],
    "nvmlDeviceGetName": [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint],
    "nvmlDeviceGetCudaComputeCapability": [ctypes.c_void_p, _INT_P, _INT_P],
    "nvmlDeviceGetUUID": [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint],
    "nvmlErrorString": [ctypes.c_int],
}


class NVMLError(Exception):
    """An NVML call returned an error code; the message names the call and the error."""


def nvml_library_names(platform: str = sys.platform) -> tuple[str, ...]:
    """Where NVML lives on ``platform``, most likely first; empty where there is none."""
    if platform == "win32":
        program_files = os.environ.get("PROGRAMFILES", r"C:\Program Files")
        return ("nvml.dll", rf"{program_files}\NVIDIA Corporation\NVSMI\nvml.dll")
    if platform.startswith("linux"):
        return ("libnvidia-ml.so.1",)
    return ()


def load_nvml(names: Sequence[str] | None = None) -> Any:
    """Load the NVML library and declare its signatures; :class:`OSError` says what failed."""
    names = nvml_library_names() if names is None else tuple(names)
    if not names:
        raise OSError(f"NVML is not available on {sys.platform}: no NVIDIA driver")
    errors: list[str] = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
            continue
        _declare(lib, name)
        return lib
    if all(_is_missing_file(error) for error in errors):
        raise OSError(f"{names[0]} not found: no NVIDIA driver")
    raise OSError(f"{names[0]} could not be loaded: {errors[-1]}")


def _is_missing_file(error: str) -> bool:
    return any(s in error for s in ("No such file", "not found", "Could not find"))


def _declare(lib: Any, name: str) -> None:
    for function, argtypes in _SIGNATURES.items():
        try:
            getattr(lib, function).argtypes = argtypes
        except AttributeError:
            raise OSError(f"{name} lacks {function}: the NVIDIA driver is too old") from None
    lib.nvmlErrorString.restype = ctypes.c_char_p


def probe_nvml(lib: Any, visible: str | None) -> DriverReport:
    """Ask a loaded NVML ``lib`` for the driver and the GPUs ``visible`` (CUDA_VISIBLE_DEVICES)
    selects. Every failure becomes the report's ``note``; this never raises."""
    try:
        _call(lib, "nvmlInit_v2")
    except Exception as exc:  # the probe must never raise
        return DriverReport(note=_failure(exc))
    try:
        return _inspect(lib, visible)
    except Exception as exc:
        return DriverReport(note=_failure(exc))
    finally:
        with contextlib.suppress(Exception):
            lib.nvmlShutdown()


def _inspect(lib: Any, visible: str | None) -> DriverReport:
    driver = _read_string(lib, "nvmlSystemGetDriverVersion", _DRIVER_BUFFER)
    version = ctypes.c_int()
    _call(lib, "nvmlSystemGetCudaDriverVersion_v2", version)
    driver_cuda = cuda_version_string(version.value)
    try:
        devices = _devices(lib)
    except Exception as exc:
        return DriverReport(driver, driver_cuda, (), "nvml", _failure(exc))
    gpus, note = visible_gpus(devices, visible)
    return DriverReport(driver, driver_cuda, gpus, "nvml", note)


def _devices(lib: Any) -> list[RawDevice]:
    count = ctypes.c_uint()
    _call(lib, "nvmlDeviceGetCount_v2", count)
    return [_device(lib, index) for index in range(count.value)]


def _device(lib: Any, index: int) -> RawDevice:
    handle = ctypes.c_void_p()
    _call(lib, "nvmlDeviceGetHandleByIndex_v2", index, handle)
    major, minor = ctypes.c_int(), ctypes.c_int()
    _call(lib, "nvmlDeviceGetCudaComputeCapability", handle, major, minor)
    return RawDevice(
        name=_read_string(lib, "nvmlDeviceGetName", _NAME_BUFFER, handle),
        compute_capability=f"{major.value}.{minor.value}",
        uuid=_read_string(lib, "nvmlDeviceGetUUID", _UUID_BUFFER, handle),
    )


def _read_string(lib: Any, function: str, size: int, *args: Any) -> str:
    buffer = ctypes.create_string_buffer(size)
    _call(lib, function, *args, buffer, size)
    return buffer.value.decode("utf-8", "replace")


def _call(lib: Any, function: str, *args: Any) -> None:
    code = int(getattr(lib, function)(*args))
    if code != 0:
        raise NVMLError(f"{function} failed: {_error_text(lib, code)}")


def _error_text(lib: Any, code: int) -> str:
    try:
        text = lib.nvmlErrorString(code)
    except Exception:
        text = None
    if isinstance(text, bytes) and text:
        return f"{text.decode('utf-8', 'replace')} (NVML error {code})"
    return f"NVML error {code}"


def _failure(exc: Exception) -> str:
    if isinstance(exc, NVMLError):
        return str(exc)
    if isinstance(exc, AttributeError):
        return f"NVML lacks a function: {exc}"
    return f"NVML query failed: {type(exc).__name__}: {exc}"


def cuda_version_string(version: int) -> str:
    """NVML's integer CUDA version as "major.minor": 12040 -> "12.4"."""
    return f"{version // 1000}.{version % 1000 // 10}"

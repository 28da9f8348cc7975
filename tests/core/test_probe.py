"""The device probe: NVML parsing (through a fake library), CUDA_VISIBLE_DEVICES, the fake
machine, torch's version.py, the cache, and that probing never imports torch."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helios.plugins import probe_device
from helios.plugins.device import nvml as binding
from helios.plugins.device import probe
from helios.plugins.device.probe import FAKE_ENV, GPU, DeviceInfo

CORE_SRC = Path(probe.__file__).resolve().parents[2]

UUID_A = "GPU-aaaa1111-0000-0000-0000-000000000000"
UUID_B = "GPU-bbbb2222-0000-0000-0000-000000000000"
UUID_C = "GPU-bbbb3333-0000-0000-0000-000000000000"
MACHINE = [
    ("NVIDIA A100-SXM4-80GB", (8, 0), UUID_A),
    ("NVIDIA A10", (8, 6), UUID_B),
    ("Tesla T4", (7, 5), UUID_C),
]
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_DRIVER_NOT_LOADED = 9


class FakeNVML:
    """A fake of the loaded libnvidia-ml: the same function names and C calling shape (ctypes
    out-parameters whose ``.value`` it sets, return codes), with a made-up machine behind it."""

    def __init__(
        self,
        gpus: list[tuple[str, tuple[int, int], str]] = MACHINE,
        driver: str = "550.54.15",
        cuda: int = 12040,
        fail: dict[str, int] | None = None,
    ) -> None:
        self.gpus = gpus
        self.driver = driver
        self.cuda = cuda
        self.fail = fail or {}
        self.calls: list[str] = []

    def _enter(self, name: str) -> int:
        self.calls.append(name)
        return self.fail.get(name, 0)

    def _copy(self, buffer: Any, size: int, text: str) -> int:
        data = text.encode()
        if len(data) + 1 > size:
            return NVML_ERROR_INSUFFICIENT_SIZE
        buffer.value = data
        return 0

    def _gpu(self, handle: ctypes.c_void_p) -> tuple[str, tuple[int, int], str]:
        assert isinstance(handle, ctypes.c_void_p)
        return self.gpus[(handle.value or 0) - 1]

    def nvmlErrorString(self, code: int) -> bytes:
        return {NVML_ERROR_DRIVER_NOT_LOADED: b"Driver Not Loaded"}.get(code, b"")

    def nvmlInit_v2(self) -> int:
        return self._enter("nvmlInit_v2")

    def nvmlShutdown(self) -> int:
        return self._enter("nvmlShutdown")

    def nvmlSystemGetDriverVersion(self, buffer: Any, size: int) -> int:
        return self._enter("nvmlSystemGetDriverVersion") or self._copy(buffer, size, self.driver)

    def nvmlSystemGetCudaDriverVersion_v2(self, version: ctypes.c_int) -> int:
        version.value = self.cuda
        return self._enter("nvmlSystemGetCudaDriverVersion_v2")

    def nvmlDeviceGetCount_v2(self, count: ctypes.c_uint) -> int:
        count.value = len(self.gpus)
        return self._enter("nvmlDeviceGetCount_v2")

    def nvmlDeviceGetHandleByIndex_v2(self, index: int, handle: ctypes.c_void_p) -> int:
        handle.value = index + 1
        return self._enter("nvmlDeviceGetHandleByIndex_v2")

    def nvmlDeviceGetName(self, handle: ctypes.c_void_p, buffer: Any, size: int) -> int:
        code = self._enter("nvmlDeviceGetName")
        return code or self._copy(buffer, size, self._gpu(handle)[0])

    def nvmlDeviceGetCudaComputeCapability(
        self, handle: ctypes.c_void_p, major: ctypes.c_int, minor: ctypes.c_int
    ) -> int:
        major.value, minor.value = self._gpu(handle)[1]
        return self._enter("nvmlDeviceGetCudaComputeCapability")

    def nvmlDeviceGetUUID(self, handle: ctypes.c_void_p, buffer: Any, size: int) -> int:
        code = self._enter("nvmlDeviceGetUUID")
        return code or self._copy(buffer, size, self._gpu(handle)[2])


@pytest.fixture(autouse=True)
def clean_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fake machine and no CUDA_VISIBLE_DEVICES unless a test sets them (each test's plug-in
    host, from tests/conftest.py, has not probed yet)."""
    monkeypatch.delenv(FAKE_ENV, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def gpus(*specs: tuple[str, str]) -> tuple[GPU, ...]:
    return tuple(GPU(i, name, capability) for i, (name, capability) in enumerate(specs))


# --------------------------------------------------------------------------- version formatting


@pytest.mark.parametrize(
    ("number", "text"),
    [(12040, "12.4"), (12010, "12.1"), (11080, "11.8"), (10020, "10.2"), (13000, "13.0")],
)
def test_cuda_version_string(number: int, text: str) -> None:
    assert binding.cuda_version_string(number) == text


# --------------------------------------------------------------------------- CUDA_VISIBLE_DEVICES

UUIDS = [UUID_A, UUID_B, UUID_C]


@pytest.mark.parametrize(
    ("visible", "chosen"),
    [
        (None, [0, 1, 2]),
        ("", []),
        ("0", [0]),
        ("2,0", [2, 0]),
        (" 1 , 2 ", [1, 2]),
        ("1,7,0", [1]),  # an ordinal past the end ends the list
        ("0,-1,2", [0]),  # so does a negative one
        ("1,x,0", [1]),  # and anything else that is not an ordinal
        ("1gpu,2", [1, 2]),  # read like strtoul: leading digits count
        ("+2", [2]),
        ("0,1,0", []),  # naming a device twice hides all
        ("-1", []),
        ("GPU-aaaa", [0]),
        ("GPU-bbbb3,GPU-AAAA1111", [2, 0]),  # UUID prefixes, case-insensitive
        ("GPU-bbbb,0", []),  # an ambiguous prefix is invalid
        (f"{UUID_B},1", []),  # the same device by UUID and by ordinal
        ("GPU-ffff", []),
        ("0,MIG-1234", [0]),  # MIG UUIDs are not resolved
    ],
)
def test_select_visible(visible: str | None, chosen: list[int]) -> None:
    assert probe.select_visible(UUIDS, visible) == chosen


def test_select_visible_without_devices() -> None:
    assert probe.select_visible([], None) == []
    assert probe.select_visible([], "0") == []


@pytest.mark.parametrize(
    ("visible", "chosen"),
    [
        ("1" * 5000, []),  # far past any device, and never handed to int()
        ("0" * 5000 + "2,0", [2, 0]),  # leading zeros still read like strtoul
        ("1," + "9" * 20, [1]),
        ("0," + ",".join(["x"] * 100_000), [0]),
    ],
)
def test_select_visible_with_huge_values(visible: str, chosen: list[int]) -> None:
    assert probe.select_visible(UUIDS, visible) == chosen


def _select_visible_by_scanning(uuids: list[str], visible: str) -> list[int]:
    """CUDA's rule read literally (each entry scans every device): the reference."""
    chosen: list[int] = []
    for raw in visible.split(","):
        entry = raw.strip()
        if entry[:4].upper() == "GPU-":
            hits = [i for i, u in enumerate(uuids) if u.lower().startswith(entry.lower())]
            index = hits[0] if len(hits) == 1 else None
        else:
            digits = re.match(r"\+?(\d+)", entry)
            index = int(digits.group(1)) if digits else None
            index = index if index is not None and index < len(uuids) else None
        if index is None:
            break
        if index in chosen:
            return []
        chosen.append(index)
    return chosen


uuid_prefixes = st.sampled_from(["GPU-", "gpu-", "GPU-0", "GPU-00", "GPU-01", "GPU-1", "GPU-a"])


@given(
    uuids=st.lists(st.text(alphabet="01aA-", max_size=6).map(lambda t: "GPU-" + t), max_size=6),
    entries=st.lists(
        st.one_of(
            st.integers(0, 8).map(str),
            st.tuples(uuid_prefixes, st.text(alphabet="01aA", max_size=3)).map("".join),
            st.sampled_from(["", " 1 ", "x", "-1", "+0", "MIG-1"]),
        ),
        max_size=8,
    ),
)
def test_select_visible_matches_the_literal_rule(uuids: list[str], entries: list[str]) -> None:
    visible = ",".join(entries)
    assert probe.select_visible(uuids, visible) == _select_visible_by_scanning(uuids, visible)


def test_select_visible_with_many_devices() -> None:
    uuids = [f"GPU-{i:08x}-0000-0000-0000-{i:012d}" for i in range(5000)]
    by_prefix = ",".join(u[:12] for u in reversed(uuids))
    assert probe.select_visible(uuids, by_prefix) == list(reversed(range(5000)))
    by_ordinal = ",".join(str(i) for i in range(5000)) + ",4999"
    assert probe.select_visible(uuids, by_ordinal) == []  # the last one names a device twice


def test_a_long_cuda_visible_devices_is_cut_in_the_note() -> None:
    device = probe.RawDevice("A100", "8.0", UUID_A)
    _, note = probe.visible_gpus([device], "7" * 10_000)
    assert note == (
        "CUDA_VISIBLE_DEVICES='" + "7" * 80 + "'... (10,000 characters) hides the machine's 1 GPU"
    )


def test_control_characters_in_cuda_visible_devices_are_escaped_in_the_note() -> None:
    device = probe.RawDevice("A100", "8.0", UUID_A)
    _, note = probe.visible_gpus([device], "x\x1b[2J")
    assert note == "CUDA_VISIBLE_DEVICES='x\\x1b[2J' hides the machine's 1 GPU"


# --------------------------------------------------------------------------- NVML through FakeNVML


def test_probe_nvml_reads_driver_and_every_gpu() -> None:
    nvml = FakeNVML()
    report = binding.probe_nvml(nvml, None)
    assert report == probe.DriverReport(
        driver="550.54.15",
        driver_cuda="12.4",
        gpus=gpus(("NVIDIA A100-SXM4-80GB", "8.0"), ("NVIDIA A10", "8.6"), ("Tesla T4", "7.5")),
        source="nvml",
        note="",
    )
    assert nvml.calls[0] == "nvmlInit_v2"
    assert nvml.calls[-1] == "nvmlShutdown"


def test_probe_nvml_applies_cuda_visible_devices() -> None:
    report = binding.probe_nvml(FakeNVML(), "2,GPU-aaaa")
    assert report.gpus == gpus(("Tesla T4", "7.5"), ("NVIDIA A100-SXM4-80GB", "8.0"))
    assert report.note == ""


def test_probe_nvml_explains_hidden_gpus() -> None:
    report = binding.probe_nvml(FakeNVML(), "")
    assert report.gpus == ()
    assert report.driver == "550.54.15"
    assert report.source == "nvml"
    assert report.note == "CUDA_VISIBLE_DEVICES='' hides the machine's 3 GPUs"


def test_probe_nvml_without_gpus() -> None:
    report = binding.probe_nvml(FakeNVML(gpus=[]), None)
    assert (report.gpus, report.source) == ((), "nvml")
    assert report.note == "the NVIDIA driver reports no GPU"


def test_probe_nvml_init_failure_becomes_a_note() -> None:
    nvml = FakeNVML(fail={"nvmlInit_v2": NVML_ERROR_DRIVER_NOT_LOADED})
    report = binding.probe_nvml(nvml, None)
    assert report == probe.DriverReport(
        source="none", note="nvmlInit_v2 failed: Driver Not Loaded (NVML error 9)"
    )
    assert nvml.calls == ["nvmlInit_v2"]  # no shutdown without a successful init


def test_probe_nvml_driver_failure_becomes_a_note() -> None:
    nvml = FakeNVML(fail={"nvmlSystemGetDriverVersion": NVML_ERROR_UNINITIALIZED})
    report = binding.probe_nvml(nvml, None)
    assert report == probe.DriverReport(
        source="none", note="nvmlSystemGetDriverVersion failed: NVML error 1"
    )
    assert nvml.calls[-1] == "nvmlShutdown"


def test_probe_nvml_device_failure_keeps_the_driver() -> None:
    nvml = FakeNVML(fail={"nvmlDeviceGetUUID": NVML_ERROR_UNINITIALIZED})
    report = binding.probe_nvml(nvml, None)
    assert report == probe.DriverReport(
        driver="550.54.15",
        driver_cuda="12.4",
        gpus=(),
        source="nvml",
        note="nvmlDeviceGetUUID failed: NVML error 1",
    )
    assert nvml.calls[-1] == "nvmlShutdown"


def test_probe_nvml_reports_a_too_small_buffer() -> None:
    report = binding.probe_nvml(FakeNVML(gpus=[("X" * 200, (9, 0), UUID_A)]), None)
    assert report.note == "nvmlDeviceGetName failed: NVML error 7"


def test_probe_nvml_missing_function_becomes_a_note() -> None:
    class OldFakeNVML(FakeNVML):
        def __getattribute__(self, name: str) -> Any:
            if name == "nvmlSystemGetCudaDriverVersion_v2":
                raise AttributeError(name)
            return super().__getattribute__(name)

    report = binding.probe_nvml(OldFakeNVML(), None)
    assert report.gpus == ()
    assert report.note == "NVML lacks a function: nvmlSystemGetCudaDriverVersion_v2"


def test_probe_nvml_survives_any_exception() -> None:
    class BrokenFakeNVML(FakeNVML):
        def nvmlDeviceGetCount_v2(self, count: ctypes.c_uint) -> int:
            raise RuntimeError("boom")

    report = binding.probe_nvml(BrokenFakeNVML(), None)
    assert report.note == "NVML query failed: RuntimeError: boom"
    assert report.driver == "550.54.15"


# --------------------------------------------------------------------------- loading NVML


def test_nvml_library_names() -> None:
    assert binding.nvml_library_names("linux") == ("libnvidia-ml.so.1",)
    assert binding.nvml_library_names("darwin") == ()
    windows = binding.nvml_library_names("win32")
    assert windows[0] == "nvml.dll"
    assert windows[1].endswith(r"\NVIDIA Corporation\NVSMI\nvml.dll")


def test_load_nvml_missing_library(tmp_path: Path) -> None:
    missing = str(tmp_path / "libnvidia-ml.so.1")
    with pytest.raises(OSError, match=f"^{re.escape(missing)} not found: no NVIDIA driver$"):
        binding.load_nvml([missing])


def test_load_nvml_unloadable_library(tmp_path: Path) -> None:
    bogus = tmp_path / "libnvidia-ml.so.1"
    bogus.write_text("not a shared library")
    with pytest.raises(OSError, match=f"^{re.escape(str(bogus))} could not be loaded: "):
        binding.load_nvml([str(bogus)])


def test_load_nvml_without_candidates() -> None:
    with pytest.raises(
        OSError, match=f"^NVML is not available on {re.escape(sys.platform)}: no NVIDIA driver$"
    ):
        binding.load_nvml([])


NVML_STUB_C = r"""
#include <string.h>
int stub_init_result = 0;
static char devices[2];
static int put(char *out, unsigned size, const char *text) {
    if (strlen(text) + 1 > size) return 7;
    strcpy(out, text);
    return 0;
}
static int which(void *handle) { return (int)((char *)handle - devices); }
const char *nvmlErrorString(int code) { return code == 9 ? "Driver Not Loaded" : "Unknown"; }
int nvmlInit_v2(void) { return stub_init_result; }
int nvmlShutdown(void) { return 0; }
int nvmlSystemGetDriverVersion(char *out, unsigned size) { return put(out, size, "560.35.03"); }
int nvmlSystemGetCudaDriverVersion_v2(int *version) { *version = 12060; return 0; }
int nvmlDeviceGetCount_v2(unsigned *count) { *count = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **handle) {
    if (index > 1) return 2;
    *handle = &devices[index];
    return 0;
}
int nvmlDeviceGetName(void *handle, char *out, unsigned size) {
    return put(out, size, which(handle) ? "NVIDIA L4" : "NVIDIA H100 80GB HBM3");
}
int nvmlDeviceGetCudaComputeCapability(void *handle, int *major, int *minor) {
    *major = which(handle) ? 8 : 9;
    *minor = which(handle) ? 9 : 0;
    return 0;
}
int nvmlDeviceGetUUID(void *handle, char *out, unsigned size) {
    return put(out, size, which(handle) ? "GPU-2222" : "GPU-1111");
}
"""


def compile_library(tmp_path: Path, name: str, source: str) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux to build a stand-in libnvidia-ml")
    (tmp_path / f"{name}.c").write_text(source)
    library = tmp_path / f"{name}.so"
    command = [compiler, "-shared", "-fPIC", "-o", str(library), str(tmp_path / f"{name}.c")]
    subprocess.run(command, check=True, capture_output=True)
    return library


def test_ctypes_calls_against_a_compiled_stand_in(tmp_path: Path) -> None:
    """The real ctypes path (declared signatures, byref, buffers) against a C stand-in."""
    lib = binding.load_nvml([str(compile_library(tmp_path, "nvml_stub", NVML_STUB_C))])
    report = binding.probe_nvml(lib, "1,0")
    assert report == probe.DriverReport(
        driver="560.35.03",
        driver_cuda="12.6",
        gpus=gpus(("NVIDIA L4", "8.9"), ("NVIDIA H100 80GB HBM3", "9.0")),
        source="nvml",
    )
    ctypes.c_int.in_dll(lib, "stub_init_result").value = NVML_ERROR_DRIVER_NOT_LOADED
    report = binding.probe_nvml(lib, None)
    assert report.note == "nvmlInit_v2 failed: Driver Not Loaded (NVML error 9)"


def test_load_nvml_rejects_a_library_without_every_function(tmp_path: Path) -> None:
    library = compile_library(tmp_path, "old_nvml", "int nvmlInit_v2(void) { return 0; }\n")
    expected = f"{library} lacks nvmlShutdown: the NVIDIA driver is too old"
    with pytest.raises(OSError, match=f"^{re.escape(expected)}$"):
        binding.load_nvml([str(library)])


# --------------------------------------------------------------------------- torch's version.py

CPU_VERSION_PY = """\
from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'rocm', 'xpu']
__version__ = '2.13.0+cpu'
debug = False
cuda: Optional[str] = None
git_version = '0123456789abcdef0123456789abcdef01234567'
hip: Optional[str] = None
"""
CUDA_VERSION_PY = CPU_VERSION_PY.replace("__version__ = '2.13.0+cpu'", "__version__ = '2.5.1'")
CUDA_VERSION_PY = CUDA_VERSION_PY.replace(
    "cuda: Optional[str] = None", "cuda: Optional[str] = '12.1'"
)


@pytest.mark.parametrize(
    ("text", "cuda"),
    [
        (CPU_VERSION_PY, None),
        (CUDA_VERSION_PY, "12.1"),
        ("cuda = '11.8'\n", "11.8"),
        ("cuda = '11.8'\ncuda = None\n", None),  # the last assignment wins
        ("cuda = hip = '12.4'\n", "12.4"),
        ("cuda: str\n", None),
        ("cuda = get_cuda()\n", None),  # never executed
        ("def f():\n    cuda = '12.1'\n", None),  # module level only
        ("__version__ = '2.5.1'\n", None),
        ("cuda = '12.1\n", None),  # a syntax error
    ],
)
def test_read_torch_cuda(tmp_path: Path, text: str, cuda: str | None) -> None:
    path = tmp_path / "version.py"
    path.write_text(text)
    assert probe.read_torch_cuda(path) == cuda


def test_read_torch_cuda_without_the_file(tmp_path: Path) -> None:
    assert probe.read_torch_cuda(tmp_path / "version.py") is None


def test_read_torch_cuda_reads_only_a_small_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "version.py"
    os.mkfifo(fifo)  # no writer: reading it would block for ever
    assert probe.read_torch_cuda(fifo) is None
    huge = tmp_path / "huge.py"
    huge.write_text("cuda = '12.1'\n" + "#" * probe.VERSION_FILE_LIMIT)
    assert probe.read_torch_cuda(huge) is None
    deep = tmp_path / "deep.py"
    deep.write_text("cuda = " + "(" * 5000 + "'12.1'" + ")" * 5000 + "\n")
    assert probe.read_torch_cuda(deep) is None


def write_torch(
    root: Path, version_py: str | None, dist_version: str | None, package: bool = True
) -> None:
    """A stand-in torch installation in ``root`` whose ``__init__`` refuses to be imported."""
    if package:
        (root / "torch").mkdir(parents=True)
        (root / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')\n")
        if version_py is not None:
            (root / "torch" / "version.py").write_text(version_py)
    if dist_version is not None:
        info = root / f"torch-{dist_version}.dist-info"
        info.mkdir(parents=True)
        info.joinpath("METADATA").write_text(
            f"Metadata-Version: 2.1\nName: torch\nVersion: {dist_version}\n"
        )


@pytest.fixture
def torch_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A sys.path entry where a stand-in torch goes; a real imported torch is set aside."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_installed_torch_from_metadata_and_version_py(torch_path: Path) -> None:
    write_torch(torch_path, CUDA_VERSION_PY, "2.5.1+cu121")
    assert probe.installed_torch_version() == "2.5.1+cu121"
    assert probe.torch_version_file() == torch_path / "torch" / "version.py"
    assert probe.installed_torch_cuda() == "12.1"


def test_installed_torch_cpu_build(torch_path: Path) -> None:
    write_torch(torch_path, CPU_VERSION_PY, "2.13.0+cpu")
    assert probe.installed_torch_version() == "2.13.0+cpu"
    assert probe.installed_torch_cuda() is None


def test_torch_version_file_falls_back_to_find_spec(
    torch_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metadata says torch lives elsewhere (say, an editable install): find_spec finds it."""
    write_torch(torch_path, None, "2.5.1", package=False)
    package_root = torch_path / "elsewhere"
    write_torch(package_root, CUDA_VERSION_PY, None)
    monkeypatch.syspath_prepend(str(package_root))
    assert probe.torch_version_file() == package_root / "torch" / "version.py"
    assert probe.installed_torch_cuda() == "12.1"
    assert "torch" not in sys.modules


# --------------------------------------------------------------------------- HELIOS_FAKE_DEVICE

GOOD = (
    '{"torch_cuda": "12.1", "gpus": ["8.0", "8.6"], "driver": "550.54.15", '
    '"driver_cuda": "12.4", "torch_version": "2.5.1+cu121"}'
)


def test_fake_device_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, GOOD)
    assert probe_device() == DeviceInfo(
        torch_version="2.5.1+cu121",
        torch_cuda="12.1",
        driver="550.54.15",
        driver_cuda="12.4",
        gpus=gpus(("Fake GPU", "8.0"), ("Fake GPU", "8.6")),
        source="fake (HELIOS_FAKE_DEVICE)",
        note="",
    )


def test_fake_device_reads_the_real_torch_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "installed_torch_version", lambda: "9.9.9")
    monkeypatch.setenv(FAKE_ENV, '{"gpus": ["9.0"]}')
    info = probe_device()
    assert (info.torch_version, info.torch_cuda, info.driver, info.driver_cuda) == (
        "9.9.9",
        None,
        None,
        None,
    )
    assert info.gpus == gpus(("Fake GPU", "9.0"))


def test_fake_device_without_torch_or_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, '{"torch_version": null}')
    info = probe_device()
    assert (info.torch_version, info.gpus) == (None, ())
    assert info.note == "HELIOS_FAKE_DEVICE lists no GPU"
    assert info.describe() == (
        "torch not installed; no GPU (HELIOS_FAKE_DEVICE lists no GPU) [fake (HELIOS_FAKE_DEVICE)]"
    )


def test_fake_device_applies_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, '{"gpus": ["7.5", "8.0", "9.0"]}')
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,1")
    assert probe_device().gpus == gpus(("Fake GPU", "9.0"), ("Fake GPU", "8.0"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    info = probe_device(refresh=True)
    assert info.gpus == ()
    assert info.note == "CUDA_VISIBLE_DEVICES='' hides the machine's 3 GPUs"


def test_blank_fake_device_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, "  ")
    monkeypatch.setattr(binding, "load_nvml", lambda: FakeNVML())
    assert probe_device().source == "nvml"


GOOD_VALUE = (
    "A good value: HELIOS_FAKE_DEVICE='"
    '{"torch_cuda": "12.1", "gpus": ["8.0", "8.6"], "driver": "550.54.15", '
    '"driver_cuda": "12.4", "torch_version": "2.5.1+cu121"}\''
)


def test_fake_device_error_text_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, '{"gpus": "8.0"}')
    expected = (
        'HELIOS_FAKE_DEVICE: expected "gpus" to be a list of compute capabilities such as '
        '["8.0", "8.6"], found string "8.0". A good value: HELIOS_FAKE_DEVICE=\'{"torch_cuda": '
        '"12.1", "gpus": ["8.0", "8.6"], "driver": "550.54.15", "driver_cuda": "12.4", '
        '"torch_version": "2.5.1+cu121"}\''
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        probe_device()


@pytest.mark.parametrize(
    ("value", "expected_found"),
    [
        (
            "gpus=8.0",
            "expected a JSON object, found 'gpus=8.0', which is not JSON "
            "(Expecting value at char 0)",
        ),
        ('["8.0"]', 'expected a JSON object, found array ["8.0"]'),
        ("null", "expected a JSON object, found null"),
        (
            '{"gpu": ["8.0"]}',
            "expected only the keys torch_version, torch_cuda, driver, driver_cuda, gpus, "
            "found the key 'gpu'",
        ),
        (
            '{"torch_cuda": 12.1}',
            'expected "torch_cuda" to be a version such as "12.1" or null, found number 12.1',
        ),
        (
            '{"driver_cuda": "twelve"}',
            'expected "driver_cuda" to be a version such as "12.1" or null, found string "twelve"',
        ),
        (
            '{"driver": 550}',
            'expected "driver" to be a non-empty string or null, found number 550',
        ),
        (
            '{"torch_version": ""}',
            'expected "torch_version" to be a non-empty string or null, found string ""',
        ),
        (
            '{"gpus": {"0": "8.0"}}',
            'expected "gpus" to be a list of compute capabilities such as ["8.0", "8.6"], '
            'found object {"0": "8.0"}',
        ),
        (
            '{"gpus": ["8.0", 8.6]}',
            'expected "gpus" to be a list of compute capabilities such as ["8.0", "8.6"], '
            "found an entry number 8.6",
        ),
        (
            '{"gpus": ["sm_80"]}',
            'expected "gpus" to be a list of compute capabilities such as ["8.0", "8.6"], '
            'found an entry string "sm_80"',
        ),
        (
            '{"gpus": [true]}',
            'expected "gpus" to be a list of compute capabilities such as ["8.0", "8.6"], '
            "found an entry boolean true",
        ),
    ],
)
def test_fake_device_errors(
    monkeypatch: pytest.MonkeyPatch, value: str, expected_found: str
) -> None:
    monkeypatch.setenv(FAKE_ENV, value)
    expected = f"HELIOS_FAKE_DEVICE: {expected_found}. {GOOD_VALUE}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        probe_device()
    monkeypatch.setenv(FAKE_ENV, '{"gpus": ["8.0"]}')
    assert probe_device().gpus == gpus(("Fake GPU", "8.0"))  # a failed probe is not kept


@pytest.mark.parametrize(
    ("value", "expected_found"),
    [
        (
            "[" * 5000,
            "expected a JSON object nested at most 4 levels deep, found a value nested 5000 "
            "levels deep ('" + "[" * 80 + "'... (5,000 characters))",
        ),
        (
            '{"gpus": [[[["8.0"]]]]}',
            "expected a JSON object nested at most 4 levels deep, found a value nested 5 levels "
            """deep ('{"gpus": [[[["8.0"]]]]}')""",
        ),
        (
            '{"gpus": [' + "1" * 5000 + "]}",
            "expected numbers of at most 32 characters, found a number of 5000 characters ("
            + "1" * 80
            + "... (5,000 characters))",
        ),
        (
            '{"torch_cuda": 1.' + "5" * 40 + "}",
            "expected numbers of at most 32 characters, found a number of 42 characters (1."
            + "5" * 40
            + ")",
        ),
        (
            '{"gpus": []}' + " " * 20_000,  # good JSON, but too long to parse at all
            "expected a JSON object of at most 16384 characters, found 20012 characters "
            """('{"gpus": []}""" + " " * 68 + "'... (20,012 characters))",
        ),
        (
            '{"driver": "' + "5" * 100 + '"}',
            'expected "driver" to be at most 64 characters long, found 100 characters (string "'
            + "5" * 79
            + "... (102 characters))",
        ),
        (
            '{"gpus": "' + "8" * 100 + '"}',
            'expected "gpus" to be a list of compute capabilities such as ["8.0", "8.6"], '
            'found string "' + "8" * 79 + "... (102 characters)",
        ),
        (
            "gpus=" + "8" * 100,
            "expected a JSON object, found '" + "gpus=" + "8" * 75 + "'... (105 characters), which "
            "is not JSON "
            "(Expecting value at char 0)",
        ),
    ],
)
def test_hostile_fake_device_values(
    monkeypatch: pytest.MonkeyPatch, value: str, expected_found: str
) -> None:
    monkeypatch.setenv(FAKE_ENV, value)
    expected = f"HELIOS_FAKE_DEVICE: {expected_found}. {GOOD_VALUE}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        probe_device()


def test_brackets_inside_fake_strings_are_not_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, '{"driver": "[[[[[\\"{{{{{", "gpus": ["8.0"]}')
    assert probe_device().driver == '[[[[["{{{{{'


def test_the_example_in_the_error_is_good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, probe.FAKE_EXAMPLE)
    assert probe_device().torch_cuda == "12.1"


# --------------------------------------------------------------------------- probe_device, cache


def test_probe_device_uses_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binding, "load_nvml", lambda: FakeNVML())
    monkeypatch.setattr(probe, "installed_torch_version", lambda: "2.5.1+cu121")
    monkeypatch.setattr(probe, "installed_torch_cuda", lambda: "12.1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    info = probe_device()
    assert info == DeviceInfo(
        torch_version="2.5.1+cu121",
        torch_cuda="12.1",
        driver="550.54.15",
        driver_cuda="12.4",
        gpus=gpus(("NVIDIA A10", "8.6")),
        source="nvml",
    )
    assert info.describe() == (
        "torch 2.5.1+cu121 (CUDA 12.1); NVIDIA driver 550.54.15 (CUDA 12.4); NVIDIA A10 (8.6)"
    )


def test_probe_device_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_driver() -> Any:
        raise OSError("libnvidia-ml.so.1 not found: no NVIDIA driver")

    monkeypatch.setattr(binding, "load_nvml", no_driver)
    monkeypatch.setattr(probe, "installed_torch_version", lambda: "2.13.0+cpu")
    monkeypatch.setattr(probe, "installed_torch_cuda", lambda: None)
    info = probe_device()
    assert info == DeviceInfo(
        torch_version="2.13.0+cpu",
        torch_cuda=None,
        driver=None,
        driver_cuda=None,
        gpus=(),
        source="none",
        note="libnvidia-ml.so.1 not found: no NVIDIA driver",
    )
    assert info.describe() == (
        "torch 2.13.0+cpu (CPU build); no GPU (libnvidia-ml.so.1 not found: no NVIDIA driver)"
    )


def test_probe_device_never_raises_on_this_machine() -> None:
    info = probe_device()
    assert info.source in {"nvml", "none"}
    assert info.gpus or info.note


def test_probe_device_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_ENV, '{"gpus": ["8.0"], "torch_version": "2.5.1"}')
    first = probe_device()
    monkeypatch.setenv(FAKE_ENV, '{"gpus": [], "torch_version": "2.5.1"}')
    assert probe_device() is first
    fresh = probe_device(refresh=True)
    assert fresh.gpus == ()
    assert probe_device() is fresh


def test_to_json_round_trips_through_json() -> None:
    info = DeviceInfo(
        torch_version="2.5.1+cu121",
        torch_cuda="12.1",
        driver="550.54.15",
        driver_cuda="12.4",
        gpus=gpus(("NVIDIA H100", "9.0")),
        source="nvml",
    )
    assert json.loads(json.dumps(info.to_json())) == {
        "torch_version": "2.5.1+cu121",
        "torch_cuda": "12.1",
        "driver": "550.54.15",
        "driver_cuda": "12.4",
        "gpus": [{"index": 0, "name": "NVIDIA H100", "compute_capability": "9.0"}],
        "source": "nvml",
        "note": "",
    }


def test_describe_groups_identical_gpus() -> None:
    info = DeviceInfo(
        torch_version=None,
        torch_cuda="12.1",
        driver="550.54.15",
        driver_cuda=None,
        gpus=gpus(*[("NVIDIA H100", "9.0")] * 8, ("NVIDIA L4", "8.9")),
        source="nvml",
    )
    assert info.describe() == (
        "torch (not installed) (CUDA 12.1); NVIDIA driver 550.54.15; "
        "8 x NVIDIA H100 (9.0), NVIDIA L4 (8.9)"
    )


# --------------------------------------------------------------------------- the torch-free floor


def test_probing_imports_neither_torch_nor_numpy(tmp_path: Path) -> None:
    """In a fresh interpreter, with a torch whose ``__init__`` raises: probing reads its
    metadata and version.py, and leaves torch (and numpy) out of sys.modules."""
    write_torch(tmp_path, CUDA_VERSION_PY, "2.5.1+cu121")
    script = (
        "import json, sys\n"
        "import helios.plugins.device.probe as p\n"
        "info = p.probe_machine()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy'))\n"
        "print(json.dumps({'info': info.to_json(), 'heavy': heavy}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (FAKE_ENV, "CUDA_VISIBLE_DEVICES")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(CORE_SRC)])
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout)
    assert out["heavy"] == []
    assert out["info"]["torch_version"] == "2.5.1+cu121"
    assert out["info"]["torch_cuda"] == "12.1"

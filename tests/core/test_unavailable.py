"""Plug-in classes looked up by name where the plug-in does not apply: a stand-in that can be
imported, named and subclassed, and raises ``PluginNotApplicableError`` when constructed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import helios.plugins as hlp
from helios.plugins import (
    PLUGIN_REGISTRY,
    PluginIncompatibleError,
    PluginNotApplicableError,
    create_plugin,
    probe_device,
)
from helios.plugins._host.verdicts import Reason
from support.plugin_env import PluginEnv

CPU_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})
NO_CUDA = "needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)"
FIX = (
    "install a CUDA build of torch (pip install torch --index-url "
    "https://download.pytorch.org/whl/cu124, see https://pytorch.org/get-started/)"
)


@pytest.fixture
def env(plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """A GPU-only fixture plug-in ``gpu`` (class GpuPlugin) on a machine without CUDA."""
    for name in ("HELIOS_PLUGINS_ONLY", "HELIOS_PLUGINS_DISABLE", "HELIOS_PLUGINS_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", CPU_BUILD)
    probe_device(refresh=True)
    plugin_env.add(
        "helios-gpu",
        "gpu",
        class_name="GpuPlugin",
        overrides=("training_batch",),
        device='accelerator = "cuda"',
    )
    plugin_env.activate()
    yield plugin_env
    monkeypatch.delenv("HELIOS_FAKE_DEVICE")
    probe_device(refresh=True)


def _imported(package: str) -> bool:
    return any(name.partition(".")[0] == package for name in sys.modules)


def test_the_class_resolves_without_importing_the_plugin(env: PluginEnv) -> None:
    cls = PLUGIN_REGISTRY.get("GpuPlugin")
    assert cls.__name__ == "GpuPlugin"
    assert cls.plugin_id == "gpu"
    assert cls.declared_overrides == hlp.UniquePluginOverrides(training_batch=True)
    assert issubclass(cls, hlp.Plugin)
    assert PLUGIN_REGISTRY.get("GpuPlugin") is cls  # one stand-in, however often looked up
    assert "GpuPlugin" not in PLUGIN_REGISTRY  # not registered: it is no real class
    assert not _imported("helios_gpu")


def test_constructing_it_raises_not_applicable_naming_why_and_the_fix(env: PluginEnv) -> None:
    cls = PLUGIN_REGISTRY.get("GpuPlugin")
    with pytest.raises(PluginNotApplicableError) as caught:
        cls()
    assert isinstance(caught.value, RuntimeError)  # what helios-ml's CUDAPlugin() raises
    assert str(caught.value) == (
        "GpuPlugin cannot be created on this machine: the plug-in 'gpu' does not apply here, "
        "so its code was never imported:\n"
        f"  - gpu (helios-gpu 0.1.0): device-no-cuda-build: {NO_CUDA} Fix: {FIX}"
    )
    assert [v.reason for v in caught.value.verdicts] == [Reason.DEVICE_NO_CUDA_BUILD]
    with pytest.raises(PluginNotApplicableError):
        create_plugin("GpuPlugin")
    assert not _imported("helios_gpu")


def test_a_subclass_of_the_stand_in_can_be_defined_but_not_constructed(env: PluginEnv) -> None:
    base = PLUGIN_REGISTRY.get("GpuPlugin")

    class Mine(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:  # skips the base's __init__: __new__ refuses anyway
            pass

    with pytest.raises(PluginNotApplicableError, match=r"^GpuPlugin cannot be created"):
        Mine()


def test_a_disabled_plugin_resolves_to_a_stand_in_too(
    env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOS_PLUGINS_DISABLE", "gpu")
    monkeypatch.setenv("HELIOS_PLUGINS_STRICT", "1")  # strict is about selections, not names
    with pytest.raises(PluginNotApplicableError, match="disabled by HELIOS_PLUGINS_DISABLE"):
        PLUGIN_REGISTRY.get("GpuPlugin")()


def test_where_it_applies_the_name_is_the_real_class(
    env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", json.dumps({"torch_cuda": "12.4", "gpus": ["9.0"]}))
    probe_device(refresh=True)
    cls = PLUGIN_REGISTRY.get("GpuPlugin")
    assert cls.__module__ == "helios_gpu.plugin"
    assert cls().plugin_id == "gpu"


def test_an_incompatible_plugin_still_raises_at_the_lookup(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-future", "future", class_name="FuturePlugin", core_range=">=0.2,<0.3")
    plugin_env.activate()
    with pytest.raises(PluginIncompatibleError, match="incompatible-core"):
        PLUGIN_REGISTRY.get("FuturePlugin")


@pytest.mark.skipif(
    importlib.util.find_spec("helios_cuda") is None, reason="needs helios-cuda installed"
)
@pytest.mark.parametrize(
    "statement",
    [
        "from helios.plugins import CUDAPlugin",
        "from helios.plugins.plugin import CUDAPlugin",
        "import helios.plugins as hlp; CUDAPlugin = hlp.CUDAPlugin",
    ],
)
def test_cuda_plugin_imports_on_a_cpu_machine_without_importing_helios_cuda(
    statement: str,
) -> None:
    script = f"""
import json, sys
{statement}
out = {{"id": CUDAPlugin.plugin_id, "name": CUDAPlugin.__name__}}
try:
    CUDAPlugin()
except RuntimeError as exc:
    from helios.plugins.errors import PluginNotApplicableError
    out["error"] = [type(exc).__name__, isinstance(exc, PluginNotApplicableError), str(exc)]
out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("helios_cuda", "torch"))
print(json.dumps(out))
"""
    env = {**os.environ, "HELIOS_FAKE_DEVICE": CPU_BUILD}
    env.pop("HELIOS_PLUGINS_DISABLE", None)
    env.pop("HELIOS_PLUGINS_ONLY", None)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    out = json.loads(proc.stdout)
    from importlib.metadata import version

    assert out == {
        "id": "cuda",
        "name": "CUDAPlugin",
        "error": [
            "PluginNotApplicableError",
            True,
            "CUDAPlugin cannot be created on this machine: the plug-in 'cuda' does not apply "
            "here, so its code was never imported:\n"
            f"  - cuda (helios-cuda {version('helios-cuda')}): device-no-cuda-build: {NO_CUDA} "
            f"Fix: {FIX}",
        ],
        "modules": [],
    }

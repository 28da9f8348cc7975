"""CUDAPlugin on this GPU-less machine: verdicts before import, errors, overrides, conflicts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import torch

import helios.plugins as hlp
from helios.plugins import build_report
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Reason
from helios.plugins.errors import PluginNotApplicableError
from helios_cuda import CUDANotAvailableError, CUDAPlugin
from support.plugin_env import PluginEnv

CPU_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})
FAKE_GPU = json.dumps({"torch_cuda": "12.4", "torch_version": "2.5.1+cu124", "gpus": ["9.0"]})
NO_CUDA = "needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)"


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """FakeGPU: CUDAPlugin can be built here, and the device probe reports a GPU machine."""
    from helios.plugins import probe_device

    monkeypatch.setattr(CUDAPlugin, "_require_cuda", staticmethod(lambda: None))
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", FAKE_GPU)
    probe_device(refresh=True)
    yield
    monkeypatch.delenv("HELIOS_FAKE_DEVICE")
    probe_device(refresh=True)


def test_check_cuda_is_not_applicable_here_and_never_imports_it(plugin_env: PluginEnv) -> None:
    code, out, _, modules = plugin_env.cli(
        "plugins", "check", "cuda", env={"HELIOS_FAKE_DEVICE": CPU_BUILD}
    )
    assert code == 1
    assert f"cuda: {NO_CUDA}" in out
    assert not [m for m in modules if m.startswith(("helios_cuda", "torch"))]


def test_the_verdict_names_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", CPU_BUILD)
    from helios.plugins import probe_device

    verdict = build_report(["cuda"], settings=Settings(), device=probe_device(refresh=True))["cuda"]
    probe_device(refresh=True)
    assert verdict.reason is Reason.DEVICE_NO_CUDA_BUILD
    assert verdict.distribution == "helios-cuda"
    assert verdict.message == NO_CUDA
    assert verdict.overrides == ("testing_batch", "training_batch", "validation_batch")


def test_creating_it_by_class_name_goes_through_the_checks() -> None:
    # (Since helios-trainer 0.2 the name itself resolves here, to a stand-in that raises when
    # constructed: tests/core/test_unavailable.py. Older cores raise at the lookup.)
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(PluginNotApplicableError, match=r"needs a CUDA build of torch|GPU"):
        hlp.create_plugin("CUDAPlugin")


def test_resolves_on_a_fake_gpu_machine(fake_gpu: None) -> None:
    assert hlp.PLUGIN_REGISTRY.get("CUDAPlugin") is CUDAPlugin
    assert isinstance(hlp.create_plugin("CUDAPlugin"), CUDAPlugin)


def test_constructing_it_without_cuda_says_what_is_missing() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError) as caught:
        CUDAPlugin()
    fix = (
        "install a CUDA build of torch (e.g. pip install torch --index-url "
        "https://download.pytorch.org/whl/cu124; see https://pytorch.org/get-started/)"
    )
    assert str(caught.value) == (
        f"CUDAPlugin needs CUDA, but torch {torch.__version__} is a CPU-only build; {fix}"
    )
    # Not applicable here, as the loader would say: the same error type, with the verdict.
    assert isinstance(caught.value, PluginNotApplicableError)
    assert isinstance(caught.value, CUDANotAvailableError)
    (verdict,) = caught.value.verdicts
    assert (verdict.id, verdict.distribution, verdict.reason) == (
        "cuda",
        "helios-cuda",
        Reason.DEVICE_NO_CUDA_BUILD,
    )
    assert verdict.version == version("helios-cuda")
    assert verdict.message == f"needs CUDA, but torch {torch.__version__} is a CPU-only build"
    assert (verdict.required, verdict.found, verdict.fix) == (
        "a CUDA build of torch",
        f"torch {torch.__version__} (CPU build)",
        fix,
    )


def test_a_cuda_build_that_sees_no_gpu_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(torch.version, "cuda", "12.4")  # a CUDA build on a machine without GPU
    with pytest.raises(CUDANotAvailableError) as caught:
        CUDAPlugin()
    fix = "run on a machine with an NVIDIA GPU and driver, or check CUDA_VISIBLE_DEVICES"
    assert str(caught.value) == (
        f"CUDAPlugin needs CUDA, but torch {torch.__version__} (CUDA 12.4) sees no GPU; {fix}"
    )
    (verdict,) = caught.value.verdicts
    assert verdict.reason is Reason.DEVICE_NO_GPU
    assert verdict.found == f"no GPU visible to torch {torch.__version__} (CUDA 12.4)"
    assert verdict.fix == fix


def test_moves_every_batch_to_the_trainer_device(fake_gpu: None) -> None:
    plugin = CUDAPlugin()
    plugin.device = torch.device("meta")
    batch = {"x": [torch.ones(2)]}
    assert plugin.process_training_batch(batch, None)["x"][0].device.type == "meta"
    assert plugin.process_validation_batch(batch, 0)["x"][0].device.type == "meta"
    assert plugin.process_testing_batch(batch, 0)["x"][0].device.type == "meta"
    assert plugin.unique_overrides.claimed() == {
        "training_batch", "validation_batch", "testing_batch",
    }  # fmt: skip


def test_a_subclass_override_of_the_move_is_honoured(fake_gpu: None) -> None:
    class Halves(CUDAPlugin):
        def _move_collection_to_device(self, batch: Any) -> Any:
            return [item / 2 for item in batch]

    plugin = Halves()
    assert plugin.process_training_batch([torch.ones(1)], None)[0].item() == 0.5


def test_registers_itself_in_the_trainer(fake_gpu: None) -> None:
    from helios.trainer import Trainer

    trainer = Trainer(total=1, device="cpu", progress=False)
    plugin = CUDAPlugin()
    plugin.configure_trainer(trainer)
    assert trainer.plugins == {"cuda": plugin}
    plugin.configure_trainer(trainer)  # again: nothing happens
    assert "cuda" in trainer.plugins and trainer.plugins["cuda"] is plugin
    with pytest.raises(KeyError) as caught:  # another one with its id, as in helios-ml
        CUDAPlugin().configure_trainer(trainer)
    assert str(caught.value) == (
        "a plug-in with id 'cuda' is registered already (<CUDAPlugin plugin_id='cuda'>); "
        "cannot also register <CUDAPlugin plugin_id='cuda'>: register one of them"
    )
    assert trainer.plugins == {"cuda": plugin}


def test_registering_an_instance_runs_the_distribution_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helios.plugins import probe_device
    from helios.trainer import Trainer

    monkeypatch.setattr(CUDAPlugin, "_require_cuda", staticmethod(lambda: None))  # FakeGPU
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", CPU_BUILD)
    probe_device(refresh=True)
    trainer = Trainer(total=1, device="cpu", progress=False)
    try:
        with pytest.raises(PluginNotApplicableError, match=re.escape(NO_CUDA)):
            trainer.register_plugin(CUDAPlugin())
    finally:
        monkeypatch.delenv("HELIOS_FAKE_DEVICE")
        probe_device(refresh=True)
    assert trainer.plugins == {}


def test_a_conflict_on_training_batch_is_refused_before_import(plugin_env: PluginEnv) -> None:
    plugin_env.add(
        "helios-rival",
        "rival",
        class_name="RivalPlugin",
        overrides=("training_batch",),
        core_range=">=0.1",
    )
    code, out, _, modules = plugin_env.cli(
        "plugins", "check", "cuda", "rival", env={"HELIOS_FAKE_DEVICE": FAKE_GPU}
    )
    assert code == 1
    assert "cuda: unique override conflict: 'cuda' and 'rival' both claim training_batch" in out
    assert not [m for m in modules if m.startswith(("helios_cuda", "helios_rival", "torch"))]

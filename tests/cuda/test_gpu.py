"""On a GPU machine: a real fit with the plug-in, nested batches on the GPU, the probe's answer."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from helios.plugins import probe_device
from helios.trainer import Trainer, TrainingState, TrainingUnit
from helios_cuda import CUDAPlugin
from support.toy import ToyData, ToyModel

pytestmark = pytest.mark.cuda


class DeviceCheckingModel(ToyModel):
    """Asserts each batch arrives on the GPU."""

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        assert all(t.device.type == "cuda" for t in batch)
        return super().train_step(batch, state)

    def valid_step(self, batch: Any, step: int) -> None:
        assert all(t.device.type == "cuda" for t in batch)
        super().valid_step(batch, step)


def test_fit_on_cuda_with_the_plugin() -> None:
    model = DeviceCheckingModel()
    trainer = Trainer(total=4, unit=TrainingUnit.ITERATION, valid_every=2, device="cuda",
                      plugins=["cuda"], progress=False)  # fmt: skip
    trainer.fit(model, ToyData())
    assert isinstance(trainer.plugins["cuda"], CUDAPlugin)
    assert next(model.network.parameters()).device.type == "cuda"
    assert len(model.losses) == 4


def test_nested_batches_land_on_the_gpu() -> None:
    plugin = CUDAPlugin()
    plugin.device = torch.device("cuda", 0)
    batch = {"a": [torch.ones(2).pin_memory(), {"b": (torch.zeros(1),)}], "c": "text"}
    moved = plugin.process_training_batch(batch, None)
    assert moved["a"][0].device.type == "cuda"
    assert moved["a"][1]["b"][0].device.type == "cuda"
    assert moved["c"] == "text"


def test_the_probe_agrees_with_torch_cuda() -> None:
    info = probe_device(refresh=True)
    assert len(info.gpus) == torch.cuda.device_count()
    for gpu in info.gpus:
        major, minor = torch.cuda.get_device_capability(gpu.index)
        assert gpu.compute_capability == f"{major}.{minor}"
    assert info.torch_cuda == torch.version.cuda

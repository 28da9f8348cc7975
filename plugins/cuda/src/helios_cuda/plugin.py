"""The CUDA plug-in: moves each batch to the trainer's GPU before the model's step."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import torch

from helios.plugins._host.verdicts import Reason, Verdict
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios_cuda.errors import CUDANotAvailableError
from helios_cuda.transfer import move_to_device

if TYPE_CHECKING:
    from helios.trainer import Trainer

__all__ = ["DISTRIBUTION", "CUDAPlugin"]

#: The distribution that ships this plug-in.
DISTRIBUTION = "helios-cuda"


def _installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that is not installed
        return ""


class CUDAPlugin(Plugin):
    """Move training, validation and testing batches to the device the trainer assigned.

    Batches may nest tensors in lists, tuples, named tuples, dicts, dataclasses and objects
    with a ``.to(device)`` method to any depth; other leaves are left alone. For a batch type
    of your own, derive from this class and override :meth:`_move_collection_to_device`.

    :raises CUDANotAvailableError: (a ``PluginNotApplicableError`` and a ``RuntimeError``) when
        constructed where CUDA is not available, naming what is missing.
    """

    plugin_id = "cuda"
    declared_overrides = UniquePluginOverrides(
        training_batch=True, validation_batch=True, testing_batch=True
    )

    def __init__(self) -> None:
        self._require_cuda()
        super().__init__(CUDAPlugin.plugin_id)

    @staticmethod
    def _require_cuda() -> None:
        if torch.cuda.is_available():
            return
        if torch.version.cuda is None:
            reason, required = Reason.DEVICE_NO_CUDA_BUILD, "a CUDA build of torch"
            found = f"torch {torch.__version__} (CPU build)"
            missing = f"torch {torch.__version__} is a CPU-only build"
            fix = (
                "install a CUDA build of torch (e.g. pip install torch --index-url "
                "https://download.pytorch.org/whl/cu124; see https://pytorch.org/get-started/)"
            )
        else:
            reason, required = Reason.DEVICE_NO_GPU, "1 GPU"
            found = f"no GPU visible to torch {torch.__version__} (CUDA {torch.version.cuda})"
            missing = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
            fix = "run on a machine with an NVIDIA GPU and driver, or check CUDA_VISIBLE_DEVICES"
        message = f"CUDAPlugin needs CUDA, but {missing}; {fix}"
        verdict = Verdict(
            id=CUDAPlugin.plugin_id,
            distribution=DISTRIBUTION,
            version=_installed_version(),
            reason=reason,
            message=f"needs CUDA, but {missing}",
            required=required,
            found=found,
            fix=fix,
        )
        raise CUDANotAvailableError(verdict, message)

    def setup(self) -> None:
        """Nothing to build: the device comes from the trainer."""

    def configure_trainer(self, trainer: Trainer) -> None:
        """Register this plug-in in the trainer under the id ``cuda`` (again: nothing
        happens; another plug-in with that id: ``PluginIdTakenError``, a ``KeyError``)."""
        self._register_in_trainer(trainer)

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        """Move the training batch to the device."""
        return self._move_collection_to_device(batch)

    def process_validation_batch(self, batch: Any, step: int) -> Any:
        """Move the validation batch to the device."""
        return self._move_collection_to_device(batch)

    def process_testing_batch(self, batch: Any, step: int) -> Any:
        """Move the testing batch to the device."""
        return self._move_collection_to_device(batch)

    def _move_collection_to_device(self, batch: Any) -> Any:
        """Move ``batch`` to :attr:`device`; override this for custom batch types."""
        return move_to_device(batch, self.device)

"""The demo's classifier: a small convolutional network whose shape and learning rate are tuned.

The model asks the ``optuna`` plug-in of its trainer for its hyper-parameters in
:meth:`DigitsClassifier.setup`, so a resumed trial gets back the values stored in the study.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from helios.model import Model
from helios.trainer import TrainingState

__all__ = ["METRIC", "DigitsClassifier", "describe_params"]

#: The metric reported to Optuna after each epoch (maximised).
METRIC = "valid_accuracy"


def describe_params(params: dict[str, Any]) -> str:
    """``channels=16, hidden=64, dropout=0.12, lr=0.0031``: hyper-parameters for people."""
    return ", ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(params.items())
    )


class DigitsClassifier(Model):
    """Two 3×3 convolutions, a max-pool and two linear layers; Adam; cross-entropy.

    Tuned: ``channels`` (of the first convolution), ``hidden`` (units of the first linear
    layer), ``dropout`` and ``lr`` (Adam's learning rate, on a log scale wide enough that some
    trials learn badly and get pruned). Metrics: ``valid_loss`` and ``valid_accuracy`` after
    each validation cycle, ``test_accuracy`` after testing.
    """

    def __init__(self, save_name: str = "digits") -> None:
        super().__init__(save_name)
        self._correct = 0
        self._count = 0
        self._loss = 0.0

    def setup(self) -> None:
        assert self.trainer is not None
        tuner: Any = self.trainer.plugins["optuna"]  # an OptunaPlugin
        channels = tuner.suggest("categorical", "channels", choices=[8, 16, 32])
        hidden = tuner.suggest("categorical", "hidden", choices=[32, 64, 128])
        dropout = tuner.suggest("float", "dropout", low=0.0, high=0.5)
        lr = tuner.suggest("float", "lr", low=1e-4, high=0.1, log=True)
        self.network = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8×8 → 4×4
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * channels * 16, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=lr)

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        images, labels = batch  # on the GPU already when the CUDA plug-in is in use
        return nn.functional.cross_entropy(self.network(images), labels)

    def _start(self) -> None:
        self._correct, self._count, self._loss = 0, 0, 0.0

    def _measure(self, batch: Any) -> None:
        images, labels = batch
        logits = self.network(images)
        self._loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        self._correct += int((logits.argmax(dim=1) == labels).sum().item())
        self._count += len(labels)

    def on_validation_start(self, validation_cycle: int) -> None:
        self._start()

    def valid_step(self, batch: Any, step: int) -> None:
        self._measure(batch)

    def on_validation_end(self, validation_cycle: int) -> None:
        self.metrics["valid_loss"] = self._loss / self._count
        self.metrics[METRIC] = self._correct / self._count

    def on_testing_start(self) -> None:
        self._start()

    def test_step(self, batch: Any, step: int) -> None:
        self._measure(batch)

    def on_testing_end(self) -> None:
        self.metrics["test_accuracy"] = self._correct / self._count
        self.metrics["test_images"] = float(self._count)

"""The demo's data: scikit-learn's bundled 8×8 digit images, split once for all runs.

``sklearn.datasets.load_digits`` reads 1797 images (10 classes, pixel values 0–16) from a file
inside the scikit-learn package: nothing is downloaded. The split into training, validation and
test images is stratified and fixed (it does not depend on ``--seed``), so every trial and every
run is judged on the same validation images and the test images are never seen while tuning.
"""

from __future__ import annotations

import functools

import torch
from torch.utils.data import TensorDataset

from helios.data import DataModule

__all__ = ["SPLIT_SEED", "DigitsData", "digits_split"]

SPLIT_SEED = 0  # fixed on purpose: the test images must stay the same across runs
VALID_FRACTION = TEST_FRACTION = 0.2

Split = tuple[torch.Tensor, torch.Tensor]


@functools.cache
def digits_split() -> tuple[Split, Split, Split]:
    """(train, valid, test) as (images ``N×1×8×8`` scaled to [0, 1], labels ``N``).

    Stratified: each digit is shuffled with a torch generator seeded with :data:`SPLIT_SEED`
    (stable across versions) and 20 % of it goes to validation, 20 % to test.
    """
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    parts: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] = ([], [], [])
    for digit in range(10):
        rows = (labels == digit).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        valid, test = round(len(rows) * VALID_FRACTION), round(len(rows) * TEST_FRACTION)
        parts[0].append(rows[valid + test :])
        parts[1].append(rows[:valid])
        parts[2].append(rows[valid : valid + test])

    def take(chunks: list[torch.Tensor]) -> Split:
        rows = torch.cat(chunks).sort().values
        return images[rows], labels[rows]

    return take(parts[0]), take(parts[1]), take(parts[2])


class DigitsData(DataModule):
    """Training (shuffled, batches of ``batch_size``), validation and test images."""

    def __init__(self, batch_size: int = 32) -> None:
        super().__init__()
        self.batch_size = batch_size

    def setup(self) -> None:
        train, valid, test = digits_split()
        self.train_dataset = TensorDataset(*train)
        self.valid_dataset = TensorDataset(*valid)
        self.test_dataset = TensorDataset(*test)
        self.train_params.batch_size = self.batch_size
        self.valid_params.batch_size = self.test_params.batch_size = 512

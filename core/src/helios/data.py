"""Data: a :class:`DataModule` the user subclasses, and a sampler that resumes mid-epoch."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["DataLoaderParams", "DataModule", "ResumableSampler"]


class ResumableSampler(Sampler[int]):
    """Indices of one epoch, sharded per rank, that can start part-way through.

    The order of epoch ``e`` depends only on ``(seed, e)``, never on a global generator, so a
    resumed run sees the same order; :meth:`set_start` skips what was consumed before the stop.
    Like ``DistributedSampler``, it pads (or, with ``drop_last``, trims) so ranks get equal shares.
    """

    def __init__(
        self,
        length: int,
        *,
        shuffle: bool,
        seed: int,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.length, self.shuffle, self.seed = length, shuffle, seed
        self.num_replicas, self.rank, self.drop_last = num_replicas, rank, drop_last
        self.epoch = 0
        self.start = 0
        if drop_last:
            self.per_rank = length // num_replicas
        else:
            self.per_rank = -(-length // num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this rank's share of the epoch."""
        self.start = start

    def __len__(self) -> int:
        return max(self.per_rank - self.start, 0)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        total = self.per_rank * self.num_replicas
        if total > len(order) and order:
            order += (order * (total // len(order) + 1))[: total - len(order)]
        share = order[:total][self.rank :: self.num_replicas]
        return iter(share[self.start :])


@dataclass
class DataLoaderParams:
    """How the trainer builds the DataLoader of one split."""

    batch_size: int = 1
    shuffle: bool = False
    num_workers: int = 0
    drop_last: bool = False
    pin_memory: bool = False
    collate_fn: Callable[[list[Any]], Any] | None = None


class DataModule(abc.ABC):
    """Holds the datasets of a run and how to load them; the trainer builds the loaders.

    Subclasses implement :meth:`setup` to set ``train_dataset``, ``valid_dataset`` and/or
    ``test_dataset`` and adjust ``train_params``/``valid_params``/``test_params``. A dataset that
    draws random numbers per sample should derive them from the index, so a resumed run gets
    the same sample.
    """

    def __init__(self) -> None:
        self.train_dataset: Dataset[Any] | None = None
        self.valid_dataset: Dataset[Any] | None = None
        self.test_dataset: Dataset[Any] | None = None
        self.train_params = DataLoaderParams(shuffle=True)
        self.valid_params = DataLoaderParams()
        self.test_params = DataLoaderParams()

    @abc.abstractmethod
    def setup(self) -> None:
        """Create the datasets."""

    def loader(
        self,
        split: str,
        *,
        seed: int,
        epoch: int = 0,
        start: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> DataLoader[Any]:
        """The DataLoader for ``split`` ("train", "valid", "test") from batch ``start`` on."""
        dataset: Dataset[Any] | None = getattr(self, f"{split}_dataset")
        if dataset is None:
            raise ValueError(
                f"{type(self).__name__}.{split}_dataset is None; set it in setup() to "
                f"{'train' if split == 'train' else 'use ' + split}"
            )
        params: DataLoaderParams = getattr(self, f"{split}_params")
        if not isinstance(dataset, Sized):
            raise TypeError(
                f"{type(self).__name__}.{split}_dataset must have a length (__len__); "
                f"found {type(dataset).__name__}"
            )
        length = len(dataset)
        sampler = ResumableSampler(
            length,
            shuffle=params.shuffle,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=params.drop_last,
        )
        sampler.set_epoch(epoch)
        sampler.set_start(start * params.batch_size)
        return DataLoader(
            dataset,
            batch_size=params.batch_size,
            sampler=sampler,
            num_workers=params.num_workers,
            drop_last=params.drop_last,
            pin_memory=params.pin_memory,
            collate_fn=params.collate_fn,
            generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch),
        )

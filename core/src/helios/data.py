"""Data: a :class:`DataModule` the user subclasses, and a sampler that resumes mid-epoch."""

from __future__ import annotations

import abc
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any, Protocol

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


class _Positioned(Protocol):
    """A sampler the trainer can place: at an epoch, then at a batch within it."""

    def set_epoch(self, epoch: int) -> None: ...

    def set_start(self, start: int) -> None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[int]: ...


class _CustomSampler(Sampler[int]):
    """A user's sampler, placed like :class:`ResumableSampler`: ``set_epoch`` is passed on (if
    it has one), and a resumed epoch skips the indices consumed before the stop."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.start = inner, 0

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.inner, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def set_start(self, start: int) -> None:
        self.start = start

    def __len__(self) -> int:
        return max(len(self.inner) - self.start, 0)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.inner), self.start, None)


@dataclass(slots=True)
class DataLoaderParams:
    """How the trainer builds the DataLoader of one split.

    :param sampler: the order of the samples, instead of the trainer's own (``shuffle``
        must then be False). It needs a length; for the training split also
        ``set_epoch(epoch)``, and each epoch's order must depend only on that epoch (e.g.
        ``DistributedSampler``, or a sampler that reseeds its generator there), so that a
        resumed run skips exactly what was consumed. In a distributed run it must shard the
        data itself and say so with ``num_replicas`` and ``rank`` attributes.
    :param persistent_workers: keep the ``num_workers`` worker processes (needs 1 or more)
        from epoch to epoch and from one validation cycle to the next, until ``fit``/``test``
        ends.
    :param worker_init_fn: called with the worker id in each worker process when it starts.
    """

    batch_size: int = 1
    shuffle: bool = False
    num_workers: int = 0
    drop_last: bool = False
    pin_memory: bool = False
    collate_fn: Callable[[list[Any]], Any] | None = None
    sampler: Sampler[Any] | Iterable[int] | None = None
    persistent_workers: bool = False
    worker_init_fn: Callable[[int], None] | None = None


@dataclass
class _Kept:
    """A loader kept for ``persistent_workers``, with what it was built from."""

    dataset: Any
    params: DataLoaderParams  # a copy, compared with the split's params at the next call
    where: tuple[int, int, int]  # seed, num_replicas, rank
    loader: DataLoader[Any]
    sampler: _Positioned


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
        self._kept: dict[str, _Kept] = {}

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
        """The DataLoader for ``split`` ("train", "valid", "test") from batch ``start`` on.

        With ``persistent_workers`` the same loader (and its workers) is handed out again
        while the dataset, the split's params and the placement stay the same, placed at the
        new epoch and start; :meth:`close_loaders` ends it.
        """
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
        if params.persistent_workers and params.num_workers < 1:
            raise ValueError(
                f"{type(self).__name__}.{split}_params.persistent_workers is True, which keeps "
                f"worker processes from epoch to epoch, but num_workers is "
                f"{params.num_workers!r}; set num_workers to 1 or more, or "
                "persistent_workers=False"
            )
        kept = self.__dict__.setdefault("_kept", {}).get(split)
        where = (seed, num_replicas, rank)
        if not (
            params.persistent_workers
            and kept is not None
            and kept.dataset is dataset
            and kept.params == params
            and kept.where == where
        ):
            sampler = self._sampler(split, params, len(dataset), seed, num_replicas, rank)
            loader = DataLoader(
                dataset,
                batch_size=params.batch_size,
                sampler=sampler,
                num_workers=params.num_workers,
                drop_last=params.drop_last,
                pin_memory=params.pin_memory,
                collate_fn=params.collate_fn,
                generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch),
                persistent_workers=params.persistent_workers,
                worker_init_fn=params.worker_init_fn,
            )
            self._close(split)
            if params.persistent_workers:
                copy = dataclasses.replace(params)
                self._kept[split] = _Kept(dataset, copy, where, loader, sampler)
        else:
            assert kept is not None
            sampler, loader = kept.sampler, kept.loader
        sampler.set_epoch(epoch)
        sampler.set_start(start * params.batch_size)
        return loader

    def close_loaders(self) -> None:
        """End the worker processes of the loaders kept for ``persistent_workers``; the
        trainer calls it when ``fit``/``test`` ends."""
        for split in list(self.__dict__.get("_kept", ())):
            self._close(split)

    def _close(self, split: str) -> None:
        kept = self.__dict__.get("_kept", {}).pop(split, None)
        if kept is None:
            return
        shutdown = getattr(kept.loader._iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        kept.loader._iterator = None

    def _sampler(
        self,
        split: str,
        params: DataLoaderParams,
        length: int,
        seed: int,
        num_replicas: int,
        rank: int,
    ) -> _Positioned:
        """The trainer's :class:`ResumableSampler`, or the split's own sampler once it is
        known to resume exactly (see :class:`DataLoaderParams`)."""
        custom = params.sampler
        if custom is None:
            return ResumableSampler(
                length,
                shuffle=params.shuffle,
                seed=seed,
                num_replicas=num_replicas,
                rank=rank,
                drop_last=params.drop_last,
            )
        owner = f"{type(self).__name__}.{split}_params"
        kind = type(custom).__name__
        if params.shuffle:
            raise ValueError(
                f"{owner} has both a sampler ({kind}) and shuffle=True; the sampler decides "
                f"the order: set {split}_params.shuffle = False"
            )
        if not isinstance(custom, Sized) or not isinstance(custom, Iterable):
            raise TypeError(
                f"{owner}.sampler must be a sampler with a length (__len__ and __iter__), "
                f"found {kind}; the trainer counts the batches of an epoch from it"
            )
        if split == "train" and not callable(getattr(custom, "set_epoch", None)):
            raise ValueError(
                f"{owner}.sampler ({kind}) has no set_epoch(epoch), so a resumed run cannot "
                "reproduce the order of the epoch it stopped in, and exact resume is not "
                "possible; give it a set_epoch(epoch) after which its order depends only on "
                "the epoch (e.g. reseed its generator from the epoch), or use "
                "torch.utils.data.DistributedSampler"
            )
        found = (getattr(custom, "num_replicas", None), getattr(custom, "rank", None))
        if num_replicas > 1 and found != (num_replicas, rank):
            raise ValueError(
                f"{owner}.sampler ({kind}) in a distributed run of {num_replicas} processes "
                f"must give this process (rank {rank}) its own share, and say so with "
                f"num_replicas={num_replicas} and rank={rank} attributes; found "
                f"num_replicas={found[0]!r}, rank={found[1]!r}; use "
                "torch.utils.data.DistributedSampler (it reads both from the process group), "
                "or set them on your sampler"
            )
        return _CustomSampler(custom)

"""DataLoaderParams' sampler, persistent_workers and worker_init_fn: what the loaders do with
them, what is refused, and exact resume with them."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset, DistributedSampler, SequentialSampler, get_worker_info

from helios.data import DataLoaderParams, DataModule
from helios.trainer import Trainer, TrainingState
from support.crash_resume import assert_same, run
from support.toy import ToyData, ToyDataset, ToyModel


# ---------------------------------------------------------------------- worker_init_fn
class Marked(Dataset[torch.Tensor]):
    """Sample i is ``[i, marker]``; the marker is what the worker's init function set."""

    marker = -1

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index, self.marker])


def mark_worker(worker_id: int) -> None:
    info = get_worker_info()
    assert info is not None
    info.dataset.marker = 100 + worker_id  # type: ignore[attr-defined]


class Splits(DataModule):
    """Datasets and params given up front."""

    def __init__(self, dataset: Any, **params: Any) -> None:
        super().__init__()
        self.dataset, self.params = dataset, params

    def setup(self) -> None:
        self.train_dataset = self.valid_dataset = self.dataset
        self.train_params = DataLoaderParams(**self.params)
        self.valid_params = DataLoaderParams(**self.params)


def test_worker_init_fn_runs_in_each_worker() -> None:
    data = Splits(Marked(), batch_size=2, num_workers=2, worker_init_fn=mark_worker)
    data.setup()
    rows = torch.cat(list(data.loader("valid", seed=0))).tolist()
    assert sorted(rows) == [[i, 100 + (i // 2) % 2] for i in range(8)]  # batches alternate


# ---------------------------------------------------------------------- persistent_workers
class WithPid(ToyDataset):
    """The toy samples, plus the pid of the process that loaded them."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().__getitem__(index)
        return x, torch.cat([y, torch.tensor([float(os.getpid())])])


class PidModel(ToyModel):
    """Notes which processes loaded its training and validation batches."""

    def __init__(self) -> None:
        super().__init__()
        self.train_pids: list[int] = []
        self.valid_pids: list[int] = []

    def train_step(self, batch: Any, state: TrainingState) -> torch.Tensor:
        x, y = batch
        self.train_pids.append(int(y[0, 1]))
        return super().train_step((x, y[:, :1]), state)

    def valid_step(self, batch: Any, step: int) -> None:
        x, y = batch
        self.valid_pids.append(int(y[0, 1]))
        super().valid_step((x, y[:, :1]), step)


def fit_pids(persistent: bool) -> PidModel:
    data = Splits(WithPid(16), batch_size=8, num_workers=1, persistent_workers=persistent)
    model = PidModel()
    Trainer(total=3, valid_every=1, device="cpu", progress=False).fit(model, data)
    return model


def test_persistent_workers_live_through_the_fit_and_end_with_it() -> None:
    model = fit_pids(persistent=True)
    assert len(model.train_pids) == len(model.valid_pids) == 6  # 3 epochs, 3 cycles, 2 each
    assert len(set(model.train_pids)) == len(set(model.valid_pids)) == 1
    assert set(model.train_pids) != set(model.valid_pids)  # one worker per split
    alive = {child.pid for child in multiprocessing.active_children()}
    assert alive.isdisjoint(model.train_pids + model.valid_pids)


def test_without_persistent_workers_each_epoch_starts_its_own() -> None:
    model = fit_pids(persistent=False)
    assert len(set(model.train_pids)) == 3
    assert len(set(model.valid_pids)) == 3


def test_persistent_workers_need_workers() -> None:
    data = Splits(ToyDataset(16), persistent_workers=True)
    data.setup()
    with pytest.raises(ValueError, match=r"^Splits\.train_params\.persistent") as caught:
        data.loader("train", seed=0)
    assert str(caught.value) == (
        "Splits.train_params.persistent_workers is True, which keeps worker processes from "
        "epoch to epoch, but num_workers is 0; set num_workers to 1 or more, or "
        "persistent_workers=False"
    )


def test_a_kept_loader_is_rebuilt_when_the_params_change() -> None:
    data = Splits(ToyDataset(16), batch_size=4, num_workers=1, persistent_workers=True)
    data.setup()
    try:
        first = data.loader("train", seed=0)
        assert data.loader("train", seed=0, epoch=1, start=2) is first
        assert len(first) == 2  # placed at batch 2 of 4
        data.train_params.batch_size = 8
        second = data.loader("train", seed=0)
        assert second is not first and len(second) == 2
        assert data.loader("train", seed=1) is not second  # another seed, another loader
    finally:
        data.close_loaders()


# ---------------------------------------------------------------------- sampler
class NoLength:
    def __iter__(self) -> Iterator[int]:
        return iter(range(16))


def sampler_error(split: str, sampler: Any, **params: Any) -> str:
    data = Splits(ToyDataset(16), sampler=sampler, batch_size=4, **params)
    data.setup()
    with pytest.raises((ValueError, TypeError), match=rf"^Splits\.{split}_params") as caught:
        data.loader(split, seed=0)
    return str(caught.value)


def test_a_sampler_and_shuffle_are_refused_together() -> None:
    sampler = DistributedSampler(ToyDataset(16), num_replicas=1, rank=0)
    assert sampler_error("train", sampler, shuffle=True) == (
        "Splits.train_params has both a sampler (DistributedSampler) and shuffle=True; the "
        "sampler decides the order: set train_params.shuffle = False"
    )


def test_a_sampler_needs_a_length() -> None:
    assert sampler_error("valid", NoLength()) == (
        "Splits.valid_params.sampler must be a sampler with a length (__len__ and __iter__), "
        "found NoLength; the trainer counts the batches of an epoch from it"
    )


def test_a_training_sampler_needs_set_epoch_for_exact_resume() -> None:
    assert sampler_error("train", SequentialSampler(range(16))) == (
        "Splits.train_params.sampler (SequentialSampler) has no set_epoch(epoch), so a resumed "
        "run cannot reproduce the order of the epoch it stopped in, and exact resume is not "
        "possible; give it a set_epoch(epoch) after which its order depends only on the epoch "
        "(e.g. reseed its generator from the epoch), or use torch.utils.data.DistributedSampler"
    )


def test_a_distributed_run_needs_a_sampler_that_shards() -> None:
    sampler = DistributedSampler(ToyDataset(16), num_replicas=1, rank=0)
    data = Splits(ToyDataset(16), sampler=sampler, batch_size=4)
    data.setup()
    with pytest.raises(ValueError, match=r"^Splits\.train_params\.sampler") as caught:
        data.loader("train", seed=0, num_replicas=2, rank=1)
    assert str(caught.value) == (
        "Splits.train_params.sampler (DistributedSampler) in a distributed run of 2 processes "
        "must give this process (rank 1) its own share, and say so with num_replicas=2 and "
        "rank=1 attributes; found num_replicas=1, rank=0; use "
        "torch.utils.data.DistributedSampler (it reads both from the process group), or set "
        "them on your sampler"
    )
    data.train_params.sampler = DistributedSampler(ToyDataset(16), num_replicas=2, rank=1)
    assert len(data.loader("train", seed=0, num_replicas=2, rank=1)) == 2


def test_an_evaluation_sampler_is_used_as_given() -> None:
    data = Splits(Marked(), sampler=list(reversed(range(8))), batch_size=4)
    data.setup()
    batches = list(data.loader("valid", seed=0))
    assert [row[0] for b in batches for row in b.tolist()] == [7, 6, 5, 4, 3, 2, 1, 0]


class IndexOnly(Dataset[int]):
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index


def test_the_trainer_places_a_sampler_at_its_epoch_and_batch() -> None:
    def order(epoch: int, start: int) -> list[int]:
        sampler = DistributedSampler(range(16), num_replicas=1, rank=0, shuffle=True, seed=5)
        data = Splits(IndexOnly(16), sampler=sampler, batch_size=2)
        data.setup()
        loader = data.loader("train", seed=0, epoch=epoch, start=start)
        return [int(i) for batch in loader for i in batch]

    expected = DistributedSampler(range(16), num_replicas=1, rank=0, shuffle=True, seed=5)
    expected.set_epoch(3)
    assert order(3, 0) == list(expected)
    assert order(3, 2) == list(expected)[4:]  # batches 0 and 1 (2 samples each) consumed
    assert order(3, 0) != order(4, 0)


class SampledData(ToyData):
    """The toy data, shuffled by a DistributedSampler of one replica, loaded by one persistent
    worker with an init function."""

    def setup(self) -> None:
        super().setup()
        assert self.train_dataset is not None
        self.train_params.shuffle = False
        self.train_params.sampler = DistributedSampler(
            self.train_dataset,  # type: ignore[arg-type]
            num_replicas=1,
            rank=0,
            shuffle=True,
            seed=11,
        )
        self.train_params.num_workers = 1
        self.train_params.persistent_workers = True
        self.train_params.worker_init_fn = mark_worker


def test_resume_with_a_sampler_and_persistent_workers_is_exact(tmp_path: Path) -> None:
    settings = {"total": 20, "unit": "iteration", "checkpoint_every": 3, "valid_every": 4}
    straight = run(tmp_path / "straight", ToyModel, SampledData, **settings)
    resumed = run(tmp_path / "resumed", ToyModel, SampledData, crash_at=14, **settings)
    assert_same(resumed, straight)  # resumed from step 12: batch 4 of epoch 1
    shuffled = run(tmp_path / "shuffled", ToyModel, ToyData, **settings)
    assert shuffled.losses != straight.losses  # the sampler did decide the order


def test_ddp_with_a_distributed_sampler_gives_each_rank_its_share(tmp_path: Path) -> None:
    from helios.distributed import spawn
    from support.ddp_features import sampler_rank

    spawn(sampler_rank, 2, args=(str(tmp_path),))  # progress bar on: rank 1 counts steps too
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text())["seen"] for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 32  # 2 epochs of 16 samples each
    for epoch in (slice(0, 16), slice(16, 32)):
        assert sorted(seen[0][epoch] + seen[1][epoch]) == list(range(32))
    assert seen[0][:16] != seen[0][16:]  # set_epoch reshuffled the second epoch


def test_a_field_params_do_not_have_is_refused_when_set() -> None:
    """helios-ml's prefetch_factor set on existing params would be silently ignored."""
    params = DataLoaderParams(batch_size=4)
    with pytest.raises(AttributeError, match="prefetch_factor"):
        params.prefetch_factor = 2  # type: ignore[attr-defined]
    assert params.batch_size == 4

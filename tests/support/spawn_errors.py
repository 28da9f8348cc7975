"""Rank functions for tests/core/trainer/test_spawn_errors.py: real gloo ranks that fail in
chosen ways (spawned ranks import them by name, so they live here, not in the test module)."""

from __future__ import annotations

import os
import signal
import threading

import torch
import torch.distributed as dist


class RankError(Exception):
    """An exception of the user's own, with several arguments."""


class TwoPartError(Exception):
    """Pickles, but cannot be unpickled: its ``__init__`` takes two arguments, ``args`` holds one."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")


def _join() -> int:
    """Join the gloo group spawn described and sum the ranks once; this rank's number."""
    dist.init_process_group("gloo")
    total = torch.tensor([dist.get_rank()])
    dist.all_reduce(total)
    return dist.get_rank()


def fail(how: str) -> None:
    """Every rank fails as ``how`` says after a collective, so none waits on a peer that is
    gone, whichever rank's failure spawn reports; a custom exception names its rank."""
    rank = _join()
    if how == "custom":
        raise RankError(f"rank {rank} failed", rank, {"cycle": 3})
    if how == "unpicklable":
        error = RankError(f"rank {rank} holds a lock")
        error.lock = threading.Lock()  # type: ignore[attr-defined]
        raise error
    if how == "unloadable":
        raise TwoPartError(f"rank {rank}", "that")
    if how == "too big":
        raise RankError(f"rank {rank}", b"x" * (2 << 20))
    if how == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError(f"unknown failure {how!r}")

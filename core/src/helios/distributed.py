"""torch.distributed: torchrun's environment, in-process spawn on a free port, and set-up."""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["DistEnv", "free_port", "spawn", "world"]


class DistEnv(NamedTuple):
    """This process's place in the run, as torchrun (or :func:`spawn`) describes it."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world() -> DistEnv:
    """Read RANK, LOCAL_RANK and WORLD_SIZE (set by torchrun and :func:`spawn`)."""
    env = os.environ
    if "WORLD_SIZE" not in env:
        return DistEnv(0, 0, 1)
    try:
        return DistEnv(
            int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"])), int(env["WORLD_SIZE"])
        )
    except (KeyError, ValueError) as exc:
        raise RuntimeError(
            "WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not integers "
            f"({exc}); start the run with torchrun or helios.distributed.spawn"
        ) from None


def init(env: DistEnv, device: torch.device, timeout_s: float) -> None:
    """Join the process group: nccl on GPUs, gloo on CPU."""
    if dist.is_initialized() or not env.distributed:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        rank=env.rank,
        world_size=env.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _entry(
    index: int, fn: Callable[..., Any], world_size: int, port: int, args: tuple[Any, ...]
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(world_size),
    )
    try:
        fn(*args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, args: tuple[Any, ...] = ()) -> None:
    """Run ``fn(*args)`` in ``world_size`` processes on this machine, on a free port.

    A rank that raises ends every rank; its traceback is raised here
    (``torch.multiprocessing.ProcessRaisedException``), so a failure never hangs the run.
    """
    mp.spawn(  # type: ignore[attr-defined, no-untyped-call]
        _entry, args=(fn, world_size, free_port(), args), nprocs=world_size, join=True
    )

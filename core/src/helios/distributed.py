"""torch.distributed: torchrun's environment, in-process spawn on a free port, set-up and
teardown."""

from __future__ import annotations

import atexit
import datetime
import gc
import logging
import os
import pickle
import shutil
import socket
import stat
import sys
import tempfile
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

# DistributedDataParallel imports this module the first time it wraps a model. Its functions
# take ``group=group.WORLD`` as a default argument, evaluated at import: imported once a group
# exists, they would hold that group for the life of the process, so destroying it could never
# free it nor end its gloo threads (see :func:`shutdown`). Imported here, before any group, the
# defaults are None.
import torch.distributed.nn.functional
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessRaisedException

__all__ = ["DistEnv", "free_port", "shutdown", "spawn", "world"]

log = logging.getLogger("helios")


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
    """Join the process group: nccl on GPUs, gloo on CPU.

    A group started here is also taken down here: :func:`shutdown` runs at interpreter exit
    (under torchrun too), unless this rank's last run failed (see :func:`mark_run`). A group the
    caller started stays the caller's.
    """
    if dist.is_initialized() or not env.distributed:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        rank=env.rank,
        world_size=env.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    global _exit_hook
    if not _exit_hook:
        atexit.register(_shutdown_at_exit)
        _exit_hook = True


_exit_hook = False  # _shutdown_at_exit is registered
_failed = False  # this rank's last run raised: leave the group alone at exit


def mark_run(failed: bool) -> None:
    """Record how this rank's last run ended. After a failure the group is left as it is at
    exit, since the barrier of :func:`shutdown` could wait for peers that never come (the
    failure ends them); a later run that succeeds takes the group down again."""
    global _failed
    _failed = failed


def _shutdown_at_exit() -> None:
    """:func:`shutdown` at exit, after a run that succeeded (no unhandled exception either)."""
    if _failed or getattr(sys, "last_value", None) is not None:
        return
    try:
        shutdown()
    except Exception as exc:  # a peer that is gone; the exit must not turn into a traceback
        log.warning("taking the process group down at exit failed: %s", exc)


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shutdown() -> None:
    """Take the default process group down once every rank is done with it, and end its threads.

    A gloo worker thread lets go of a finished collective (and of the Python tensors it holds,
    which needs the GIL) a moment after the caller has moved on. If the interpreter is already
    finalising by then, Python ends that thread inside a C++ destructor and the process aborts
    (``terminate called without an active exception``, SIGABRT) after a run that succeeded.
    Freeing the group here joins those threads while Python still runs them: a barrier (no rank
    takes the group down while another still uses it), a garbage collection (a
    DistributedDataParallel model in a reference cycle still holds the group), then
    ``destroy_process_group``. :func:`spawn` calls this after ``fn`` returns, and a group that
    :func:`init` started is taken down at exit; call it yourself to free the group earlier.
    """
    if not dist.is_initialized():
        return
    rank = dist.get_rank()
    dist.barrier()
    world = dist.group.WORLD
    group = weakref.ref(world) if world is not None else None
    del world
    gc.collect()
    dist.destroy_process_group()
    if group is not None and group() is not None:
        log.warning(
            "rank %s: the process group is still referenced after destroy_process_group (a "
            "DistributedDataParallel model still in use?), so its worker threads outlive it and "
            "the process may abort at exit; drop such references before "
            "helios.distributed.shutdown() runs (with spawn: before the rank's function returns)",
            rank,
        )


#: The largest pickled exception a spawned rank hands to :func:`spawn` (bigger ones: the
#: traceback text alone, as torch gives it).
ERROR_LIMIT = 1 << 20


def _entry(
    index: int,
    fn: Callable[..., Any],
    world_size: int,
    port: int,
    args: tuple[Any, ...],
    errors: str,
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
    except BaseException as exc:
        mark_run(failed=True)
        if isinstance(exc, Exception):  # torch hands on the traceback of these alone
            _keep_error(exc, os.path.join(errors, f"rank-{index}.pickle"))
        raise
    # Only after success: a rank that raised leaves the group as it is (taking it down could
    # wait on a collective its peers never join); its error ends every rank.
    shutdown()


def _keep_error(exc: Exception, path: str) -> None:
    """Write ``exc`` pickled to ``path`` (atomically: a temp file renamed), for :func:`spawn`
    to raise again; nothing when it does not survive a pickle round trip or is too big."""
    try:
        data = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        copy = pickle.loads(data)  # e.g. an __init__ whose arguments differ from .args fails
    except Exception:
        return
    if len(data) > ERROR_LIMIT or type(copy) is not type(exc):
        return
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as fh:
            fh.write(data)
        os.replace(partial, path)
    except OSError:
        return


def _kept_error(path: str) -> BaseException | None:
    """The exception a rank left at ``path`` (see :func:`_keep_error`), or None: no file, not a
    regular file, too big, or not an exception once unpickled."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: a FIFO must not hold the parent
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > ERROR_LIMIT:
            return None
        data = b""
        while chunk := os.read(fd, ERROR_LIMIT + 1 - len(data)):
            data += chunk
            if len(data) > ERROR_LIMIT:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        exc = pickle.loads(data)  # written by our own rank, in a folder only we can enter
    except Exception:
        return None
    return exc if isinstance(exc, BaseException) else None


def spawn(fn: Callable[..., Any], world_size: int, args: tuple[Any, ...] = ()) -> None:
    """Run ``fn(*args)`` in ``world_size`` processes on this machine, on a free port.

    A rank that raises ends every rank, so a failure never hangs the run, and its exception is
    raised here: the rank's own exception (its type and arguments: e.g. ``optuna.TrialPruned``,
    which ``study.optimize`` records as PRUNED), chained from torch's
    ``torch.multiprocessing.ProcessRaisedException``, which holds the rank's traceback. An
    exception that cannot be pickled, or is over 1 MiB pickled, arrives as that
    ``ProcessRaisedException`` alone; a rank ended by a signal as ``ProcessExitedException``. A
    rank whose ``fn`` returns takes its process group down with :func:`shutdown` before it
    exits; one that raised leaves it as it is.
    """
    errors = tempfile.mkdtemp(prefix="helios-spawn-")  # mode 0700: this user's alone
    try:
        mp.spawn(  # type: ignore[attr-defined, no-untyped-call]
            _entry,
            args=(fn, world_size, free_port(), args, errors),
            nprocs=world_size,
            join=True,
        )
    except ProcessRaisedException as raised:
        kept = _kept_error(os.path.join(errors, f"rank-{raised.error_index}.pickle"))
        if kept is None:
            raise
        raise kept from raised
    finally:
        shutil.rmtree(errors, ignore_errors=True)

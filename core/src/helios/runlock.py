"""One owner per run: a usable run folder and an exclusive lock on ``<folder>/.<name>.lock``.

:meth:`RunLock.acquire` makes the folder (with its parents), proves it writable by creating a
file in it, and takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on the lock file: it never waits. The
holder writes ``<pid> <host>`` into the file after taking the lock, so a refused caller can say
who holds it. The lock belongs to the open file, so it ends on :meth:`RunLock.release` or when
the process dies, however it dies; children made with ``fork`` (data-loader workers) close
their copy at once, so they never keep a dead parent's run locked.

:meth:`RunLock.release` removes the file while it still holds the lock; a process that opened
the old file meanwhile finds, once it has the lock, that the name no longer leads to that file,
and starts again on the new one. So a run that ends leaves no lock file, and one that dies
leaves a stale file that the next owner simply locks.

Torch-free: the demo takes the same lock before it imports torch.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
import warnings
from pathlib import Path
from types import ModuleType, TracebackType

from helios.plugins._host.echo import escape

try:
    import fcntl as _fcntl

    fcntl: ModuleType | None = _fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "RunDirError",
    "RunLock",
    "RunLockedError",
    "check_creatable",
    "prepare_run_dir",
    "shown_path",
]

#: The most of a lock file that is read back (it holds "<pid> <host>\n").
MAX_LOCK_BYTES = 256
#: How often :meth:`RunLock.acquire` starts again on a lock file replaced under it.
MAX_ATTEMPTS = 100

_HELD: set[int] = set()  # descriptors of the locks this process holds


def _close_in_child() -> None:
    """After ``fork``: drop the child's copies, so that only the parent holds its locks."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def shown_path(path: Path) -> str:
    """A path for a message: every character a terminal would act on (ESC, CR) escaped."""
    return escape(str(path))


class RunDirError(RuntimeError):
    """The run folder cannot be used (a file, under a file, not writable)."""


class RunLockedError(RuntimeError):
    """Another process (or another trainer in this one) holds the run's lock."""

    def __init__(
        self, message: str, lock_file: Path | None = None, holder: int | None = None
    ) -> None:
        super().__init__(message)
        self.lock_file, self.holder = lock_file, holder


def prepare_run_dir(folder: Path, label: str = "run_dir") -> None:
    """Make ``folder`` (and its parents) and prove it writable; :class:`RunDirError` if not.

    ``label`` names the setting in the messages (``run_dir``, ``--run-dir``).
    """
    check_creatable(folder, label)
    if folder.exists() and not folder.is_dir():
        raise RunDirError(
            f"{label} {shown_path(folder)} is a file, expected a folder; pass another {label} "
            "(or move the file away)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as exc:
        raise RunDirError(
            f"{label} {shown_path(folder)} is not writable ({exc.strerror or exc}); make it "
            f"writable, or pass another {label}"
        ) from None


def check_creatable(folder: Path, label: str = "run_dir") -> None:
    """:class:`RunDirError` if ``folder`` lies under a file, or if the nearest folder that
    exists (``folder`` itself, or the one it would be made in) is not writable; leaves nothing
    behind."""
    for nearest in (folder, *folder.parents):
        if nearest.exists() or nearest.is_symlink():
            break
    else:  # pragma: no cover - the root always exists
        return
    if nearest != folder and not nearest.is_dir():
        raise RunDirError(
            f"{label} {shown_path(folder)} cannot be created: {shown_path(nearest)} is a file, "
            f"not a folder; pass a {label} that is not under a file (or move "
            f"{shown_path(nearest)} away)"
        )
    if not nearest.is_dir():
        return  # folder is a file: prepare_run_dir says so
    try:
        _probe(nearest)
    except OSError as exc:
        where = "" if nearest == folder else f"cannot be created: {shown_path(nearest)} "
        raise RunDirError(
            f"{label} {shown_path(folder)} {where}is not writable ({exc.strerror or exc}); make it "
            f"writable, or pass another {label}"
        ) from None


def _probe(folder: Path) -> None:
    """Create a file in ``folder`` and remove it again: the proof that it is writable.

    A real file (O_TMPFILE where the system has it: nothing is left behind even if this
    process dies here); ``os.access`` would trust the permission bits only.
    """
    with tempfile.TemporaryFile(dir=folder, prefix=".helios-probe-"):
        pass


class RunLock:
    """An exclusive, non-blocking lock on ``<folder>/.<name>.lock``; see the module docstring.

    Use :meth:`acquire`, then :meth:`release` (or ``with RunLock.acquire(...):``).
    """

    def __init__(self, folder: Path, name: str) -> None:
        if not name or "/" in name or os.sep in name or "\0" in name or name in (".", ".."):
            raise ValueError(
                f"a run name must be a non-empty file name without path separators, found "
                f"{name!r}; pass another save_name"
            )
        self.folder, self.name = folder, name
        self.path = folder / f".{name}.lock"
        self._fd: int | None = None

    @classmethod
    def acquire(cls, folder: Path, name: str, label: str = "run_dir") -> RunLock:
        """Prepare ``folder`` and lock run ``name`` in it; :class:`RunLockedError` if held."""
        lock = cls(folder, name)
        prepare_run_dir(folder, label)
        lock._take(label)
        return lock

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def _take(self, label: str) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            warnings.warn(
                f"no fcntl on this platform: run {self.name!r} in {shown_path(self.folder)} is "
                "not locked, so a second trainer on it is not detected; run one at a time",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        for _ in range(MAX_ATTEMPTS):
            fd = self._open(label)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise self._refusal(fd, label) from None
                if not self._is_current(fd):  # released (and removed) since we opened it
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            _HELD.add(fd)
            return
        raise RunLockedError(  # pragma: no cover - needs MAX_ATTEMPTS releases in a row
            f"run {self.name!r} in {shown_path(self.folder)}: {shown_path(self.path)} was "
            f"replaced {MAX_ATTEMPTS} times while this process tried to lock it; other "
            f"processes keep taking this run: stop them, or use another {label} or save_name",
            self.path,
        )

    def _open(self, label: str) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise RunDirError(
                f"cannot open the lock file {shown_path(self.path)} ({exc.strerror or exc}); it "
                f"must be a regular file: remove whatever has that name, or pass another {label}"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunDirError(
                f"the lock file {shown_path(self.path)} is not a regular file; remove it, or pass "
                f"another {label}"
            )
        return fd

    def _is_current(self, fd: int) -> bool:
        """True if ``self.path`` still names the file open as ``fd``."""
        try:
            now = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)

    def _refusal(self, fd: int, label: str) -> RunLockedError:
        pid, host = _read_holder(os.pread(fd, MAX_LOCK_BYTES, 0))
        if pid is None:
            who = "another process"
        elif host is not None and host != socket.gethostname():
            who = f"process {pid} on host {host}"
        else:
            who = f"process {pid}"
        return RunLockedError(
            f"run {self.name!r} in {shown_path(self.folder)} is in use: {who} holds "
            f"{shown_path(self.path)}; wait for that run to end (or stop it), or use another "
            f"{label} or save_name",
            self.path,
            pid,
        )

    def release(self) -> None:
        """Remove the lock file and give the lock up; doing it twice does nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._is_current(fd):  # never a file someone put there after removing ours
                self.path.unlink()
        except OSError:  # pragma: no cover - the folder went read-only: the stale file is harmless
            pass
        finally:
            _HELD.discard(fd)
            os.close(fd)  # closing the last descriptor of the open file ends the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(raw: bytes) -> tuple[int | None, str | None]:
    """``(pid, host)`` from a lock file's bytes; None where they do not parse."""
    fields = raw.decode("ascii", "replace").split()
    if not fields or not fields[0].isdigit() or len(fields[0]) > 10:
        return None, None
    host = fields[1] if len(fields) > 1 and fields[1].isprintable() else None
    return int(fields[0]), host

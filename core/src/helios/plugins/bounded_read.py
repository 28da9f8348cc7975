"""Reading a file that comes from outside: a regular file only, and never more than a cap.

A FIFO, a socket, a device (``/dev/zero``) or a directory is refused without being read, so
nothing blocks or reads without end; a regular file larger than the cap is refused from its
size alone, and a file whose size lies (``/proc``) is cut off one byte past the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["READ_CODES", "FileRefused", "open_regular", "read_regular_file"]

#: The codes of :class:`FileRefused`.
READ_CODES = ("unreadable", "not-a-file", "too-large")

_CHUNK = 1 << 16
# O_NONBLOCK: opening a FIFO never waits for a writer (the type check refuses it right after).
# O_NOCTTY: a terminal device never becomes the controlling terminal.
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class FileRefused(Exception):
    """The file was not read. ``code``: ``unreadable``, ``not-a-file`` or ``too-large``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _refuse_special(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise FileRefused(
            "not-a-file",
            f"not a regular file but {_kind(mode)}; only regular files are read",
        )


def open_regular(path: Path | str) -> int:
    """A descriptor of the regular file ``path``, opened without blocking; the caller closes it.

    :raises FileRefused: ``not-a-file`` (checked before opening, so a device is never opened,
        and again on the opened file, whatever the path points at by now).
    :raises OSError: the system's refusal (missing, permissions).
    """
    _refuse_special(os.stat(path).st_mode)
    fd = os.open(path, _FLAGS)
    try:
        _refuse_special(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _too_large(size: str, limit: int) -> FileRefused:
    return FileRefused(
        "too-large", f"the file holds {size} bytes; at most {limit:,} bytes are read"
    )


def read_regular_file(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, which must hold at most ``limit`` bytes.

    :raises FileRefused: not a regular file, larger than ``limit``, or an ``OSError``
        (``unreadable``, with the system's reason).
    """
    try:
        fd = open_regular(path)
    except OSError as exc:
        raise FileRefused("unreadable", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if info.st_size > limit:
            raise _too_large(f"{info.st_size:,}", limit)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise FileRefused("unreadable", f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(f"more than {limit:,}", limit)
    return data

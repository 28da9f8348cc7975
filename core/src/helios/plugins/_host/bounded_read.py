"""Reading a file that comes from outside: a regular file only, and never more than a cap.

A FIFO, a socket, a device (``/dev/zero``) or a directory is refused without being read, so
nothing blocks or reads without end; a regular file larger than the cap is refused from its
size alone, and a file whose size lies (``/proc``) is cut off one byte past the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = [
    "READ_CODES",
    "FileRefused",
    "open_regular",
    "read_regular_file",
    "read_regular_text",
    "unreadable",
    "utf8_text",
]

#: The codes of :func:`read_regular_file`'s refusals (:func:`utf8_text` adds ``not-utf-8``).
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
    """The file was not read: ``code`` is one of :data:`READ_CODES`, or ``not-utf-8`` when it
    was read but is not UTF-8 text."""

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


def unreadable(exc: OSError) -> FileRefused:
    """The refusal for a file the system would not let us read, with the system's reason."""
    return FileRefused("unreadable", f"cannot read the file: {exc.strerror or exc}")


def utf8_text(data: bytes) -> str:
    """``data`` decoded as UTF-8.

    :raises FileRefused: ``not-utf-8``, naming the first bad byte and its offset.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            "not-utf-8", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,})"
        ) from None


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
        raise unreadable(exc) from None
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
        raise unreadable(exc) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(f"more than {limit:,}", limit)
    return data


def read_regular_text(path: Path | str, limit: int) -> str:
    """:func:`read_regular_file`, decoded as UTF-8 (:func:`utf8_text`).

    :raises FileRefused: as :func:`read_regular_file`, or ``not-utf-8``.
    """
    return utf8_text(read_regular_file(path, limit))

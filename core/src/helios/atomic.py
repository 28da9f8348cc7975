"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

The bytes go to a temporary file in the target's folder (created exclusively, never through a
link), are flushed and fsynced, and the temporary file is renamed over the target with
:func:`os.replace`; then the folder is fsynced so the rename survives a crash where the system
allows it. On any failure (the write, the fsync or the rename, an interrupt included) the
temporary file is removed and the old file is left as it was. Checkpoints, the demo's run
folder and ``tools/release.py`` all write through :func:`write_atomic`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["fsync_folder", "temporary_name", "write_atomic", "write_text_atomic"]

_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def temporary_name(path: Path) -> Path:
    """A fresh temporary file name next to ``path``: ``.NAME.<8 hex digits>.tmp``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def write_atomic(
    path: Path,
    write: Callable[[BinaryIO], object],
    *,
    temporary: Path | None = None,
    mode: int = 0o666,
    keep_mode: bool = False,
) -> Path:
    """Write ``path`` atomically: ``write`` gets a binary file to fill; returns ``path``.

    :param temporary: the temporary file (in ``path``'s folder); default
        :func:`temporary_name`. It must not exist: it is created exclusively.
    :param mode: the new file's permissions, less the umask (as :func:`open` gives).
    :param keep_mode: when ``path`` exists, the new file gets its permissions instead.
    :raises FileExistsError: ``temporary`` exists already.
    """
    tmp = temporary if temporary is not None else temporary_name(path)
    fd = os.open(tmp, _FLAGS, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_mode and path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_folder(path.parent)
    return path


def write_text_atomic(path: Path, text: str, *, keep_mode: bool = False) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns ``path``."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda handle: handle.write(data), keep_mode=keep_mode)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the system allows it (POSIX; not Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)

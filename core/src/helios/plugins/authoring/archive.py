"""Unpack what ``helios plugins validate`` reads of a built wheel or sdist, into a temp folder.

Archives are hostile input. Only regular-file members whose names are safe relative paths are
accepted; a member that is a link, a device or a FIFO, or whose name is absolute, climbs with
``..`` or holds a backslash or NUL, refuses the whole archive. Only the members ``validate``
reads are written (``*.py``, ``*.toml``, ``METADATA``, ``PKG-INFO``, ``entry_points.txt``),
each at most :data:`MAX_MEMBER_BYTES`; at most :data:`MAX_MEMBERS` members are looked at, at
most :data:`MAX_UNPACKED_BYTES` are decompressed in all (a zip or gzip bomb stops there), and
the archive file itself is at most :data:`MAX_ARCHIVE_BYTES`. Every refusal is an
:class:`ArchiveRefused` whose message names the archive, the member and the limit.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from helios.plugins._host.bounded_read import FileRefused, open_regular
from helios.plugins._host.echo import shown

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_UNPACKED_BYTES",
    "ArchiveRefused",
    "Limits",
    "is_archive",
    "unpack",
]

#: The largest wheel or sdist ``validate`` opens, in bytes.
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
#: The most members of one archive ``validate`` looks at.
MAX_MEMBERS = 20_000
#: The largest member ``validate`` unpacks (a source file, a manifest, metadata), in bytes.
MAX_MEMBER_BYTES = 1024 * 1024
#: The most bytes decompressed from one archive, read members and skipped ones together.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024

_SUFFIXES = (".whl", ".tar.gz")
_READ_NAMES = ("METADATA", "PKG-INFO", "entry_points.txt")
_READ_SUFFIXES = (".py", ".toml")
_ENCRYPTED = 0x1  # bit 0 of a zip member's general purpose flags


class ArchiveRefused(Exception):
    """The archive is not one ``validate`` reads; the message (about the archive, which it
    does not repeat) says why and names the member."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one unpacking (the module's constants unless a caller lowers them)."""

    archive_bytes: int = MAX_ARCHIVE_BYTES
    members: int = MAX_MEMBERS
    member_bytes: int = MAX_MEMBER_BYTES
    unpacked_bytes: int = MAX_UNPACKED_BYTES


def is_archive(path: Path) -> bool:
    """Whether ``path`` is named like a wheel or an sdist (``.whl``, ``.tar.gz``)."""
    return path.name.endswith(_SUFFIXES)


def _wanted(name: str) -> bool:
    base = name.rpartition("/")[2]
    return base in _READ_NAMES or base.endswith(_READ_SUFFIXES)


def _safe_name(archive: Path, name: str) -> PurePosixPath:
    """``name`` as a relative path inside the archive, or :class:`ArchiveRefused`."""
    bad = (
        not name
        or "\\" in name
        or "\0" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or ".." in name.split("/")
    )
    if bad:
        raise ArchiveRefused(
            f"the member name {shown(name)!r} is not a plain relative path (absolute, "
            "'..', a backslash or a NUL): unpacking it could write outside the folder; "
            "rebuild the archive with your build backend"
        )
    return PurePosixPath(name.rstrip("/"))


def _too_large(archive: Path, name: str, limit: int) -> ArchiveRefused:
    return ArchiveRefused(
        f"the member {shown(name)} is larger than {limit:,} bytes, more than a "
        "plug-in's source or metadata file holds; validate the source tree instead"
    )


def _write(archive: Path, into: Path, relative: PurePosixPath, data: bytes) -> None:
    target = into.joinpath(*relative.parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:  # a name given twice is refused, never overwritten
            out.write(data)
    except OSError as exc:
        raise ArchiveRefused(
            f"the member {shown(relative.as_posix())} cannot be unpacked ({exc.strerror or exc}): "
            "a name given twice, or a file where a folder should be"
        ) from None


def _open_archive(path: Path, limits: Limits) -> IO[bytes]:
    """The archive file, opened only if it is a regular file within the size limit."""
    try:
        fd = open_regular(path)
    except FileRefused as exc:
        raise ArchiveRefused(f"{exc}") from None
    except OSError as exc:
        raise ArchiveRefused(f"cannot read the file: {exc.strerror or exc}") from None
    handle = open(fd, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    size = os.fstat(fd).st_size
    if size > limits.archive_bytes:
        handle.close()
        raise ArchiveRefused(
            f"{size:,} bytes, more than the {limits.archive_bytes:,} a plug-in's wheel "
            "or sdist may be"
        )
    return handle


def unpack(path: Path, into: Path, limits: Limits | None = None) -> list[str]:
    """Write the members ``validate`` reads of the wheel or sdist ``path`` under ``into``.

    :returns: every member name of the archive (regular files), in archive order.
    :raises ArchiveRefused: a hostile or broken archive; the message says which member and why.
    """
    limits = limits or Limits()
    with _open_archive(path, limits) as handle:
        if path.name.endswith(".whl"):
            return _unpack_zip(path, handle, into, limits)
        return _unpack_tar(path, handle, into, limits)


def _unpack_zip(path: Path, handle: IO[bytes], into: Path, limits: Limits) -> list[str]:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRefused(f"not a readable wheel (a zip file): {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.members:
            raise ArchiveRefused(
                f"{len(infos):,} members, more than the {limits.members:,} validate reads"
            )
        names: list[str] = []
        unpacked = 0
        for info in infos:
            relative = _safe_name(path, info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                continue
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no file type recorded
                raise ArchiveRefused(
                    f"the member {shown(info.filename)} is not a regular file (a "
                    "symbolic link or a special file): a wheel holds plain files only"
                )
            names.append(info.filename)
            if not _wanted(info.filename):
                continue
            if info.file_size > limits.member_bytes:
                raise _too_large(path, info.filename, limits.member_bytes)
            data = _read_zip_member(path, archive, info, limits.member_bytes)
            unpacked += len(data)
            if unpacked > limits.unpacked_bytes:
                raise _bomb(path, limits)
            _write(path, into, relative, data)
        return names


def _read_zip_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int
) -> bytes:
    """At most ``limit`` bytes of a member, whatever its header claims (a lying size is a bomb)."""
    if info.flag_bits & _ENCRYPTED:
        raise ArchiveRefused(
            f"the member {shown(info.filename)} is encrypted: a wheel's members never are; "
            "rebuild the wheel with your build backend"
        )
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    # NotImplementedError (a RuntimeError): a compression method zipfile lacks
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, RuntimeError) as exc:
        raise ArchiveRefused(
            f"the member {shown(info.filename)} is corrupt: {shown(str(exc), limit=200)}"
        ) from None
    if len(data) > limit:
        raise _too_large(path, info.filename, limit)
    return data


def _bomb(path: Path, limits: Limits) -> ArchiveRefused:
    return ArchiveRefused(
        f"decompresses to more than {limits.unpacked_bytes:,} bytes (a compression "
        "bomb, or not a plug-in's archive); refused"
    )


class _Counted(io.RawIOBase):
    """A decompressed stream that refuses to give more than ``limit`` bytes in all."""

    def __init__(self, stream: gzip.GzipFile, path: Path, limits: Limits) -> None:
        self._stream = stream
        self._path = path
        self._limits = limits
        self._given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveRefused(f"not a readable sdist (gzip): {exc}") from None
        self._given += len(data)
        if self._given > self._limits.unpacked_bytes:
            raise _bomb(self._path, self._limits)
        buffer[: len(data)] = data
        return len(data)


def _unpack_tar(path: Path, handle: IO[bytes], into: Path, limits: Limits) -> list[str]:
    stream = io.BufferedReader(_Counted(gzip.GzipFile(fileobj=handle), path, limits))
    names: list[str] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, member in enumerate(archive, start=1):
                if count > limits.members:
                    raise ArchiveRefused(
                        f"more than {limits.members:,} members, more than validate reads"
                    )
                relative = _safe_name(path, member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise ArchiveRefused(
                        f"the member {shown(member.name)} is not a regular file (a "
                        "link or a special file): an sdist holds plain files only"
                    )
                names.append(member.name)
                if not _wanted(member.name):
                    continue
                if member.size > limits.member_bytes:
                    raise _too_large(path, member.name, limits.member_bytes)
                extracted = archive.extractfile(member)
                data = extracted.read(limits.member_bytes + 1) if extracted else b""
                if len(data) > limits.member_bytes:
                    raise _too_large(path, member.name, limits.member_bytes)
                _write(path, into, relative, data)
    except tarfile.TarError as exc:
        raise ArchiveRefused(f"not a readable sdist (tar.gz): {exc}") from None
    return names

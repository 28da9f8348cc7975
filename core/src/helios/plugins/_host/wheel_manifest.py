"""An uninstalled wheel as a plug-in candidate: ``helios plugins check --wheel dist/x.whl``.

What would this plug-in say about this machine (or a what-if one) once installed? The wheel is
read as a zip, never installed, unpacked or imported: its ``*.dist-info/METADATA`` and
``entry_points.txt`` give the distribution and the ``helios.plugins`` entry point, whose value
names the package; the manifest is ``<package>/helios-plugin.toml`` inside the wheel, where an
install would put it. The result is a :class:`WheelCandidate`, judged by the loader like an
installed plug-in.

A wheel is hostile input: only a regular file of at most :data:`MAX_WHEEL_BYTES` is opened, at
most :data:`MAX_MEMBERS` members are listed, only the three members above are read, each a
regular file (no link), named once, and decompressed no further than its limit (the metadata
files :data:`MAX_METADATA_BYTES`, the manifest
:data:`~helios.plugins._host.manifest.MAX_MANIFEST_BYTES`), whatever its header claims, so a
zip bomb costs at most that. A file that is not such a wheel is a :class:`WheelError` naming
the file, what was expected, what was found and the fix.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from helios.plugins._host.bounded_read import FileRefused, open_regular, utf8_text
from helios.plugins._host.discovery import ENTRY_POINT_GROUP, Candidate
from helios.plugins._host.distinfo import (
    PATH_LIMIT,
    cut_path,
    parse_entry_points,
    parse_header_block,
)
from helios.plugins._host.echo import quote, shown
from helios.plugins._host.manifest import MANIFEST_FILENAME, MAX_MANIFEST_BYTES

__all__ = [
    "MAX_MEMBERS",
    "MAX_METADATA_BYTES",
    "MAX_WHEEL_BYTES",
    "WheelCandidate",
    "WheelError",
    "read_wheel",
]

#: The largest wheel file opened, in bytes.
MAX_WHEEL_BYTES = 256 * 1024 * 1024
#: The most members a wheel may list.
MAX_MEMBERS = 20_000
#: The largest METADATA or entry_points.txt read from a wheel, in bytes.
MAX_METADATA_BYTES = 1024 * 1024

_VALIDATE = "helios plugins validate"


class WheelError(ValueError):
    """The file is not a plug-in's wheel that can be read; the message says why and the fix."""


@dataclass(frozen=True, eq=False)
class WheelCandidate(Candidate):
    """A plug-in in an uninstalled wheel; its manifest is the bytes read from the zip.

    Its :attr:`manifest_path` and :attr:`location` are the wheel's path, so that a finding
    about the manifest names the wheel and offers ``helios plugins validate WHEEL``.
    """

    wheel: Path = Path()
    manifest_member: str = ""
    manifest_bytes: bytes = field(default=b"", repr=False)

    @property
    def location(self) -> str:
        return cut_path(str(self.wheel))

    @property
    def manifest_path(self) -> Path | None:
        return self.wheel

    @property
    def package_dirs(self) -> tuple[Path, ...]:
        return ()  # nothing is installed: no source is looked up

    def read_manifest(self, path: Path) -> bytes:
        return self.manifest_bytes


def _error(wheel: Path, problem: str, fix: str) -> WheelError:
    shown_path = quote(str(wheel), limit=PATH_LIMIT, quote_char="'")
    return WheelError(f"{shown_path}: {problem}. Fix: {fix}")


def _open(wheel: Path) -> IO[bytes]:
    if not wheel.name.endswith(".whl"):
        raise _error(
            wheel,
            "expected a wheel (a file named *.whl), found another name",
            "build the plug-in's wheel (python -m build --wheel) and pass that file",
        )
    try:
        fd = open_regular(wheel)
    except FileRefused as exc:
        problem = f"expected a wheel file, found {exc.message}"
        raise _error(wheel, problem, "pass the .whl file") from None
    except OSError as exc:
        problem = f"cannot read it ({exc.strerror or exc})"
        raise _error(wheel, problem, "check the path; pass a .whl file") from None
    handle = open(fd, "rb")  # noqa: SIM115 - closed by the caller
    size = os.fstat(fd).st_size
    if size > MAX_WHEEL_BYTES:
        handle.close()
        raise _error(
            wheel,
            f"{size:,} bytes, more than the {MAX_WHEEL_BYTES:,} a plug-in's wheel may be",
            "check that this is the plug-in's wheel",
        )
    return handle


def _member(wheel: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular-file member, whatever its header claims."""
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no file type recorded
        raise _error(
            wheel,
            f"the member {shown(info.filename)} is not a regular file (a symbolic link or a "
            "special file); a wheel holds plain files only",
            "rebuild the wheel with your build backend",
        )
    too_large = _error(
        wheel,
        f"the member {shown(info.filename)} is larger than {limit:,} bytes",
        "check that this is a plug-in's wheel; its metadata and manifest are small files",
    )
    if info.file_size > limit:
        raise too_large
    if info.flag_bits & 0x1:  # bit 0 of the general purpose flags: encrypted
        raise _corrupt(wheel, f"the member {shown(info.filename)} is encrypted")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    # NotImplementedError: a compression method zipfile lacks; RuntimeError: encrypted
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, RuntimeError) as exc:
        problem = f"the member {shown(info.filename)} cannot be read ({shown(str(exc))})"
        raise _corrupt(wheel, problem) from None
    if len(data) > limit:
        raise too_large
    return data


def _corrupt(wheel: Path, problem: str) -> WheelError:
    return _error(wheel, f"a corrupt wheel: {problem}", "download or build the wheel again")


def _text(wheel: Path, name: str, data: bytes) -> str:
    try:
        return utf8_text(data)
    except FileRefused as exc:
        raise _corrupt(wheel, f"{shown(name)} is {exc.message}") from None


def _single(wheel: Path, infos: list[zipfile.ZipInfo], name: str) -> zipfile.ZipInfo | None:
    matches = [i for i in infos if i.filename == name]
    if len(matches) > 1:
        raise _error(
            wheel,
            f"the member {shown(name)} is in the zip {len(matches)} times; which one an "
            "installer would keep is not defined",
            "rebuild the wheel with your build backend",
        )
    return matches[0] if matches else None


def read_wheel(wheel: Path) -> WheelCandidate:
    """The plug-in in the wheel ``wheel``, read without installing, unpacking or importing.

    :raises WheelError: not a readable wheel, not a plug-in's wheel (no single
        ``helios.plugins`` entry point), or no manifest where the install would put it.
    """
    with _open(wheel) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _corrupt(wheel, f"not a readable zip file ({shown(str(exc))})") from None
        with archive:
            return _candidate(wheel, archive)


def _candidate(wheel: Path, archive: zipfile.ZipFile) -> WheelCandidate:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _error(
            wheel,
            f"{len(infos):,} members, more than the {MAX_MEMBERS:,} read",
            "check that this is a plug-in's wheel",
        )
    folders = sorted(
        {
            i.filename.partition("/")[0]
            for i in infos
            if i.filename.count("/") == 1 and i.filename.endswith(".dist-info/METADATA")
        }
    )
    if len(folders) != 1:
        raise _error(
            wheel,
            f"expected one *.dist-info folder with a METADATA file, found {len(folders)}",
            "rebuild the wheel with your build backend",
        )
    folder = folders[0]
    info = _single(wheel, infos, f"{folder}/METADATA")
    assert info is not None
    metadata = parse_header_block(
        _text(wheel, info.filename, _member(wheel, archive, info, MAX_METADATA_BYTES))
    )
    entries: list[tuple[str, str]] = []
    entry_info = _single(wheel, infos, f"{folder}/entry_points.txt")
    if entry_info is not None:
        text = _text(
            wheel, entry_info.filename, _member(wheel, archive, entry_info, MAX_METADATA_BYTES)
        )
        try:
            entries = parse_entry_points(text, ENTRY_POINT_GROUP)
        except FileRefused as exc:
            raise _corrupt(wheel, f"{shown(entry_info.filename)}: {exc.message}") from None
    if not entries:
        raise _error(
            wheel,
            f"not a plug-in's wheel: its {shown(folder)}/entry_points.txt declares no "
            f"'{ENTRY_POINT_GROUP}' entry point",
            f"pass a plug-in's wheel; a plug-in declares one in [project.entry-points."
            f'"{ENTRY_POINT_GROUP}"] of its pyproject.toml',
        )
    (name, value), *rest = entries
    candidate = WheelCandidate(
        entry_name=name,
        entry_value=value,
        metadata=metadata,
        other_entries=tuple(f"{n} = {v}" for n, v in rest),
        identity=str(wheel),
        wheel=wheel,
    )
    member = f"{candidate.package}/{MANIFEST_FILENAME}"
    manifest = _single(wheel, infos, member)
    if manifest is None:
        raise _error(
            wheel,
            f"no manifest: the wheel has no {shown(member)}, where installing it would put "
            f"the {MANIFEST_FILENAME} of the package {quote(candidate.package, quote_char=chr(39))}"
            " its entry point names, so the core would refuse the installed plug-in",
            f"ship {MANIFEST_FILENAME} next to {shown(candidate.package)}/__init__.py and "
            f"rebuild; '{_VALIDATE} WHEEL' checks a built wheel",
        )
    data = _member(wheel, archive, manifest, MAX_MANIFEST_BYTES)
    return WheelCandidate(
        entry_name=name,
        entry_value=value,
        metadata=metadata,
        other_entries=candidate.other_entries,
        identity=str(wheel),
        wheel=wheel,
        manifest_member=member,
        manifest_bytes=data,
    )

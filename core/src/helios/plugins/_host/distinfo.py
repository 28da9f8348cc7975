"""Cheap, bounded reads of installed distributions' metadata.

``importlib.metadata`` parses METADATA with the email package and reads every distribution's
``entry_points.txt`` whole, trusting it (a FIFO blocks it, one stray byte stops it for every
distribution), and ``packaging.requirements`` is slow to import. The loader needs only a few
header fields, one entry-point group and the core's range, so it reads them here: regular
files only, each within a cap, and a problem is a :class:`MetadataUnreadableError` naming the
file and what is wrong with it.
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from helios.plugins._host.bounded_read import (
    FileRefused,
    open_regular,
    read_regular_file,
    read_regular_text,
    unreadable,
    utf8_text,
)
from helios.plugins._host.echo import escape, quote, shown
from helios.plugins._host.requirements import comparable_specifier
from helios.plugins.errors import PluginError

__all__ = [
    "ENTRY_POINTS_LIMIT",
    "HEADER_LIMIT",
    "PATH_LIMIT",
    "Headers",
    "MetadataUnreadableError",
    "canonical_name",
    "cut_path",
    "dedup_key",
    "entry_points_of",
    "folder_name",
    "headers",
    "installed_version",
    "metadata_folder",
    "owned_files",
    "parse_entry_points",
    "parse_header_block",
    "ranges_on",
]

Headers = dict[str, list[str]]

#: The largest ``entry_points.txt`` read, in bytes (real ones hold a few KB).
ENTRY_POINTS_LIMIT = 1024 * 1024
#: How far into METADATA its header block must end, in bytes (real ones end within a few KB;
#: the description after it, which may be large, is never read).
HEADER_LIMIT = 1024 * 1024

_ENTRY_POINTS_FILE = "entry_points.txt"
_METADATA_FILES = ("METADATA", "PKG-INFO")
_MISSING = (FileNotFoundError, NotADirectoryError)  # absent, as importlib.metadata takes them
_CHUNK = 16 * 1024
#: A path longer than this is shown cut from the left. It is the usual PATH_MAX: a real path is
#: shown whole, so that a fix naming its folder can be copied from the message.
PATH_LIMIT = 4096

_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


class MetadataUnreadableError(PluginError):
    """A metadata file of an installed distribution cannot be read or parsed.

    ``path``: the file (or what stands for it), ``problem``: what is wrong, ``distribution``:
    the name to reinstall (empty when unknown). The message escapes and cuts both.
    """

    def __init__(self, path: str, problem: str, distribution: str = "") -> None:
        self.path = path
        self.problem = problem
        self.distribution = distribution
        super().__init__(f"cannot read {escape(cut_path(path))}: {shown(problem, limit=200)}")


def cut_path(text: str) -> str:
    """``text`` whole up to :data:`PATH_LIMIT` characters, else its end (the folder's own name
    is what tells) after ``...``."""
    return text if len(text) <= PATH_LIMIT else "..." + text[-(PATH_LIMIT - 3) :]


def canonical_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name (``Helios_Trainer`` → ``helios-trainer``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def ranges_on(distribution: str, lines: Iterable[str]) -> list[SpecifierSet]:
    """The version ranges that unconditional PEP 508 ``lines`` put on ``distribution``.

    Lines with an environment marker or a URL are not plain ranges and are skipped.
    """
    found = []
    wanted = canonical_name(distribution)
    for line in lines:
        match = _LINE.match(line)
        if match is None or canonical_name(match.group(1)) != wanted:
            continue
        rest = match.group(2).strip()
        if ";" in rest or "@" in rest:
            continue
        try:  # one that cannot be compared is no plain range
            found.append(comparable_specifier(rest.removeprefix("(").removesuffix(")")))
        except InvalidSpecifier:
            continue
    return found


# --------------------------------------------------------------------------- which distribution


def metadata_folder(dist: md.Distribution) -> Path | None:
    """The folder a distribution's metadata is read from (``PathDistribution`` keeps it)."""
    path = getattr(dist, "_path", None)
    return path if isinstance(path, Path) else None


def folder_name(folder: str | os.PathLike[str]) -> tuple[str, str] | None:
    """``(name, version)`` as a ``name-version.dist-info`` (or ``.egg-info``) folder spells
    them, from its own name alone; None for any other folder."""
    stem, ext = os.path.splitext(os.path.basename(folder))
    if ext not in (".dist-info", ".egg-info"):
        return None
    name, _, rest = stem.partition("-")
    return (name, rest.partition("-")[0]) if name else None


def dedup_key(dist: md.Distribution) -> str | None:
    """The name by which ``importlib.metadata.entry_points()`` keeps only the first
    distribution of each name on ``sys.path``: the normalised name of its metadata folder,
    read from the folder's name without opening a file; the ``Name`` header for any other
    folder. None: a distribution without a name, which shadows nothing.

    :raises MetadataUnreadableError: the name had to come from unreadable metadata.
    """
    by_folder = _dist_name(dist)
    if by_folder:
        return by_folder
    names = headers(dist).get("Name")
    return canonical_name(names[0]) if names else None


def _dist_name(dist: md.Distribution) -> str:
    """The name to reinstall a distribution by, as its folder spells it; '' if unknown."""
    path = getattr(dist, "_path", None)
    named = folder_name(str(path)) if path is not None else None
    return canonical_name(named[0]) if named else ""


# --------------------------------------------------------------------------- reading files


def _exists(path: str) -> bool:
    """False only when ``path`` is absent (as importlib.metadata takes it); an ``OSError``
    other than that is left for the read to report."""
    try:
        os.stat(path)
    except _MISSING:
        return False
    except OSError:
        pass
    return True


def _read_whole(path: str, limit: int) -> str | None:
    """The UTF-8 text of the regular file ``path`` of at most ``limit`` bytes; None if absent.

    :raises FileRefused: not a regular file, too large, unreadable or not UTF-8.
    """
    return read_regular_text(path, limit) if _exists(path) else None


def _block_end(data: bytes | bytearray, start: int) -> int | None:
    """Where the header block of ``data`` ends (just after its last line), if it ends."""
    ends = [i for i in (data.find(b"\n\n", start), data.find(b"\n\r\n", start)) if i >= 0]
    return min(ends) + 1 if ends else None


def _read_head(path: str) -> str | None:
    """The header block of the metadata file ``path`` (up to its first blank line); None if
    absent. Only a regular file is opened, and at most :data:`HEADER_LIMIT` bytes (plus a
    chunk) are read.

    :raises FileRefused: not a regular file, no blank line within the cap, unreadable or not
        UTF-8.
    """
    try:
        fd = open_regular(path)
    except _MISSING:
        return None
    except OSError as exc:
        raise unreadable(exc) from None
    data = bytearray()
    try:
        while len(data) <= HEADER_LIMIT and (chunk := os.read(fd, _CHUNK)):
            seen = max(0, len(data) - 2)
            data += chunk
            end = _block_end(data, seen)
            if end is not None:
                del data[end:]
                break
    except OSError as exc:
        raise unreadable(exc) from None
    finally:
        os.close(fd)
    if len(data) > HEADER_LIMIT:
        raise FileRefused(
            "too-large",
            f"its header block does not end (at a blank line) within {HEADER_LIMIT:,} bytes",
        )
    return utf8_text(bytes(data))


def _foreign_text(dist: md.Distribution, name: str, limit: int) -> str | None:
    """File ``name`` of a distribution found by some other finder, through its own reader.

    Its size is only checked once it is read: such a finder gives no file to check first.
    """
    try:
        text = dist.read_text(name)
    except Exception as exc:  # another finder's code: anything can happen
        raise FileRefused("unreadable", f"{type(exc).__name__}: {exc}") from None
    if text is not None and len(text) > limit:
        raise FileRefused("too-large", f"it holds {len(text):,} characters; at most {limit:,}")
    return text


def _where(dist: md.Distribution, name: str) -> str:
    folder = metadata_folder(dist)
    if folder is not None:
        return os.path.join(folder, name)
    return f"{name} of {type(dist).__qualname__} {_dist_name(dist) or '(unnamed)'}"


# --------------------------------------------------------------------------- what is read


def headers(dist: md.Distribution) -> Headers:
    """The header fields of a distribution's METADATA (or PKG-INFO), each as a list of values.

    Only the header block is read, from a regular file, within :data:`HEADER_LIMIT`.

    :raises MetadataUnreadableError: the file is not a regular file, too large, unreadable or
        not UTF-8.
    """
    folder = metadata_folder(dist)
    for name in _METADATA_FILES:
        try:
            if folder is not None:
                block = _read_head(os.path.join(folder, name))
            else:
                text = _foreign_text(dist, name, HEADER_LIMIT)
                block = text.split("\n\n", 1)[0] if text is not None else None
        except FileRefused as exc:
            raise MetadataUnreadableError(
                _where(dist, name), exc.message, _dist_name(dist)
            ) from None
        if block:
            return _parse_headers(block)
    return {}


def parse_header_block(text: str) -> Headers:
    """The header fields of METADATA text (its header block only), as :func:`headers` reads
    them from an installed distribution."""
    return _parse_headers(text.split("\n\n", 1)[0])


def parse_entry_points(text: str, group: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` entries of ``group`` in ``entry_points.txt`` text, parsed as
    :func:`entry_points_of` parses an installed one.

    :raises FileRefused: ``malformed``, a line of ``group`` that is not ``name = value``.
    """
    return _entries(text, group)


def _parse_headers(block: str) -> Headers:
    fields: Headers = {}
    for line in block.splitlines():
        name, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields.setdefault(name.strip(), []).append(value.strip())
    return fields


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed.

    :raises MetadataUnreadableError: it is installed, but its metadata cannot be read.
    """
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return None
    try:
        return headers(dist).get("Version", [None])[0]
    except MetadataUnreadableError as exc:
        raise MetadataUnreadableError(exc.path, exc.problem, name) from None


def entry_points_of(dist: md.Distribution, group: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` entries of ``group`` in a distribution's ``entry_points.txt``.

    Parsed as ``importlib.metadata`` parses it (lines stripped, ``#`` comments and blank lines
    skipped, ``[group]`` headers, ``name = value`` split at the first ``=``), from a regular
    UTF-8 file of at most :data:`ENTRY_POINTS_LIMIT` bytes; no file: no entries.

    :raises MetadataUnreadableError: the file cannot be read, or a line of ``group`` is not
        ``name = value``.
    """
    folder = metadata_folder(dist)
    try:
        if folder is not None:
            text = _read_whole(os.path.join(folder, _ENTRY_POINTS_FILE), ENTRY_POINTS_LIMIT)
        else:
            text = _foreign_text(dist, _ENTRY_POINTS_FILE, ENTRY_POINTS_LIMIT)
        if not text or group not in text:  # most distributions: no need to parse
            return []
        return _entries(text, group)
    except FileRefused as exc:
        where = _where(dist, _ENTRY_POINTS_FILE)
        raise MetadataUnreadableError(where, exc.message, _dist_name(dist)) from None


def _entries(text: str, group: str) -> list[tuple[str, str]]:
    found = []
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, sep, value = line.partition("=")
            if not sep:
                raise FileRefused(
                    "malformed",
                    f"line {number} of its [{group}] section is not 'name = value': {quote(line)}",
                )
            found.append((name.strip(), value.strip()))
    return found


# --------------------------------------------------------------------------- installed files

# A RECORD lists every installed file, a few MiB for the largest distributions known.
_RECORD_LIMIT = 64 * 1024 * 1024
_DIRECT_URL_LIMIT = 64 * 1024


def owned_files(dist_info: Path, paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` that belong to the distribution whose metadata is in ``dist_info``.

    A file is its own when its ``RECORD`` lists it (a wheel install), or when it lies in the
    project folder of an editable install (``direct_url.json``, PEP 610). Unreadable, oversized
    or malformed metadata proves nothing, so no file is owned through it.
    """
    listed = _recorded(dist_info, {path.name for path in paths})
    project = _editable_project(dist_info)
    owned = []
    for path in paths:
        real = Path(os.path.realpath(path))
        if real in listed or (project is not None and real.is_relative_to(project)):
            owned.append(path)
    return owned


def _read_small(path: Path, limit: int) -> str | None:
    """The text of the regular file ``path`` of at most ``limit`` bytes; None for anything
    else (absent, another kind of file, too large, unreadable); undecodable bytes replaced."""
    try:
        return read_regular_file(path, limit).decode("utf-8", errors="replace")
    except FileRefused:
        return None


def _recorded(dist_info: Path, names: set[str]) -> set[Path]:
    """The real paths of the files named ``names`` that ``dist_info/RECORD`` lists."""
    text = _read_small(dist_info / "RECORD", _RECORD_LIMIT)
    if text is None:
        return set()
    found = set()
    for line in text.splitlines():
        if not any(name in line for name in names):
            continue
        try:  # one row at a time: a malformed row proves nothing, the others still count
            row = next(csv.reader([line]), [])
            if row and Path(row[0]).name in names:
                found.add(Path(os.path.realpath(dist_info.parent / row[0])))
        except (csv.Error, ValueError):  # a field over csv's limit, a NUL in a path
            continue
    return found


def _editable_project(dist_info: Path) -> Path | None:
    """The local project folder of an editable install, from its ``direct_url.json``."""
    text = _read_small(dist_info / "direct_url.json", _DIRECT_URL_LIMIT)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    dir_info, url = data.get("dir_info"), data.get("url")
    if not (isinstance(dir_info, dict) and dir_info.get("editable") is True):
        return None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    folder = unquote(parts.path)
    if os.name == "nt":  # file:///C:/project -> C:/project
        folder = folder.lstrip("/")
    if "\0" in folder or not os.path.isabs(folder):
        return None
    return Path(os.path.realpath(folder))

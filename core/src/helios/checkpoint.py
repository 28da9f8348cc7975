"""Checkpoint files: atomic writes with a digest, safe loads, retention, and fallback past a
torn or corrupt file.

A file is torch's zip (``torch.save``) followed by a one-line trailer,
``helios-sha256 <64 hex digits>\\n``: the SHA-256 of the bytes before it. The trailer is written
into the same temporary file and renamed into place with it, so after a crash a file and its
digest always agree. Loading checks the digest before torch parses anything; a mismatch is a
corrupt file, and the run resumes from the previous one. Files of format 1 (before the digest)
are checked against the CRC-32 of each zip member instead, which torch does not check either.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import reprlib
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, cast

import torch

from helios.atomic import write_atomic
from helios.plugins._host.echo import shown

__all__ = [
    "FORMAT",
    "CheckpointError",
    "CorruptCheckpointError",
    "find_latest",
    "list_checkpoints",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
]

#: The checkpoint format written now: 3 adds ``metrics``, 2 the digest trailer; 1 and 2 are
#: read too (a resume from them leaves ``model.metrics`` as it is).
FORMAT = 3
#: The entries of a checkpoint and their types, in formats 1 and 2.
ENTRIES: dict[str, type] = {
    "format": int,
    "world_size": int,
    "state": dict,
    "model": dict,
    "plugins": dict,
    "rng": list,
}
#: The entries added by each format since 2.
ADDED: dict[int, dict[str, type]] = {3: {"metrics": list}}


def entries(version: int) -> dict[str, type]:
    """The entries a checkpoint of format ``version`` has, and their types."""
    found = dict(ENTRIES)
    for since, added in sorted(ADDED.items()):
        if version >= since:
            found.update(added)
    return found


_NAME = re.compile(r"^(?P<stem>.+)_step(?P<step>\d+)\.pth$")
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)_step\d+\.pth\.tmp-\d+$")
_MAGIC = b"helios-sha256 "
_TRAILER = len(_MAGIC) + 64 + 1
_CHUNK = 1 << 20


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the file and what to do."""


class CorruptCheckpointError(CheckpointError):
    """A torn or corrupt file: :func:`find_latest` falls back past it to an older one."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause  # "<type>: <first line>", for the fallback warning


def checkpoint_path(folder: Path, save_name: str, step: int) -> Path:
    return folder / f"{save_name}_step{step:09d}.pth"


def _is_regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:  # pragma: no cover - vanished meanwhile
        return False


def list_checkpoints(folder: Path, save_name: str) -> list[Path]:
    """This run's checkpoints, oldest first: regular files only (never a FIFO or a link)."""
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _NAME.match(entry.name)
            if match and match.group("stem") == save_name and _is_regular(entry):
                found.append((int(match.group("step")), folder / entry.name))
    return [path for _, path in sorted(found)]


class _Digesting:
    """A write-only file that hashes what passes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.sha = handle, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def save_checkpoint(data: dict[str, Any], path: Path, keep: int) -> None:
    """Write ``data`` and its digest atomically (temporary file, fsync, rename), then keep the
    newest ``keep`` files of this save name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named after the pid, so remove_stale_temporaries can tell a dead writer's file.
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.unlink(missing_ok=True)  # a stale one of an earlier process with this pid

    def write(handle: BinaryIO) -> None:
        digesting = _Digesting(handle)
        torch.save(data, cast(BinaryIO, digesting))  # torch only calls write()
        handle.write(_MAGIC + digesting.sha.hexdigest().encode("ascii") + b"\n")

    write_atomic(path, write, temporary=temporary, mode=0o644)
    stem = _NAME.match(path.name)
    if stem and keep > 0:
        for old in list_checkpoints(path.parent, stem.group("stem"))[:-keep]:
            if old != path:  # never the file just written
                old.unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path, save_name: str) -> list[Path]:
    """Remove the temporary files that writers of ``save_name`` left behind when they died.

    Call it only while holding the run's lock (:mod:`helios.runlock`): then no live process
    writes this save name, so every one of its temporary files is stale, whatever pid (or host)
    its name carries. Returns the removed files.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _TEMPORARY.match(entry.name)
            if match and match.group("stem") == save_name and _is_regular(entry):
                (folder / entry.name).unlink(missing_ok=True)
                removed.append(folder / entry.name)
    return sorted(removed)


class _Bounded(reprlib.Repr):
    """A ``repr`` of a few levels and items, whatever the value's depth or size."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, 80, 80, 80

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1000:  # repr would be long, or refuse (sys.get_int_max_str_digits)
            return f"<an int of {x.bit_length():,} bits>"
        return super().repr_int(x, level)


_REPR = _Bounded()


def shown_value(value: object) -> str:
    """A value read from a checkpoint, as a message shows it: escaped and cut, and only a few
    levels of a container (a file may nest lists deeper than ``repr`` can go)."""
    return shown(repr(value) if isinstance(value, str) else _REPR.repr(value))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def _refused(error: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler refused. torch re-raises its unpickler's error with
    advice around it; that first error, kept as the context, says what it was."""
    inner = error.__context__ if isinstance(error.__context__, pickle.UnpicklingError) else error
    found = re.search(r"GLOBAL ([\w.]+)", str(inner))
    if found:
        return f"pickled Python objects (GLOBAL {shown(found.group(1))})"
    return f"a pickle that torch.load(weights_only=True) refuses ({shown(_first_line(inner))})"


def _corrupt(path: Path, cause: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{path} is torn or corrupt ({cause})", cause)


def _verify(handle: BinaryIO, path: Path) -> bool:
    """Check the trailer's digest against the bytes before it; False if there is no trailer."""
    size = os.fstat(handle.fileno()).st_size
    if size < _TRAILER:
        return False
    handle.seek(size - _TRAILER)
    trailer = handle.read(_TRAILER)
    handle.seek(0)
    expected = trailer[len(_MAGIC) : -1]
    if not (
        trailer.startswith(_MAGIC)
        and trailer.endswith(b"\n")
        and re.fullmatch(rb"[0-9a-f]{64}", expected)
    ):
        return False
    sha, left = hashlib.sha256(), size - _TRAILER
    while left:
        chunk = handle.read(min(_CHUNK, left))
        if not chunk:
            raise _corrupt(path, "the file shrank while it was read")
        sha.update(chunk)
        left -= len(chunk)
    if sha.hexdigest().encode("ascii") != expected:
        raise _corrupt(path, "SHA-256 digest mismatch: its bytes changed after it was written")
    handle.seek(0)
    return True


def _check_crcs(handle: BinaryIO, path: Path) -> None:
    """A file without a digest: every zip member must match its CRC-32."""
    try:
        with zipfile.ZipFile(handle) as archive:  # leaves ``handle`` open
            bad = archive.testzip()
    except Exception as exc:  # not a zip archive, or a damaged one
        raise _corrupt(path, _first_line(exc)) from None
    if bad is not None:
        raise _corrupt(path, f"CRC-32 mismatch in its member {bad}")
    handle.seek(0)


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint: digest checked, then ``torch.load(weights_only=True)``, then its
    entries checked.

    Raises :class:`CorruptCheckpointError` for a torn or corrupt file (any failure to read or
    parse it) and :class:`CheckpointError` for a file that is intact but unusable: pickled
    Python objects, an unknown format, a missing, unknown or mistyped entry.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _corrupt(path, _first_line(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _corrupt(path, "not a regular file")
        try:
            verified = _verify(handle, path)
        except OSError as exc:
            raise _corrupt(path, _first_line(exc)) from None
        if not verified:
            _check_crcs(handle, path)
        try:
            data = torch.load(handle, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            # The type torch's weights-only unpickler refuses a pickle with, whatever the
            # wording: an intact file that holds something it does not load. The wording only
            # gives the detail: the object's name, or what else it refused.
            raise CheckpointError(
                f"{path} holds {_refused(exc)} and helios loads checkpoints with "
                "weights_only=True; save only tensors, numbers, strings and containers of them "
                "in state_dict()"
            ) from None
        except Exception as exc:  # every other failure of a parse: the bytes are damaged
            raise _corrupt(path, _first_line(exc)) from None
    return _checked(path, data, verified)


def _checked(path: Path, data: Any, verified: bool) -> dict[str, Any]:
    if not isinstance(data, dict) or "format" not in data:
        raise CheckpointError(
            f"{path} is not a helios checkpoint (no 'format' entry); move it out of the "
            "run_dir, or pass another run_dir"
        )
    version = data["format"]
    if type(version) is not int or not 1 <= version <= FORMAT:
        raise CheckpointError(
            f"{path}: entry 'format' is {shown_value(version)}, and this helios-trainer reads formats 1 to "
            f"{FORMAT}; a newer helios-trainer wrote it: upgrade (pip install -U "
            "helios-trainer), or pass another run_dir"
        )
    if version >= 2 and not verified:
        raise _corrupt(path, "its SHA-256 trailer is missing or damaged")
    expected = entries(version)
    for key, kind in expected.items():
        if key not in data:
            raise CheckpointError(
                f"{path}: entry {key!r} is missing; a helios checkpoint has "
                f"{', '.join(expected)}: delete the file to resume from the one before it"
            )
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise CheckpointError(
                f"{path}: entry {key!r} is a {type(data[key]).__name__}, expected a "
                f"{kind.__name__}; delete the file to resume from the one before it"
            )
    unknown = sorted(str(key) for key in data if key not in expected)
    if unknown:
        raise CheckpointError(
            f"{path}: entry {shown_value(unknown[0])} is unknown (a helios checkpoint has "
            f"{', '.join(expected)}); delete the file to resume from the one before it"
        )
    return data


def find_latest(
    folder: Path, save_name: str, map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads; a torn or corrupt newer one is skipped with a warning."""
    candidates = list_checkpoints(folder, save_name)
    failed: list[tuple[Path, CorruptCheckpointError]] = []
    for path in reversed(candidates):
        try:
            data = load_checkpoint(path, map_location)
        except CorruptCheckpointError as exc:
            failed.append((path, exc))
            continue
        for bad, error in failed:
            warnings.warn(
                f"checkpoint {bad} is torn or corrupt ({error.cause}); resuming from {path} "
                "instead",
                RuntimeWarning,
                stacklevel=2,
            )
        return path, data
    if failed:
        names = ", ".join(str(p) for p, _ in failed)
        raise CheckpointError(
            f"no usable checkpoint for {save_name!r} in {folder}: every file is torn or corrupt "
            f"({names}); delete them to start over"
        )
    return None

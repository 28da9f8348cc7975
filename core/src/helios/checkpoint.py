"""Checkpoint files: atomic writes, safe loads, retention, and fallback past a torn file."""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "find_latest", "load_checkpoint", "save_checkpoint"]

_NAME = re.compile(r"^(?P<stem>.+)_step(?P<step>\d+)\.pth$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the file and what to do."""


def checkpoint_path(folder: Path, save_name: str, step: int) -> Path:
    return folder / f"{save_name}_step{step:09d}.pth"


def list_checkpoints(folder: Path, save_name: str) -> list[Path]:
    """This run's checkpoints, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and match.group("stem") == save_name:
            found.append((int(match.group("step")), path))
    return [path for _, path in sorted(found)]


def save_checkpoint(data: dict[str, Any], path: Path, keep: int) -> None:
    """Write ``data`` atomically (temporary file, fsync, rename) and keep the newest ``keep``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            torch.save(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    stem = _NAME.match(path.name)
    if stem and keep > 0:
        for old in list_checkpoints(path.parent, stem.group("stem"))[:-keep]:
            if old != path:  # never the file just written
                old.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; refuse files that carry pickled Python objects."""
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "Unsupported class" in str(exc):
            found = re.search(r"GLOBAL [\w.]+", str(exc))
            raise CheckpointError(
                f"{path} holds pickled Python objects ({found.group(0) if found else 'a global'}) "
                "and helios loads checkpoints with weights_only=True; save only tensors, "
                "numbers, strings and containers of them in state_dict()"
            ) from None
        raise
    if not isinstance(data, dict) or "format" not in data:
        raise CheckpointError(f"{path} is not a helios checkpoint (no 'format' entry)")
    return data


_TORN = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError)


def find_latest(
    folder: Path, save_name: str, map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads; a torn or corrupt newer one is skipped with a warning."""
    candidates = list_checkpoints(folder, save_name)
    failed: list[tuple[Path, BaseException]] = []
    for path in reversed(candidates):
        try:
            data = load_checkpoint(path, map_location)
        except CheckpointError:
            raise
        except _TORN as exc:
            failed.append((path, exc))
            continue
        for bad, error in failed:
            detail = str(error).splitlines()[0] if str(error) else "no detail"
            warnings.warn(
                f"checkpoint {bad} is torn or corrupt ({type(error).__name__}: "
                f"{detail}); resuming from {path} "
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

"""Sampler checkpoints: the sampler's state saved per trial, so a resumed study samples on.

Optuna keeps trials in the study's storage, but a sampler's random state lives only in the
process. :func:`checkpoint_sampler` pickles ``trial.study.sampler`` to
``<chkpt_root>/sampler_trial-<number>.pkl`` (temp file, fsync, rename), and
:func:`restore_sampler` reads the newest (or a given trial's) back. A checkpoint is read as
hostile input: only a regular file, at most :data:`MAX_SAMPLER_BYTES`, through an unpickler that
resolves only Optuna's sampler/distribution classes and the NumPy pieces of a random state.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import optuna
from optuna.samplers import BaseSampler

__all__ = [
    "MAX_SAMPLER_BYTES",
    "SamplerCheckpointError",
    "checkpoint_sampler",
    "restore_sampler",
    "sampler_checkpoints",
]

#: The largest sampler checkpoint :func:`restore_sampler` reads (a TPE sampler is ~12 KB).
MAX_SAMPLER_BYTES = 64 * 1024 * 1024
#: ``sampler_trial-<number>.pkl``; the number has no leading zeros and at most 18 digits.
_NAME = re.compile(r"sampler_trial-(0|[1-9][0-9]{0,17})\.pkl")
#: Optuna modules whose own classes and functions a sampler's pickle may name.
_OPTUNA_MODULES = ("optuna.samplers", "optuna.distributions", "optuna.search_space")
#: NumPy names a pickled random state or array needs (any numpy module that defines them).
_NUMPY_NAMES = frozenset(
    {
        "dtype",
        "ndarray",
        "_frombuffer",
        "_reconstruct",
        "scalar",
        "RandomState",
        "Generator",
        "MT19937",
        "PCG64",
        "PCG64DXSM",
        "Philox",
        "SFC64",
        "__bit_generator_ctor",
        "__randomstate_ctor",
        "__generator_ctor",
        "SeedSequence",
        "__pyx_unpickle_SeedSequence",
    }
)
# No bytearray: bytearray(N) in a few bytes of pickle would allocate N bytes before any check.
_BUILTINS = frozenset({"set", "frozenset", "complex", "slice"})


class SamplerCheckpointError(ValueError):
    """A sampler checkpoint that cannot be read: not a regular file, too large, or refused."""


def _file_name(number: int) -> str:
    return f"sampler_trial-{number}.pkl"


def checkpoint_sampler(trial: optuna.Trial, chkpt_root: str | os.PathLike[str]) -> Path:
    """Save the state of ``trial.study.sampler`` as ``<chkpt_root>/sampler_trial-<number>.pkl``.

    Call it right after the trial's last suggestion and again after the study was told the
    trial's result (docs/optuna.md, "Study helpers"). The file is replaced atomically: a kill
    leaves the previous checkpoint or the new one, never a torn file. Returns the path.
    """
    study = getattr(trial, "study", None)
    if study is None:
        raise TypeError(
            f"checkpoint_sampler needs a trial of a study (optuna.Trial), found "
            f"{type(trial).__name__}; a FixedTrial has no sampler to save"
        )
    root = Path(chkpt_root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / _file_name(trial.number)
    data = pickle.dumps(study.sampler, protocol=pickle.HIGHEST_PROTOCOL)
    _write_atomically(path, data)
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync, rename."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sampler_checkpoints(chkpt_root: str | os.PathLike[str]) -> dict[int, Path]:
    """The sampler checkpoints in ``chkpt_root`` by trial number, in trial order.

    Names other than ``sampler_trial-<number>.pkl`` are ignored; a missing folder has none.
    """
    root = Path(chkpt_root)
    try:
        mode = root.lstat().st_mode
    except FileNotFoundError:
        return {}
    if not stat.S_ISDIR(mode):
        raise SamplerCheckpointError(
            f"the sampler checkpoint folder {str(root)!r} is not a directory; pass the folder "
            "that checkpoint_sampler writes to (it is created on the first checkpoint)"
        )
    found: dict[int, Path] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            match = _NAME.fullmatch(entry.name)
            if match is not None:
                found[int(match.group(1))] = root / entry.name
    return dict(sorted(found.items()))


def restore_sampler(
    chkpt_root: str | os.PathLike[str],
    trial_id: int | None = None,
    *,
    trusted: Collection[str] = (),
) -> BaseSampler | None:
    """The sampler saved by :func:`checkpoint_sampler` for trial number ``trial_id``, or the
    newest one (highest trial number) when ``trial_id`` is None; None when there is none.

    ``trusted`` names further globals the pickle may use, as ``"module:qualname"`` (e.g. a
    constraints function of your own); nothing else outside Optuna's samplers and NumPy's
    random state is resolved.

    :raises SamplerCheckpointError: the checkpoint is not a regular file, is larger than
        :data:`MAX_SAMPLER_BYTES`, names a global that is not allowed, or holds no sampler.
    :raises LookupError: ``trial_id`` was given and that trial has no checkpoint.
    """
    found = sampler_checkpoints(chkpt_root)
    if not found:
        return None
    if trial_id is None:
        path = found[max(found)]
    elif trial_id in found:
        path = found[trial_id]
    else:
        raise LookupError(
            f"no sampler checkpoint of trial {trial_id} in {str(chkpt_root)!r} (it holds trials "
            f"{_ranges(found)}); pass one of those numbers, or None for the newest"
        )
    return _load(path, frozenset(trusted))


def _ranges(found: dict[int, Path]) -> str:
    numbers = list(found)
    if len(numbers) > 8:
        return f"{', '.join(map(str, numbers[:4]))}, …, {', '.join(map(str, numbers[-2:]))}"
    return ", ".join(map(str, numbers))


def _load(path: Path, trusted: frozenset[str]) -> BaseSampler:
    data = _read_regular(path, MAX_SAMPLER_BYTES)
    try:
        sampler = _Unpickler(io.BytesIO(data), path, trusted).load()
    except SamplerCheckpointError:
        raise
    except Exception as exc:  # a torn or foreign file: pickle raises many kinds
        raise SamplerCheckpointError(
            f"the sampler checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: "
            f"{exc}); delete it to fall back to the previous one"
        ) from None
    if not isinstance(sampler, BaseSampler):
        raise SamplerCheckpointError(
            f"the sampler checkpoint {str(path)!r} holds a {type(sampler).__name__}, not an "
            "optuna sampler; write it with checkpoint_sampler, or delete it"
        )
    return sampler


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file (a symlink is refused) of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        raise SamplerCheckpointError(
            f"the sampler checkpoint {str(path)!r} cannot be opened as a regular file "
            f"({exc.strerror}); a symlink or special file is refused: replace it with the "
            "file checkpoint_sampler wrote"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SamplerCheckpointError(
                f"the sampler checkpoint {str(path)!r} is not a regular file; replace it with "
                "the file checkpoint_sampler wrote"
            )
        if info.st_size > limit:
            raise SamplerCheckpointError(
                f"the sampler checkpoint {str(path)!r} has {info.st_size} bytes, more than the "
                f"{limit} a sampler checkpoint may have; it is not one: delete it"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SamplerCheckpointError(
            f"the sampler checkpoint {str(path)!r} grew past {limit} bytes while read; delete it"
        )
    return data


class _Unpickler(pickle.Unpickler):
    """Resolves only sampler state: Optuna's sampler classes and NumPy's random state."""

    def __init__(self, stream: io.BytesIO, path: Path, trusted: frozenset[str]) -> None:
        super().__init__(stream)
        self._path = path
        self._trusted = trusted

    def find_class(self, module: str, name: str) -> Any:
        if f"{module}:{name}" in self._trusted:
            return super().find_class(module, name)
        if "." not in name and _allowed_module(module, name):
            found = super().find_class(module, name)
            if _defined_in_allowed(found, module, name):
                return found
        raise SamplerCheckpointError(
            f"the sampler checkpoint {str(self._path)!r} names the global {module}.{name}, "
            "which a sampler checkpoint may not use (only Optuna's samplers and distributions "
            "and NumPy's random state are resolved); if you wrote it and trust it, pass "
            f"trusted=[{f'{module}:{name}'!r}] to restore_sampler, else delete it"
        )


def _allowed_module(module: str, name: str) -> bool:
    if module == "builtins":
        return name in _BUILTINS
    if module == "numpy" or module.startswith("numpy."):
        return name in _NUMPY_NAMES
    return any(module == m or module.startswith(f"{m}.") for m in _OPTUNA_MODULES)


def _defined_in_allowed(found: Any, module: str, name: str) -> bool:
    """The object is a class or function of that library, not something it imported."""
    if module == "builtins":
        return True
    if not isinstance(found, type) and not callable(found):
        return False
    home = getattr(found, "__module__", None) or ""
    if module.startswith("numpy"):
        return home == "numpy" or home.startswith("numpy.")
    return home == module

"""Optuna internals helios-optuna relies on, each behind one guarded accessor.

Optuna has no public API for these: a study's storage, a trial's storage id, a ``Trial`` built
for a trial that another process asked, and the values a trial object holds without a read.
If a future Optuna renames one, the accessor raises :class:`OptunaInternalsError` naming it,
instead of an ``AttributeError`` deep in a training run. The nox cells ``optuna(floor)`` and
``optuna(newest)`` test the lowest and the newest Optuna.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from optuna import Study
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import BaseTrial, FrozenTrial, Trial

__all__ = [
    "OptunaInternalsError",
    "cached_intermediate_values",
    "rdb_backend",
    "stored_trial",
    "study_storage",
    "trial_for",
    "trial_id",
]


class OptunaInternalsError(RuntimeError):
    """An Optuna internal that helios-optuna uses is missing from the installed Optuna."""


def _missing(what: str, where: str) -> OptunaInternalsError:
    try:
        version = importlib.metadata.version("optuna")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - optuna is imported
        version = "unknown"
    try:
        ours = importlib.metadata.version("helios-optuna")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from source
        ours = "unknown"
    return OptunaInternalsError(
        f"helios-optuna {ours} needs {what} ({where}), which optuna {version} does not have; "
        "upgrade helios-optuna (pip install -U helios-optuna), or install the newest optuna "
        "it was tested with (see its changelog)"
    )


def study_storage(study: Study) -> BaseStorage:
    """The storage ``study`` reads and writes (``Study._storage``)."""
    storage = getattr(study, "_storage", None)
    if not isinstance(storage, BaseStorage):
        raise _missing("a study's storage", "optuna.Study._storage")
    return storage


def rdb_backend(storage: BaseStorage) -> RDBStorage | None:
    """The RDB storage behind ``storage`` (Optuna wraps it in a cache), or None."""
    if isinstance(storage, RDBStorage):
        return storage
    if type(storage).__name__ == "_CachedStorage":  # Optuna's cache around an RDB storage
        backend = getattr(storage, "_backend", None)
        if not isinstance(backend, RDBStorage):
            raise _missing("the RDB storage inside a cached one", "_CachedStorage._backend")
        return backend
    return None


def trial_id(trial: FrozenTrial | Trial) -> int:
    """The storage's id of ``trial`` (``_trial_id``; trial numbers count per study)."""
    value = getattr(trial, "_trial_id", None)
    if not isinstance(value, int):
        raise _missing("a trial's storage id", f"{type(trial).__name__}._trial_id")
    return value


def trial_for(study: Study, frozen: FrozenTrial) -> Trial:
    """A :class:`optuna.trial.Trial` that writes to the running trial ``frozen`` of ``study``."""
    try:
        return Trial(study, trial_id(frozen))
    except TypeError as exc:
        raise _missing("Trial(study, trial_id)", f"optuna.trial.Trial: {exc}") from None


def cached_intermediate_values(trial: BaseTrial) -> dict[int, float]:
    """The steps ``trial`` holds values for, as the trial object knows them (no storage read).

    Empty for trials without such a cache (``FixedTrial``); on a real ``Trial`` whose cache is
    gone the guarded error is raised, since silently empty would report steps twice.
    """
    if not isinstance(trial, Trial):
        return {}
    frozen: Any = getattr(trial, "_cached_frozen_trial", None)
    values = getattr(frozen, "intermediate_values", None)
    if not isinstance(values, dict):
        raise _missing("a trial's cached values", "optuna.trial.Trial._cached_frozen_trial")
    return values


def stored_trial(trial: Trial) -> FrozenTrial:
    """What the storage holds for ``trial`` now: a read, past the cache of this process."""
    return study_storage(trial.study).get_trial(trial_id(trial))

"""Private Optuna internals go through helios_optuna._internals only; a missing one is named
(OptunaInternalsError), never an AttributeError deep in a run."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import optuna
import pytest
from optuna_job import METRIC

import helios_optuna.plugin
from helios_optuna import OptunaPlugin, attach_trial
from helios_optuna._internals import OptunaInternalsError, rdb_backend


def missing(what: str, where: str) -> str:
    ours = importlib.metadata.version("helios-optuna")
    theirs = importlib.metadata.version("optuna")
    return (
        f"helios-optuna {ours} needs {what} ({where}), which optuna {theirs} does not have; "
        "upgrade helios-optuna (pip install -U helios-optuna), or install the newest optuna "
        "it was tested with (see its changelog)"
    )


def test_plugin_py_reaches_no_private_optuna_name_itself() -> None:
    source = Path(helios_optuna.plugin.__file__).read_text(encoding="utf-8")
    private = re.findall(
        r"\._storage\b|\._backend\b|\._trial_id\b|_cached_frozen_trial|\bTrial\(", source
    )
    assert private == []


def test_a_study_without_its_storage_attribute_is_named(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.create_study(storage=storage_url, study_name="tune")
    study.ask()
    monkeypatch.delattr(study, "_storage")
    with pytest.raises(OptunaInternalsError) as caught:
        attach_trial(study, 0)
    assert str(caught.value) == missing("a study's storage", "optuna.Study._storage")


def test_a_trial_without_its_storage_id_is_named(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = optuna.create_study(storage=storage_url).ask()
    monkeypatch.delattr(trial, "_trial_id")
    with pytest.raises(OptunaInternalsError) as caught:
        OptunaPlugin(trial, METRIC).check_pruned()  # did not train: reads the storage
    assert str(caught.value) == missing("a trial's storage id", "Trial._trial_id")


def test_a_cached_storage_without_its_backend_is_named() -> None:
    from optuna.storages._cached_storage import _CachedStorage

    storage = object.__new__(_CachedStorage)  # as a future Optuna might lay it out
    with pytest.raises(OptunaInternalsError, match=r"_CachedStorage\._backend"):
        rdb_backend(storage)

"""Typed suggestions with Optuna's signatures: the values Optuna's own methods give."""

from __future__ import annotations

import inspect

import optuna
import pytest
from optuna_job import METRIC

from helios_optuna import OptunaPlugin


def sampled() -> tuple[optuna.trial.Trial, optuna.trial.Trial]:
    """Two trials of two studies whose samplers draw the same values."""
    return tuple(  # type: ignore[return-value]
        optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5)).ask() for _ in range(2)
    )


def test_typed_suggestions_give_what_the_trial_methods_give() -> None:
    ours, theirs = sampled()
    plugin = OptunaPlugin(ours, METRIC)
    got = [
        plugin.suggest_float("lr", 1e-4, 1e-1, log=True),
        plugin.suggest_float("dropout", 0.0, 0.5, step=0.1),
        plugin.suggest_int("layers", 1, 9, step=2),
        plugin.suggest_int("width", 8, 512, log=True),
        plugin.suggest_categorical("act", ["relu", "gelu", None]),
    ]
    expected = [
        theirs.suggest_float("lr", 1e-4, 1e-1, log=True),
        theirs.suggest_float("dropout", 0.0, 0.5, step=0.1),
        theirs.suggest_int("layers", 1, 9, step=2),
        theirs.suggest_int("width", 8, 512, log=True),
        theirs.suggest_categorical("act", ["relu", "gelu", None]),
    ]
    assert got == expected
    assert ours.params == theirs.params
    assert ours.distributions == theirs.distributions
    assert plugin.suggest_int("layers", 1, 9, step=2) == got[2]  # stored: the same again


@pytest.mark.parametrize("method", ["suggest_float", "suggest_int", "suggest_categorical"])
def test_typed_suggestions_take_the_parameters_of_optuna(method: str) -> None:
    ours = inspect.signature(getattr(OptunaPlugin, method)).parameters
    theirs = inspect.signature(getattr(optuna.trial.Trial, method)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


def test_optuna_refuses_bad_ranges_through_the_typed_suggestions() -> None:
    with pytest.raises(ValueError, match="low") as theirs:  # Optuna's words differ by release
        optuna.create_study().ask().suggest_float("lr", 1.0, 0.1)
    plugin = OptunaPlugin(optuna.create_study().ask(), METRIC)
    with pytest.raises(ValueError, match="low") as ours:
        plugin.suggest_float("lr", 1.0, 0.1)
    assert str(ours.value) == str(theirs.value)

"""Processes for tests/optuna/test_study.py and test_sampler.py: racing creators and a TPE
study that can be killed between trials or mid-trial.

``python study_job.py race CONFIG``: prints ``ready``, waits for a line on stdin (the barrier),
then creates or loads the study and prints one JSON line of what happened.
``python study_job.py tune CONFIG``: runs the documented resumable study (docs/optuna.md,
"Study helpers"); with ``stop`` it prints ``mid <n>`` (after trial n's sampler checkpoint) or
``between <n>`` (after trial n was told) and waits on stdin, where the test kills it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import optuna
from optuna.trial import TrialState

from helios_optuna import (
    attach_trial,
    checkpoint_sampler,
    create_or_load_study,
    restore_sampler,
    sampler_checkpoints,
)

STUDY = "key"


class OwnSampler(optuna.samplers.RandomSampler):
    """A sampler of the user's own (a global that a sampler checkpoint names)."""


def race(config: dict[str, Any]) -> None:
    print("ready", flush=True)
    sys.stdin.readline()  # the barrier: every racer is released by the same line
    try:
        if config["helper"]:
            study = create_or_load_study(
                storage=config["url"], study_name="race", load_if_exists=True
            )
        else:
            study = optuna.create_study(
                storage=config["url"], study_name="race", load_if_exists=True
            )
    except Exception as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}))
        return
    print(json.dumps({"ok": True, "study": study.study_name}))


def tune(config: dict[str, Any]) -> None:
    samplers = config["samplers"]
    stop = config.get("stop")  # ["mid" | "between", trial number] or None
    study = create_or_load_study(
        sampler_path=samplers if config["restore"] else None,
        storage=config["url"],
        study_name=STUDY,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=config["seed"], n_startup_trials=3),
    )

    def run(trial: optuna.Trial) -> None:
        x = trial.suggest_float("x", -2.0, 2.0)
        n = trial.suggest_int("n", 0, 6)
        c = trial.suggest_categorical("c", ["a", "b", "c"])
        checkpoint_sampler(trial, samplers)  # after the last suggestion
        if stop == ["mid", trial.number]:
            print(f"mid {trial.number}", flush=True)
            sys.stdin.readline()  # killed here
        study.tell(trial, (x - 0.3) ** 2 + (n - 2) ** 2 + {"a": 0.5, "b": 0.0, "c": 1.0}[c])
        checkpoint_sampler(trial, samplers)  # after the study was told
        if stop == ["between", trial.number]:
            print(f"between {trial.number}", flush=True)
            sys.stdin.readline()  # killed here

    # The documented procedure: finish what a killed process left running, then go on.
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if config["restore"] and frozen.number in sampler_checkpoints(samplers):
            trial = attach_trial(study, frozen.number)
            study.sampler = restore_sampler(samplers, frozen.number) or study.sampler
            run(trial)
        else:  # its parameters were not all drawn: the next trial draws them again
            study.tell(frozen.number, state=TrialState.FAIL)
    while len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < config["trials"]:
        run(study.ask())


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    {"race": race, "tune": tune}[sys.argv[1]](json.loads(sys.argv[2]))

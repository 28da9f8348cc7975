"""The demo's Optuna study: one SQLite file in the run folder, trials, pruning, resume.

* The study lives in ``<run-dir>/study.db`` and each trial's checkpoints in
  ``<run-dir>/checkpoints`` (``digits_trial-<number>_step….pth``, the newest one kept).
* ``--trials N`` is the number of finished (completed or pruned) trials the study should hold:
  a rerun adds only the missing ones.
* A trial left ``RUNNING`` by an interrupted run is resumed first, under the same trial number,
  from its newest checkpoint (``helios_optuna.attach_trial`` and the trainer's exact resume);
  its hyper-parameters come back from the study.
* The sampler (TPE) is seeded from ``--seed`` and the number of trials the study holds, so an
  uninterrupted run is reproducible and a rerun never repeats the suggestions of the first.
* With ``--workers N`` the parent opens (creates) the study and checks its settings once; each
  worker process loads it (``worker=`` its index) with a sampler of its own seed, and TPE's
  constant liar, so that workers do not propose the same point while trials run.
* The pruner (median) stops a trial whose validation accuracy after an epoch is below the
  median of the earlier trials at that epoch, once 5 trials have finished and after 3 epochs.
* Test-only: :data:`PAUSE_ENV` pauses a trial before a given epoch until a signal comes, so a
  test can interrupt the demo at a known point.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import BaseTrial, FixedTrial, FrozenTrial, TrialState

from helios.checkpoint import list_checkpoints
from helios.demo import DemoError
from helios.demo.data import DigitsData
from helios.demo.model import METRIC, DigitsClassifier, describe_params
from helios.demo.storage import open_storage
from helios.plugins._host.echo import quote
from helios.plugins.plugin import Plugin
from helios.trainer import Trainer

__all__ = [
    "DB_NAME",
    "DONE",
    "PAUSE_ENV",
    "STUDY_NAME",
    "DemoError",
    "DemoSettings",
    "Evaluation",
    "Tuner",
    "pause_line",
    "summary",
]

STUDY_NAME = "helios-demo"
DB_NAME = "study.db"
CHECKPOINTS = "checkpoints"
SAVE_NAME = "digits"
#: The study's user attribute holding ``{"epochs": …, "seed": …}`` (one attribute, one write).
SETTINGS_ATTR = "demo-settings"
_SETTINGS_KEYS = ("epochs", "seed")
#: Trial states that count towards ``--trials``.
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
#: Test-only, never set in normal use: ``<trial>:<epoch>`` makes trial ``<trial>`` print a line
#: saying so and wait for a signal (Ctrl-C) just before it trains epoch ``<epoch>`` (counted from
#: 1), once the epochs before it are reported and checkpointed. A test interrupts the demo there,
#: at a known point, instead of racing it.
PAUSE_ENV = "HELIOS_DEMO_TEST_PAUSE"


@dataclass(frozen=True)
class DemoSettings:
    """What one ``helios demo`` run was asked to do (device resolved: ``cpu`` or ``cuda``)."""

    run_dir: Path
    trials: int
    epochs: int
    seed: int
    device: str
    #: ``--storage``; None: the SQLite file ``<run-dir>/study.db``.
    storage_url: str | None = None
    #: ``--workers``: processes that run trials at once (1: the command's own process).
    workers: int = 1

    @property
    def storage(self) -> str:
        if self.storage_url is not None:
            return self.storage_url
        return f"sqlite:///{(self.run_dir / DB_NAME).resolve()}"

    @property
    def study_place(self) -> str:
        """Where the study is, for messages: the SQLite file, or the URL (password hidden)."""
        if self.storage_url is None:
            return str(self.run_dir / DB_NAME)
        from helios.demo.storage import shown_url

        return shown_url(self.storage_url)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / CHECKPOINTS


@dataclass(frozen=True)
class Evaluation:
    """The best trial and how its trained weights do on the held-out test images."""

    trial: FrozenTrial
    accuracy: float
    images: int


def _pruner() -> optuna.pruners.BasePruner:
    # Steps are validation cycles, from 0: step 2 is epoch 3, the first one it may prune after.
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


def _sampler(settings: DemoSettings, held: int, worker: int) -> optuna.samplers.BaseSampler:
    """TPE seeded from ``--seed``, the trials the study holds and the worker's index.

    Worker 0 (and the command's own process) gets the seed the demo always had. Several workers
    use the constant liar: a running trial counts as a bad one, so a worker does not sample
    next to the point another worker is training.
    """
    seed = (settings.seed * 1_000_003 + held + worker * 0x9E3779B9) % 2**32
    with warnings.catch_warnings():  # constant_liar is marked experimental in Optuna 4
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=settings.workers > 1)


class Tuner:
    """Runs the study of :class:`DemoSettings` with the plug-ins the command selected.

    :param plugin_class: ``OptunaPlugin``, as the manifest-checked loader returned it.
    :param attach: ``helios_optuna.attach_trial`` (imported once the checks passed).
    :param plugin_ids: further installed plug-ins for every trainer (``["cuda"]`` on a GPU).
    :param worker: the index of a worker process (``--workers``), which loads the study the
        command created and checked; None in the command's own process, which creates it.
    """

    def __init__(
        self,
        settings: DemoSettings,
        plugin_class: type[Plugin],
        attach: Callable[[optuna.Study, int], optuna.trial.Trial],
        plugin_ids: Sequence[str] = (),
        *,
        worker: int | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        self.plugin_class: Any = plugin_class  # called as OptunaPlugin(trial, metric_name)
        self.attach = attach
        self.plugin_ids = list(plugin_ids)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # progress comes from tqdm
        self.pause = _pause_point()
        self.study = self._open()

    def _open(self) -> optuna.Study:
        settings = self.settings
        own = settings.run_dir / DB_NAME if settings.storage_url is None else None
        storage = open_storage(settings.storage, own)
        if self.worker is not None:  # created and checked by the command before it started us
            study = optuna.load_study(study_name=STUDY_NAME, storage=storage, pruner=_pruner())
            study.sampler = _sampler(settings, len(study.get_trials(deepcopy=False)), self.worker)
            return study
        # Imported here: the loader checked and imported helios-optuna before a Tuner exists.
        from helios_optuna import create_or_load_study  # safe when two demos start together

        study = create_or_load_study(
            storage=storage,
            study_name=STUDY_NAME,
            load_if_exists=True,
            direction="maximize",
            pruner=_pruner(),
        )
        wanted = {"epochs": settings.epochs, "seed": settings.seed}
        found = _stored_settings(study)
        if found is None:
            if study.get_trials(deepcopy=False):
                raise DemoError(
                    f"the study in {settings.study_place} holds trials but not the "
                    "--epochs and --seed they were tuned with; add --fresh to start over"
                )
            # One attribute, written in one call: a run killed here stores all or nothing.
            study.set_user_attr(SETTINGS_ATTR, wanted)
        elif found != wanted:
            raise DemoError(
                f"the study in {settings.study_place} was tuned with --epochs "
                f"{found['epochs']} --seed {found['seed']}, and this run asks for --epochs "
                f"{settings.epochs} --seed {settings.seed}; rerun with --epochs {found['epochs']} "
                f"--seed {found['seed']} to resume it, or add --fresh to start over"
            )
        study.sampler = _sampler(settings, len(study.get_trials(deepcopy=False)), 0)
        return study

    # ------------------------------------------------------------------ planning
    def interrupted(self) -> list[int]:
        """Trials an earlier run left running (killed or interrupted): resumed first."""
        return [
            t.number for t in self.study.get_trials(deepcopy=False, states=[TrialState.RUNNING])
        ]

    def done(self) -> int:
        """Trials that count towards ``--trials``."""
        return len(self.study.get_trials(deepcopy=False, states=DONE))

    # ------------------------------------------------------------------ trials
    def trainer(self, plugin: Plugin) -> Trainer:
        """A trainer for one trial: validate and checkpoint every epoch, no inner progress bar."""
        settings = self.settings
        return Trainer(
            total=settings.epochs,
            valid_every=1,
            checkpoint_every=1,
            run_dir=settings.checkpoints,
            keep_checkpoints=1,
            seed=settings.seed,
            device=settings.device,
            progress=False,
            plugins=[*self.plugin_ids, plugin],
        )

    def run_trial(self, trial: optuna.trial.Trial) -> FrozenTrial:
        """Train one trial (resuming it if it has a checkpoint) and tell the study its end."""
        plugin: Any = self.plugin_class(trial, METRIC)
        pause = self.pause
        model = (
            _PausingClassifier(SAVE_NAME, trial.number, pause[1])
            if pause is not None and pause[0] == trial.number
            else DigitsClassifier(SAVE_NAME)
        )
        try:
            self.trainer(plugin).fit(model, DigitsData())
            plugin.check_pruned()  # a resumed trial that had finished: fit trains nothing
        except optuna.TrialPruned:
            self.study.tell(trial.number, state=TrialState.PRUNED)
            for path in list_checkpoints(self.settings.checkpoints, _save_name(trial)):
                path.unlink(missing_ok=True)  # never needed again
        except Exception:
            self.study.tell(trial.number, state=TrialState.FAIL)
            raise
        else:  # a resumed finished trial has its metrics back from the checkpoint
            self.study.tell(trial.number, model.metrics[METRIC])
        return self._frozen(trial.number)

    def resume(self, number: int) -> FrozenTrial:
        """Continue the running trial ``number`` from its newest checkpoint."""
        return self.run_trial(self.attach(self.study, number))

    def new_trial(self) -> FrozenTrial:
        """Ask the sampler for a new trial and train it."""
        return self.run_trial(self.study.ask())

    def _frozen(self, number: int) -> FrozenTrial:
        return next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)

    # ------------------------------------------------------------------ the result
    def test_best(self) -> Evaluation:
        """Test the best trial's final weights (its checkpoint) on the held-out test images.

        ``fit`` only loads that checkpoint, since the trial's training finished; if the file
        is gone, it trains the same parameters again from the same seed.
        """
        completed = self.study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
        if not completed:
            raise DemoError(
                f"the study in {self.settings.study_place} has no completed trial to "
                "test (every trial was pruned or failed); add trials with a larger --trials"
            )
        best = self.study.best_trial
        fixed: BaseTrial = FixedTrial(best.params, number=best.number)
        plugin: Any = self.plugin_class(fixed, METRIC)
        trainer = self.trainer(plugin)
        # A FixedTrial has no study: the plug-in appends ``_trial-<n>`` only.
        model, data = DigitsClassifier(f"{SAVE_NAME}_{STUDY_NAME}"), DigitsData()
        trainer.fit(model, data)
        trainer.test(model, data)
        return Evaluation(best, model.metrics["test_accuracy"], int(model.metrics["test_images"]))


def _stored_settings(study: optuna.Study) -> dict[str, int] | None:
    """The ``--epochs`` and ``--seed`` stored with ``study``, or None if it holds none (whole).

    Studies of older demos hold them as two attributes, ``epochs`` and ``seed``, written one
    after the other: both are read as the settings; one alone (a run killed between the two
    writes) counts as none.
    """
    attrs = study.user_attrs
    stored = attrs.get(SETTINGS_ATTR)
    if stored is None and all(key in attrs for key in _SETTINGS_KEYS):
        stored = {key: attrs[key] for key in _SETTINGS_KEYS}
    if not isinstance(stored, dict):
        return None
    values = {key: stored.get(key) for key in _SETTINGS_KEYS}
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in values.values()):
        return None
    return {key: int(value) for key, value in values.items() if isinstance(value, int)}


def _pause_point() -> tuple[int, int] | None:
    """The trial and epoch of :data:`PAUSE_ENV` (test-only), or None when it is not set."""
    value = os.environ.get(PAUSE_ENV, "")
    if not value:
        return None
    found = re.fullmatch(r"([0-9]{1,6}):([0-9]{1,6})", value)
    if found is None or int(found[2]) < 1:
        shown = quote(value, limit=40, quote_char="'")
        raise DemoError(
            f"{PAUSE_ENV} is {shown}, expected <trial>:<epoch> (whole numbers, epoch from 1); "
            "it is a test-only setting: unset it"
        )
    return int(found[1]), int(found[2])


class _PausingClassifier(DigitsClassifier):
    """The classifier of the trial :data:`PAUSE_ENV` names (test-only): pauses before an epoch."""

    def __init__(self, save_name: str, trial: int, epoch: int) -> None:
        super().__init__(save_name)
        self.pause_trial, self.pause_epoch = trial, epoch

    def on_training_epoch_start(self, epoch: int) -> None:
        super().on_training_epoch_start(epoch)
        if epoch + 1 == self.pause_epoch:  # the trainer counts epochs from 0
            print(pause_line(self.pause_trial, self.pause_epoch), flush=True)
            threading.Event().wait()  # until a signal's handler raises (Ctrl-C: KeyboardInterrupt)


def pause_line(trial: int, epoch: int) -> str:
    """What the demo prints when it pauses for :data:`PAUSE_ENV` (test-only)."""
    return f"{PAUSE_ENV}: trial {trial} paused before epoch {epoch}; waiting for a signal"


def _save_name(trial: BaseTrial) -> str:
    """The checkpoint stem of a trial (the optuna plug-in appends ``_<study>_trial-<number>``;
    :data:`STUDY_NAME` is file-safe as it is)."""
    return f"{SAVE_NAME}_{STUDY_NAME}_trial-{trial.number}"


def summary(trial: FrozenTrial, epochs: int) -> str:
    """One line about a finished trial, for the log above the progress bar."""
    values = trial.intermediate_values  # step = validation cycle, from 0 = epoch - 1
    last = max(values) + 1 if values else 0
    accuracy = f"{values[last - 1]:.4f}" if values else "n/a"
    what = {
        TrialState.COMPLETE: f"completed {last}/{epochs} epochs",
        TrialState.PRUNED: f"pruned after epoch {last}/{epochs}",
    }.get(trial.state, trial.state.name.lower())
    return (
        f"trial {trial.number:>2}: {what}, valid accuracy {accuracy} "
        f"({describe_params(trial.params)})"
    )

"""The :class:`OptunaPlugin`: one Optuna trial per Helios training run.

Once per validation cycle the plug-in reports the model's metric to the trial (global rank 0
only), asks the study's pruner whether to stop (rank 0 only), and shares that decision with
every rank. The trainer asks it after every optimiser step too: it answers from that cached
decision, without touching the study's storage. Its state rides in the trainer's checkpoints,
so a killed trial resumes under the same trial number.

In a distributed (DDP) run every rank holds its own :class:`optuna.trial.Trial` of the same
trial, attached through a storage all ranks share (see :func:`attach_trial`); only rank 0
writes to it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
import torch
import torch.distributed as dist
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.trial import BaseTrial, Trial, TrialState

from helios.distributed import world
from helios.model import MissingMetricError
from helios.plugins.plugin import Plugin, UniquePluginOverrides

if TYPE_CHECKING:
    from helios.trainer import Trainer

__all__ = ["OptunaPlugin", "attach_trial"]

log = logging.getLogger("helios")

#: suggest()'s type names and the trial method each one calls.
SUGGESTIONS: dict[str, str] = {
    "categorical": "suggest_categorical",
    "float": "suggest_float",
    "int": "suggest_int",
}

_SHARED_STORAGES = (
    "sqlite:///path/to/study.db (one machine), postgresql://user:password@host/db or "
    "mysql://user:password@host/db (several machines)"
)


class OptunaPlugin(Plugin):
    """Tune a Helios training with Optuna: report a metric, prune, resume.

    :param trial: the trial this run evaluates (an :class:`optuna.trial.Trial`, or a
        :class:`optuna.trial.FixedTrial` to re-train chosen parameters).
    :param metric_name: the key of ``model.metrics`` to report after each validation cycle.

    The step reported to Optuna is the trainer's validation cycle number (0, 1, ...), as in
    helios-ml. The pruner is asked once per validation cycle; the trainer's asks after each
    optimiser step get that cached answer. ``configure_trainer`` registers the plug-in (as
    helios-ml 1.x does) and lets ``optuna.TrialPruned`` leave ``fit`` and ``test``.
    """

    plugin_id = "optuna"
    declared_overrides = UniquePluginOverrides(should_training_stop=True)

    def __init__(self, trial: BaseTrial, metric_name: str) -> None:
        super().__init__(self.plugin_id)
        _check_trial(trial, "OptunaPlugin(trial, metric_name)")
        if not isinstance(metric_name, str) or not metric_name:
            raise TypeError(
                f"metric_name must be a key of model.metrics (a non-empty string), found "
                f"{metric_name!r}"
            )
        self._trial = trial
        self._metric_name = metric_name
        self._model: weakref.ref[Any] | None = None  # weak: the plug-in keeps no model alive
        self._pending: int | None = None  # the cycle whose metric waits to be reported
        self._reported = 0  # how many cycles were reported: the next one to report
        self._pruned = False
        self._pruned_at = 0
        self._pruned_value = math.nan

    def __repr__(self) -> str:
        return f"<OptunaPlugin trial={self._trial.number} metric_name={self._metric_name!r}>"

    # ------------------------------------------------------------------ public API
    @property
    def trial(self) -> BaseTrial:
        """The Optuna trial this run evaluates.

        Settable, as in helios-ml, before ``fit``: e.g. one plug-in reused for the next trial
        of a study. A run resumed from a checkpoint of another trial is refused at resume.
        """
        return self._trial

    @trial.setter
    def trial(self, trial: BaseTrial) -> None:
        _check_trial(trial, "OptunaPlugin.trial")
        self._trial = trial

    @property
    def metric_name(self) -> str:
        """The key of ``model.metrics`` reported to Optuna."""
        return self._metric_name

    @property
    def pruned(self) -> bool:
        """Whether the pruner stopped this trial (the same on every rank)."""
        return self._pruned

    def suggest(self, type_name: str, name: str, **kwargs: Any) -> Any:
        """Suggest a value for the hyper-parameter ``name`` through the trial.

        ``type_name`` picks the trial method: ``"categorical"`` (``choices=...``), ``"int"``
        (``low, high, step=1, log=False``) or ``"float"`` (``low, high, step=None,
        log=False``); ``kwargs`` are passed on. In a distributed run, call it on every rank in
        the same order: inside ``fit`` (e.g. in ``Model.setup``) rank 0 samples the value and
        sends it to the others; before ``fit`` only parameters the trial holds already (e.g.
        suggested by the process that asked the trial) can be read.
        """
        method = SUGGESTIONS.get(type_name)
        if method is None:
            raise ValueError(
                f"unknown suggestion type {type_name!r} for parameter {name!r}: use one of "
                f"{', '.join(repr(t) for t in sorted(SUGGESTIONS))}, e.g. "
                f"plugin.suggest('float', {name!r}, low=1e-4, high=1e-1, log=True)"
            )
        _check_arguments(self._trial, type_name, name, kwargs)
        suggest: Callable[..., Any] = getattr(self._trial, method)
        env = world()
        if not env.distributed:
            return suggest(name, **kwargs)
        if not dist.is_initialized():
            if name in self._trial.params:  # stored before the ranks attached: a read only
                return suggest(name, **kwargs)
            raise RuntimeError(
                f"suggest({type_name!r}, {name!r}) in a distributed run before fit(): the ranks "
                "cannot agree on a new value yet. Suggest it inside fit (e.g. in Model.setup, "
                "where rank 0 samples it and sends it to the other ranks), or suggest it in "
                "the process that asked the trial before starting the ranks"
            )
        shared = [suggest(name, **kwargs) if env.rank == 0 else None]
        device = torch.device("cuda", env.local_rank) if dist.get_backend() == "nccl" else None
        dist.broadcast_object_list(shared, src=0, device=device)
        return shared[0]

    def report_metrics(self, validation_cycle: int) -> None:
        """Report ``model.metrics[metric_name]`` as the value of step ``validation_cycle``.

        Only global rank 0 reports. A step the trial holds already (a resumed run validating
        again a cycle it validated before being killed) is not reported twice.
        """
        if world().rank != 0 or validation_cycle < self._reported:
            return
        value = self._metric()
        stored = _reported_steps(self._trial)
        if validation_cycle in stored:
            if not _same_value(stored[validation_cycle], value):
                warnings.warn(
                    f"trial {self._trial.number} holds {self._metric_name}="
                    f"{stored[validation_cycle]!r} for validation cycle {validation_cycle} "
                    f"already and this run measured {value!r}; Optuna keeps the first value. "
                    "A resumed run gives the same value when training is deterministic "
                    "(Trainer(deterministic=True) on GPUs)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        else:
            self._trial.report(value, validation_cycle)
        self._reported = validation_cycle + 1

    def check_pruned(self) -> None:
        """Raise :class:`optuna.TrialPruned` if the pruner stopped this trial.

        Call it after ``fit`` (on every rank: the decision is the same everywhere), so that
        ``study.optimize`` records the trial as pruned.
        """
        if self._pruned:
            raise optuna.TrialPruned(
                f"trial {self._trial.number} was pruned after validation cycle "
                f"{self._pruned_at} ({self._metric_name}={self._pruned_value!r})"
            )

    # ------------------------------------------------------------------ trainer hooks
    def configure_trainer(self, trainer: Trainer) -> None:
        """Register this plug-in in ``trainer`` (as helios-ml 1.x does; again: nothing happens),
        let ``optuna.TrialPruned`` pass through it, and check the storage for DDP."""
        if trainer.is_distributed and isinstance(self._trial, Trial):
            _require_shared_storage(
                self._trial.study._storage,
                "a distributed trial (every rank attaches to the same trial)",
            )
        self._register_in_trainer(trainer)
        trainer.register_exception(optuna.TrialPruned)

    def configure_model(self, model: Any) -> None:
        """Append ``_trial-<number>`` to ``model.save_name`` (once), so trials keep apart."""
        self._model = weakref.ref(model)
        suffix = f"_trial-{self._trial.number}"
        if not model.save_name.endswith(suffix):
            model.save_name += suffix

    def setup(self) -> None:
        """Nothing to build: the trial is given at construction."""

    def on_validation_end(self, validation_cycle: int) -> None:
        """Note the cycle; its metric is read once the model has set it (see below)."""
        self._pending = validation_cycle

    def should_training_stop(self) -> bool:
        """Report this cycle's metric and decide about pruning, once per validation cycle.

        The trainer asks after every validation, once the model's ``on_validation_end`` has
        filled ``model.metrics`` (the plug-in's own ``on_validation_end`` runs before the
        model's, too early to read them): rank 0 reports and asks the pruner, and the decision
        is broadcast so every rank stops together. The trainer also asks after every optimiser
        step: with no cycle pending, the cached decision is the answer (no storage access, no
        collective), so the storage is read once per validation cycle.
        """
        cycle, self._pending = self._pending, None
        if cycle is None or self._pruned:
            return self._pruned
        self.report_metrics(cycle)
        prune = self._trial.should_prune() if world().rank == 0 else False
        if self.is_distributed:
            flag = torch.tensor([1 if prune else 0], dtype=torch.int32, device=self.device)
            dist.broadcast(flag, src=0)
            prune = bool(flag.item())
        if prune:
            self._pruned, self._pruned_at = True, cycle
            self._pruned_value = float(self._metrics().get(self._metric_name, math.nan))
            log.info("trial %d pruned after validation cycle %d", self._trial.number, cycle)
        return self._pruned

    def state_dict(self) -> dict[str, Any]:
        """The trial number, how many cycles were reported, and the pruning decision."""
        return {
            "trial": self._trial.number,
            "reported_cycles": self._reported,
            "pruned": self._pruned,
            "pruned_at": self._pruned_at,
            "pruned_value": self._pruned_value,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the checkpoint must belong to this trial."""
        if state_dict["trial"] != self._trial.number:
            raise ValueError(
                f"the checkpoint holds the state of trial {state_dict['trial']} and this run "
                f"evaluates trial {self._trial.number}; resume a trial with the same trial "
                "(helios_optuna.attach_trial(study, number)), or use another run_dir"
            )
        # "last_reported" (checkpoints from before cycles counted from 0) was the number of the
        # last cycle reported, counted from 1: the same number as the cycles reported.
        key = "reported_cycles" if "reported_cycles" in state_dict else "last_reported"
        self._reported = int(state_dict[key])
        self._pruned = bool(state_dict["pruned"])
        self._pruned_at = int(state_dict["pruned_at"])
        self._pruned_value = float(state_dict["pruned_value"])

    # ------------------------------------------------------------------ helpers
    def _model_now(self) -> Any:
        model = self._model() if self._model is not None else None
        if model is None:
            raise RuntimeError(
                "OptunaPlugin has no model: register it with a Trainer and call fit() (the "
                "trainer hands it the model)"
            )
        return model

    def _metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = self._model_now().metrics
        return metrics

    def _metric(self) -> float:
        model = self._model_now()
        metrics: dict[str, float] = model.metrics
        if self._metric_name not in metrics:
            raise MissingMetricError(
                f"OptunaPlugin(metric_name={self._metric_name!r}): the metric is not in "
                f"{type(model).__name__}.metrics after validation (it has: "
                f"{sorted(metrics) or 'nothing'}); set it in the model's on_validation_end"
            )
        return float(metrics[self._metric_name])


def _check_trial(trial: object, where: str) -> None:
    if not isinstance(trial, BaseTrial):
        raise TypeError(
            f"{where} needs an optuna trial (optuna.trial.Trial, e.g. the one study.optimize "
            f"passes to the objective), found {trial!r}"
        )


def attach_trial(study: optuna.Study, number: int) -> Trial:
    """The running trial ``number`` of ``study``, for another process to work on.

    Use it in each rank of a distributed trial, and to resume a trial whose process was
    killed. The study must live in a storage that every process shares (RDB: SQLite,
    PostgreSQL, MySQL). Nothing is written to the study.
    """
    _require_shared_storage(study._storage, f"attach_trial(study, {number})")
    # Reading the trials also registers them with Optuna's storage cache, which must know a
    # trial before this process can write to it.
    trials = study.get_trials(deepcopy=False)
    found = next((t for t in trials if t.number == number), None)
    if found is None:
        has = f"trials 0 to {len(trials) - 1}" if trials else "no trials"
        raise ValueError(
            f"study {study.study_name!r} has no trial {number} (it has {has}); ask the trial "
            "first with study.ask() and pass its number"
        )
    if found.state is not TrialState.RUNNING:
        raise ValueError(
            f"trial {number} of study {study.study_name!r} is {found.state.name}, not RUNNING; "
            "only a running trial can be joined or resumed (ask a new trial with study.ask(); "
            "a trial marked FAIL by a heartbeat is retried as a new trial)"
        )
    trial_id: int = found._trial_id
    return Trial(study, trial_id)


def _require_shared_storage(storage: BaseStorage, what: str) -> None:
    backend = getattr(storage, "_backend", storage)  # RDB storage comes wrapped in a cache
    if isinstance(backend, RDBStorage):
        return
    found = "in-memory storage" if isinstance(backend, InMemoryStorage) else type(backend).__name__
    raise ValueError(
        f"{what} needs a study on RDB storage that every process can open, found {found}; "
        f"create the study with storage={_SHARED_STORAGES}, e.g. "
        "optuna.create_study(storage='sqlite:///study.db', study_name='tune', "
        "load_if_exists=True)"
    )


def _same_value(stored: float, measured: float) -> bool:
    """Equal values, NaN included: a resumed run that diverges again measures NaN again."""
    return stored == measured or (math.isnan(stored) and math.isnan(measured))


def _reported_steps(trial: BaseTrial) -> dict[int, float]:
    """The steps this trial holds values for, as the trial object knows them (no read)."""
    frozen = getattr(trial, "_cached_frozen_trial", None)
    values = getattr(frozen, "intermediate_values", None)
    return values if isinstance(values, dict) else {}


@functools.cache
def _signature(cls: type, method: str) -> inspect.Signature:
    return inspect.signature(getattr(cls, method))


def _check_arguments(trial: BaseTrial, type_name: str, name: str, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments the trial method does not take, on every rank alike."""
    signature = _signature(type(trial), SUGGESTIONS[type_name])
    try:
        signature.bind(trial, name, **kwargs)
    except TypeError as exc:
        accepted = [p for p in signature.parameters if p not in ("self", "name")]
        raise TypeError(
            f"suggest({type_name!r}, {name!r}, ...) passes its keyword arguments to "
            f"trial.{SUGGESTIONS[type_name]}, which takes {', '.join(accepted)}; found "
            f"{', '.join(kwargs) or 'none'} ({exc})"
        ) from None

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

import datetime
import functools
import hashlib
import inspect
import logging
import math
import re
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import optuna
import torch
import torch.distributed as dist
from optuna.distributions import CategoricalChoiceType
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import BaseTrial, Trial, TrialState

from helios.checkpoint import CheckpointError, list_checkpoints, shown_value
from helios.distributed import world
from helios.model import MissingMetricError
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios_optuna import _internals

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

#: The user attribute rank 0 sets on a trial it prunes, for processes that did not train it
#: (the parent of spawned DDP ranks): ``{"validation_cycle": c, "metric": name, "value": v}``.
PRUNED_ATTR = "helios_optuna:pruned"

#: The keys of the plug-in's state in a checkpoint.
_STATE_KEYS = (
    "study",
    "trial",
    "datetime_start",
    "reported_cycles",
    "pruned",
    "pruned_at",
    "pruned_value",
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_STUDY_CHARS = 48

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
        """Suggest a value for the hyper-parameter ``name`` through the trial (helios-ml's
        spelling; :meth:`suggest_float`, :meth:`suggest_int` and
        :meth:`suggest_categorical` are Optuna's).

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
        return self._shared(f"suggest({type_name!r}, {name!r})", method, name, kwargs)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """``trial.suggest_float(name, low, high, step=step, log=log)``, the same value on
        every rank of a distributed run (see :meth:`suggest`)."""
        kwargs = {"low": low, "high": high, "step": step, "log": log}
        value: float = self._shared(f"suggest_float({name!r})", "suggest_float", name, kwargs)
        return value

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """``trial.suggest_int(name, low, high, step=step, log=log)``, the same value on every
        rank of a distributed run (see :meth:`suggest`)."""
        kwargs = {"low": low, "high": high, "step": step, "log": log}
        value: int = self._shared(f"suggest_int({name!r})", "suggest_int", name, kwargs)
        return value

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """``trial.suggest_categorical(name, choices)``, the same value on every rank of a
        distributed run (see :meth:`suggest`)."""
        kwargs = {"choices": choices}
        call = f"suggest_categorical({name!r})"
        value: CategoricalChoiceType = self._shared(call, "suggest_categorical", name, kwargs)
        return value

    def _shared(self, call: str, method: str, name: str, kwargs: dict[str, Any]) -> Any:
        """``trial.<method>(name, **kwargs)``: here, or on rank 0 and broadcast to every rank."""
        suggest: Callable[..., Any] = getattr(self._trial, method)
        env = world()
        if not env.distributed:
            return suggest(name, **kwargs)
        if not dist.is_initialized():
            if name in self._trial.params:  # stored before the ranks attached: a read only
                return suggest(name, **kwargs)
            raise RuntimeError(
                f"{call} in a distributed run before fit(): the ranks cannot agree on a new "
                "value yet. Suggest it inside fit (e.g. in Model.setup, where rank 0 samples "
                "it and sends it to the other ranks), or suggest it in the process that asked "
                "the trial before starting the ranks"
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

        ``fit`` raises it already (on every rank of a distributed run, and
        ``helios.distributed.spawn`` raises it again in the process that started the ranks);
        call this where nothing trained, e.g. a process that asked the trial and started the
        ranks with ``torchrun``, or after a resumed run that had finished (``fit`` trains
        nothing then). A plug-in that did not train reads the trial from the study's storage
        (the mark rank 0 sets when it prunes, or a trial told PRUNED); one that trained answers
        from its own decision (the same on every rank). Not pruned: nothing happens.
        """
        if self._model is None and isinstance(self._trial, Trial):
            self._pruned_in_storage()
        if self._pruned:
            raise optuna.TrialPruned(
                f"trial {self._trial.number} was pruned after validation cycle "
                f"{self._pruned_at} ({self._metric_name}={self._pruned_value!r})"
            )

    def _pruned_in_storage(self) -> None:
        """Take the pruning decision from the storage, for a plug-in that did not train."""
        assert isinstance(self._trial, Trial)
        stored = _internals.stored_trial(self._trial)
        mark = stored.user_attrs.get(PRUNED_ATTR)
        if isinstance(mark, dict):
            cycle, value = mark.get("validation_cycle"), mark.get("value")
            self._pruned = True
            self._pruned_at = cycle if isinstance(cycle, int) else -1
            self._pruned_value = float(value) if isinstance(value, (int, float)) else math.nan
        elif stored.state is TrialState.PRUNED:
            self._pruned, self._pruned_at = True, stored.last_step or 0
            values = stored.intermediate_values
            self._pruned_value = values.get(self._pruned_at, math.nan)

    # ------------------------------------------------------------------ trainer hooks
    def configure_trainer(self, trainer: Trainer) -> None:
        """Register this plug-in in ``trainer`` (as helios-ml 1.x does; again: nothing happens),
        let ``optuna.TrialPruned`` pass through it, and check the storage for DDP."""
        if trainer.is_distributed and isinstance(self._trial, Trial):
            _require_shared_storage(
                _internals.study_storage(self._trial.study),
                "a distributed trial (every rank attaches to the same trial)",
            )
        self._register_in_trainer(trainer)
        trainer.register_exception(optuna.TrialPruned)

    def configure_model(self, model: Any) -> None:
        """Append ``_<study>_trial-<number>`` to ``model.save_name`` (once), so the trials of
        every study keep apart (a ``FixedTrial``, of no study: ``_trial-<number>``)."""
        self._model = weakref.ref(model)
        suffix = save_suffix(self._trial)
        if not model.save_name.endswith(suffix):
            model.save_name += suffix

    def setup(self) -> None:
        """Nothing to build: the trial is given at construction."""

    def on_validation_end(self, validation_cycle: int) -> None:
        """Note the cycle; its metric is read once the model has set it (see below)."""
        self._pending = validation_cycle

    def on_training_end(self) -> None:
        """Raise :class:`optuna.TrialPruned` when the pruner stopped this trial, on every rank.

        The trainer has saved its final checkpoint by then, and runs the other plug-ins' and
        the model's ``on_training_end`` before the exception leaves ``fit``, so an objective
        needs no ``check_pruned()``. In a distributed run every rank took the same decision
        and raises together (none is left waiting on a collective), so
        ``helios.distributed.spawn`` raises ``TrialPruned`` in the process that started the
        ranks, and a driver that forgets ``check_pruned()`` still records the trial PRUNED.
        """
        if self._pruned:
            self.check_pruned()

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
            if world().rank == 0 and isinstance(self._trial, Trial):
                mark = {"validation_cycle": cycle, "metric": self._metric_name}
                self._trial.set_user_attr(PRUNED_ATTR, {**mark, "value": self._pruned_value})
        return self._pruned

    def state_dict(self) -> dict[str, Any]:
        """Whose trial this is (study name, trial number, start time), how many cycles were
        reported, and the pruning decision."""
        study, started = _identity(self._trial)
        return {
            "study": study,
            "trial": self._trial.number,
            "datetime_start": started,
            "reported_cycles": self._reported,
            "pruned": self._pruned,
            "pruned_at": self._pruned_at,
            "pruned_value": self._pruned_value,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the checkpoint must belong to this trial of this study.

        :raises CheckpointError: naming the run_dir, whose trial the checkpoint holds, and the
            fix, for a checkpoint of another study or trial (a new study in the same run_dir,
            a study deleted and created again) or of a helios-optuna before studies were named.
            A ``FixedTrial`` (no study) takes the checkpoint of any trial with its number.
        """
        study, started = _identity(self._trial)
        ours = _describe(study, self._trial.number, started)
        if "study" not in state_dict:
            raise CheckpointError(
                f"{self._checkpoints()} holds a state of helios-optuna before 0.3, which names "
                f"no study (trial {shown_value(state_dict.get('trial'))}), and this run is "
                f"{ours}; a trial resumes only its own checkpoints: {self._fix()}"
            )
        state = _checked_state(state_dict)
        found = (state["study"], state["trial"], state["datetime_start"])
        # A FixedTrial has no study to compare: it takes its number's checkpoint (e.g. to test
        # a study's best trial from the checkpoint its training left).
        mine = (study, self._trial.number, started)
        if study is None:
            mine = (found[0], self._trial.number, found[2])
        if (found[0], found[1], _instant(found[2])) != (mine[0], mine[1], _instant(mine[2])):
            theirs = _describe(*found)
            raise CheckpointError(
                f"{self._checkpoints()} holds checkpoints of {theirs}, and this run is {ours}; "
                f"a trial resumes only its own checkpoints: {self._fix()}"
            )
        self._reported = state["reported_cycles"]
        self._pruned = state["pruned"]
        self._pruned_at = state["pruned_at"]
        self._pruned_value = state["pruned_value"]

    def _run(self) -> tuple[Any, str] | None:
        """The trainer's run_dir and the model's save name, once a trainer resumes this."""
        model = self._model() if self._model is not None else None
        if self._trainer is None or model is None:
            return None
        return self._trainer.run_dir, model.save_name

    def _checkpoints(self) -> str:
        run = self._run()
        if run is None:
            return "the checkpoint"
        return f"run_dir {run[0]} (save name {run[1]!r})"

    def _fix(self) -> str:
        run = self._run()
        files = list_checkpoints(run[0], run[1]) if run is not None and run[0] else []
        names = ", ".join(p.name for p in files) or "its checkpoints"
        where = f" from {run[0]}" if run is not None else ""
        return (
            "pass another run_dir (one per study: e.g. named after the study), or delete "
            f"{names}{where} to train this trial from the start"
        )

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
    _require_shared_storage(_internals.study_storage(study), f"attach_trial(study, {number})")
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
    return _internals.trial_for(study, found)


def _require_shared_storage(storage: BaseStorage, what: str) -> None:
    if _internals.rdb_backend(storage) is not None:
        return
    found = "in-memory storage" if isinstance(storage, InMemoryStorage) else type(storage).__name__
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
    return _internals.cached_intermediate_values(trial)


def save_suffix(trial: BaseTrial) -> str:
    """What ``configure_model`` appends to ``model.save_name``: ``_<study>_trial-<number>``,
    the study's name made file-safe (see :func:`file_safe`); ``_trial-<number>`` without a
    study (``FixedTrial``)."""
    if isinstance(trial, Trial):
        return f"_{file_safe(trial.study.study_name)}_trial-{trial.number}"
    return f"_trial-{trial.number}"


def file_safe(name: str) -> str:
    """``name`` with characters outside ``[A-Za-z0-9._-]`` as ``-``; an altered or longer
    name is cut to 48 characters and gets ``-`` and 8 hex digits of its SHA-256, so that
    different names stay apart."""
    safe = _SAFE.sub("-", name)
    if safe == name and len(name) <= _STUDY_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[:_STUDY_CHARS]}-{digest}"


def _identity(trial: BaseTrial) -> tuple[str | None, str | None]:
    """The study name and the start time (ISO 8601, UTC) of ``trial``; (None, None) for a
    trial of no study (``FixedTrial``), whose start time is that of its object."""
    if not isinstance(trial, Trial):
        return None, None
    started = trial.datetime_start
    # In UTC as this process reads it: Optuna 5 hands out naive times in the reader's zone.
    when = started.astimezone(datetime.timezone.utc).isoformat() if started else None
    return trial.study.study_name, when


def _instant(started: str | None) -> str | None:
    """``started`` as an instant in UTC, so that processes in other time zones agree.

    States written before start times were kept in UTC hold a naive local time: it is taken
    as this process's local time, the best such a state allows.
    """
    if started is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(started)
    except ValueError:
        return started  # compared as written: it differs from any real start time
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _describe(study: str | None, number: int, started: str | None) -> str:
    if study is None:
        return f"trial {number} of no study (a FixedTrial)"
    return f"trial {number} of study {shown_value(study)} started {started}"


def _checked_state(state: dict[str, Any]) -> dict[str, Any]:
    """The plug-in's state from a checkpoint, every key of its type; CheckpointError else."""
    kinds: dict[str, tuple[type, ...]] = {
        "study": (str, type(None)),
        "trial": (int,),
        "datetime_start": (str, type(None)),
        "reported_cycles": (int,),
        "pruned": (bool,),
        "pruned_at": (int,),
        "pruned_value": (float, int),
    }
    for key in _STATE_KEYS:
        value = state.get(key)
        bad_bool = isinstance(value, bool) and key != "pruned"
        if key not in state or not isinstance(value, kinds[key]) or bad_bool:
            raise CheckpointError(
                f"the optuna plug-in's state in the checkpoint has {key}="
                f"{shown_value(value) if key in state else 'nothing'}, expected "
                f"{' or '.join(k.__name__ for k in kinds[key])}; delete the file to resume "
                "from the one before it"
            )
    checked = {key: state[key] for key in _STATE_KEYS}
    checked["pruned_value"] = float(checked["pruned_value"])
    return checked


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

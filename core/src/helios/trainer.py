"""The :class:`Trainer`: runs a :class:`~helios.model.Model` on a
:class:`~helios.data.DataModule`, drives the plug-ins, checkpoints, resumes exactly and
trains on several processes through torch.distributed.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import logging
import math
import numbers
import operator
import os
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from helios import checkpoint as ckpt
from helios import distributed
from helios.data import DataModule
from helios.model import MissingMetricError, Model
from helios.plugin_state import check_plugin_states, find_refusal
from helios.plugins._host.echo import shown
from helios.plugins._host.selection import PluginRequest, parse_plugins, skipped_warning
from helios.plugins.errors import PluginNotApplicableWarning
from helios.plugins.plugin import Plugin
from helios.rng import get_rng_state, seed_everything, set_rng_state
from helios.runlock import RunDirError, RunLock, RunLockedError
from helios.trainer_plugins import Dispatch, PluginSet

__all__ = ["Trainer", "TrainingState", "TrainingUnit"]

log = logging.getLogger("helios")
CHECKPOINT_FORMAT = ckpt.FORMAT


class TrainingUnit(enum.Enum):
    """What ``total``, ``valid_every`` and ``checkpoint_every`` count."""

    EPOCH = "epoch"
    ITERATION = "iteration"  # optimiser steps


@dataclasses.dataclass
class TrainingState:
    """Where training stands; saved in every checkpoint."""

    iteration: int = 0  # optimiser steps taken
    epoch: int = 0  # the current epoch, from 0
    batch: int = 0  # batches consumed in the current epoch
    global_batch: int = 0  # batches consumed in total
    validation_cycles: int = 0
    early_stop_count: int = 0
    best_metric: float | None = None
    stopped: bool = False  # ended early (early stopping or a plug-in)
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingState:
        return cls(**data)

    @classmethod
    def from_checkpoint(cls, path: Path, data: dict[str, Any]) -> TrainingState:
        """The state a checkpoint's ``state`` entry holds; :class:`CheckpointError` naming the
        file and the key for a missing, unknown or mistyped key."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        for key in data:
            if key not in fields:
                raise ckpt.CheckpointError(
                    f"{path}: entry 'state' has the unknown key {ckpt.shown_value(key)} (a training state has "
                    f"{', '.join(fields)}); this helios-trainer cannot resume it: pass "
                    "another run_dir"
                )
        for name, field in fields.items():
            if name not in data:
                raise ckpt.CheckpointError(
                    f"{path}: entry 'state' has no key {name!r}; delete the file to resume "
                    "from the one before it"
                )
            value, kinds = data[name], _STATE_TYPES[str(field.type)]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ckpt.CheckpointError(
                    f"{path}: entry 'state' key {name!r} is {ckpt.shown_value(value)}, expected "
                    f"{field.type}; delete the file to resume from the one before it"
                )
            if field.type == "int" and isinstance(value, int) and not 0 <= value <= MAX_COUNT:
                raise ckpt.CheckpointError(
                    f"{path}: entry 'state' key {name!r} is {ckpt.shown_value(value)}, expected "
                    f"a count from 0 to {MAX_COUNT}; delete the file to resume from the one "
                    "before it"
                )
        return cls(**data)


#: The largest count a training state holds (steps, batches, epochs, cycles): 2**63 - 1.
MAX_COUNT = 2**63 - 1
#: The largest seed: every seed derived from one of these (``seed + rank``, the sampler's
#: ``seed * 1_000_003 + epoch``) still fits torch's 64-bit generator seed; 2**63 failed mid-fit.
MAX_SEED = 2**32 - 1


_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "bool": (bool,),
    "float | None": (float, int, type(None)),
}


class Trainer:
    """Trains and tests a :class:`Model` with plug-ins.

    :param total: how many ``unit`` to train for.
    :param unit: :class:`TrainingUnit` for ``total``, ``valid_every`` and ``checkpoint_every``.
    :param valid_every: validate every so many units (None: only at the end).
    :param checkpoint_every: checkpoint every so many units (None: only at the end); needs
        ``run_dir``.
    :param run_dir: where checkpoints go; with ``resume`` a run continues from the newest good
        one, and a finished run is not trained again.
    :param accumulation_steps: batches per optimiser step.
    :param early_stop_metric: a key of ``model.metrics``; with ``patience``, training stops after
        that many validations without improvement (``early_stop_mode`` "min" or "max").
    :param device: "cpu", "cuda" or "auto" (CUDA if available).
    :param plugins: plug-in instances, ids of installed plug-ins, or ``(id, options)`` pairs
        whose options are keyword arguments for the plug-in's class, e.g.
        ``[MyPlugin("mine"), "cuda", ("ema", {"decay": 0.999})]``. The ids are checked together
        (and against the instances) before any is imported; one that does not apply on this
        machine is skipped with a :class:`~helios.plugins.errors.PluginNotApplicableWarning`.
    :param strict: make a plug-in selected by id that does not apply here an error
        (:class:`~helios.plugins.errors.PluginNotApplicableError`) instead of a skip; None
        (the default) follows ``HELIOS_PLUGINS_STRICT``.
    """

    def __init__(
        self,
        *,
        total: int,
        unit: TrainingUnit = TrainingUnit.EPOCH,
        valid_every: int | None = None,
        checkpoint_every: int | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        keep_checkpoints: int = 3,
        resume: bool = True,
        accumulation_steps: int = 1,
        seed: int = 0,
        deterministic: bool = False,
        early_stop_metric: str | None = None,
        early_stop_mode: str = "min",
        patience: int | None = None,
        device: str = "auto",
        progress: bool = True,
        plugins: Iterable[Plugin | str | tuple[str, Mapping[str, Any]]] = (),
        strict: bool | None = None,
        dist_timeout_s: float = 300.0,
    ) -> None:
        _positive(total=total, accumulation_steps=accumulation_steps)
        keep_checkpoints = _whole(
            "keep_checkpoints",
            keep_checkpoints,
            MAX_COUNT,
            "a whole number (0 keeps every checkpoint)",
            "pass e.g. keep_checkpoints=3",
        )
        seed = _whole(
            "seed",
            seed,
            MAX_SEED,
            f"an integer from 0 to {MAX_SEED} (2**32 - 1)",
            "pass another seed",
        )
        dist_timeout_s = _seconds(dist_timeout_s)
        _positive(valid_every=valid_every, checkpoint_every=checkpoint_every, patience=patience)
        if early_stop_mode not in ("min", "max"):
            raise ValueError(f"early_stop_mode must be 'min' or 'max', found {early_stop_mode!r}")
        if (early_stop_metric is None) != (patience is None):
            raise ValueError(
                "early stopping needs both early_stop_metric and patience, found "
                f"early_stop_metric={early_stop_metric!r}, patience={patience!r}; set both or neither"
            )
        if checkpoint_every is not None and run_dir is None:
            raise ValueError("checkpoint_every needs run_dir: pass Trainer(run_dir=...)")
        self.total, self.unit = total, TrainingUnit(unit)
        self.valid_every, self.checkpoint_every = valid_every, checkpoint_every
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.keep_checkpoints, self.resume = keep_checkpoints, resume
        self.accumulation_steps, self.seed, self.deterministic = (
            accumulation_steps,
            seed,
            deterministic,
        )
        self.early_stop_metric, self.early_stop_mode, self.patience = (
            early_stop_metric,
            early_stop_mode,
            patience,
        )
        self.progress, self.dist_timeout_s = progress, dist_timeout_s
        self.env = distributed.world()
        self.device = _select_device(device, self.env)
        self._train_exceptions: list[type[BaseException]] = []
        self._test_exceptions: list[type[BaseException]] = []
        self._model: Model | None = None
        self._datamodule: DataModule | None = None
        self.state = TrainingState()
        self._plugins = PluginSet()
        self._configured_models: weakref.WeakKeyDictionary[Model, set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self._set_up_models: weakref.WeakSet[Model] = weakref.WeakSet()
        self._run_lock: RunLock | None = None
        selected = parse_plugins(plugins)
        for plugin in selected:
            if isinstance(plugin, Plugin):
                self.register_plugin(plugin)
        requests = [p for p in selected if isinstance(p, PluginRequest)]
        if requests:  # checked against the instances above before any of them is imported
            for verdict in self._plugins.add_installed(requests, strict=strict):
                warnings.warn(skipped_warning(verdict), PluginNotApplicableWarning, stacklevel=2)
            by_id = self._plugins.by_id
            order = [p.plugin_id for p in selected if p.plugin_id in by_id]
            self._plugins.by_id = {i: by_id[i] for i in order}  # hooks in the order given

    # ------------------------------------------------------------------ plug-ins
    @property
    def plugins(self) -> dict[str, Plugin]:
        """The registered plug-ins by id, in registration order."""
        return self._plugins.by_id

    @property
    def is_distributed(self) -> bool:
        """Whether this run has more than one process (``WORLD_SIZE`` above 1)."""
        return self.env.distributed

    @property
    def rank(self) -> int:
        """The global rank of this process (``RANK``): 0 to world size - 1 across machines.

        Rank 0 writes checkpoints and reports. Models and plug-ins get the *local* rank as
        their ``rank`` (:attr:`local_rank`, the device index on this machine).
        """
        return self.env.rank

    @property
    def local_rank(self) -> int:
        """The rank of this process on its machine (``LOCAL_RANK``): its CUDA device index."""
        return self.env.local_rank

    @property
    def model(self) -> Model:
        """The model of the current (or last) ``fit``/``test``."""
        if self._model is None:
            raise RuntimeError(
                "Trainer.model is set by fit(model, datamodule) or test(model, datamodule), "
                "and neither has run yet"
            )
        return self._model

    @model.setter
    def model(self, model: Model) -> None:
        self._model = model

    @property
    def datamodule(self) -> DataModule:
        """The data module of the current (or last) ``fit``/``test``."""
        if self._datamodule is None:
            raise RuntimeError(
                "Trainer.datamodule is set by fit(model, datamodule) or test(model, "
                "datamodule), and neither has run yet"
            )
        return self._datamodule

    @datamodule.setter
    def datamodule(self, datamodule: DataModule) -> None:
        self._datamodule = datamodule

    @property
    def train_exceptions(self) -> list[type[BaseException]]:
        """Exception classes that leave ``fit`` without the error log (re-raised as always)."""
        return self._train_exceptions

    @train_exceptions.setter
    def train_exceptions(self, value: list[type[BaseException]]) -> None:
        self._train_exceptions = _exception_list("train_exceptions", value)

    @property
    def test_exceptions(self) -> list[type[BaseException]]:
        """Exception classes that leave ``test`` without the error log (re-raised as always)."""
        return self._test_exceptions

    @test_exceptions.setter
    def test_exceptions(self, value: list[type[BaseException]]) -> None:
        self._test_exceptions = _exception_list("test_exceptions", value)

    def register_plugin(self, plugin: Plugin) -> None:
        """Add a plug-in instance; it is checked against the others (and its manifest, if any).

        :raises PluginIdTakenError: (a ``KeyError``) when another plug-in has its id.
        """
        self._plugins.add(plugin)

    def register_exception(self, *exceptions: type[BaseException]) -> None:
        """Let these exceptions pass through ``fit`` and ``test`` (e.g. ``optuna.TrialPruned``):
        adds each to :attr:`train_exceptions` and :attr:`test_exceptions`, once."""
        for exc in exceptions:
            for listed in (self._train_exceptions, self._test_exceptions):
                if exc not in listed:
                    listed.append(exc)

    # ------------------------------------------------------------------ runs
    def fit(self, model: Model, datamodule: DataModule) -> TrainingState:
        """Train ``model``; resumes from ``run_dir`` when it holds a checkpoint."""
        return self._run(model, datamodule, training=True)

    def test(self, model: Model, datamodule: DataModule) -> None:
        """Run the testing loop on ``model``."""
        self._run(model, datamodule, training=False)

    def _run(self, model: Model, datamodule: DataModule, *, training: bool) -> TrainingState:
        self._model, self._datamodule = model, datamodule
        distributed.init(self.env, self.device, self.dist_timeout_s)
        try:
            self._prepare(model, datamodule, training)
            if training:
                self._train(model, datamodule)
            else:
                self._test(model, datamodule)
        except tuple(self._train_exceptions if training else self._test_exceptions):
            raise
        except (RunDirError, RunLockedError):
            raise  # rank 0's refusal, raised by every rank together: the group is still usable
        except Exception:
            where = f"rank {self.rank}: " if self.is_distributed else ""
            phase = (
                f"training failed at epoch {self.state.epoch}, iteration {self.state.iteration}"
                if training
                else "testing failed"
            )
            log.error("%s%s", where, phase, exc_info=True)
            distributed.mark_run(failed=True)
            raise
        finally:
            datamodule.close_loaders()
            if self._run_lock is not None:
                self._run_lock.release()
                self._run_lock = None
        distributed.mark_run(failed=False)
        return self.state

    def _prepare(self, model: Model, datamodule: DataModule, training: bool) -> None:
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self._plugins.attach(self, model, self._configured_models)  # may set model.save_name
        if training and self.run_dir is not None:
            self._take_run(self.run_dir, model.save_name)
        seed_everything(self.seed + self.rank)
        datamodule.setup()
        for key, value in self.placement().items():
            setattr(model, key, value)
        model.trainer = self
        if model not in self._set_up_models:  # once per model: fit then test keeps the weights
            self._set_up_models.add(model)
            model.setup()
            model.network.to(self.device)
            if self.is_distributed:
                ids = [self.device.index] if self.device.type == "cuda" else None
                model.network = nn.parallel.DistributedDataParallel(model.network, device_ids=ids)
        if training:
            model.check_scheduler(validates=datamodule.valid_dataset is not None)
        self.state = TrainingState()
        if self.run_dir is not None:
            if self.resume:
                self._restore(model)
            elif training and ckpt.list_checkpoints(self.run_dir, model.save_name):
                raise ckpt.CheckpointError(
                    f"{self.run_dir} holds checkpoints of an earlier {model.save_name!r} run and "
                    "resume=False would mix a new run with them; pass resume=True to continue "
                    "it, or use another run_dir (or delete those files) to start over"
                )

    def _take_run(self, run_dir: Path, save_name: str) -> None:
        """Own the run before the first step: rank 0 checks that ``run_dir`` is writable,
        locks ``save_name`` in it and removes the temporary files dead writers left; every
        rank raises rank 0's error if it could not."""
        error: RunDirError | RunLockedError | None = None
        if self.rank == 0:
            try:
                self._run_lock = RunLock.acquire(run_dir, save_name)
            except (RunDirError, RunLockedError) as exc:
                error = exc
            else:
                for stale in ckpt.remove_stale_temporaries(run_dir, save_name):
                    log.info("%s: removed %s, left by a writer that died", save_name, stale)
        if self.is_distributed:
            shared: list[Any] = [error]
            dist.broadcast_object_list(shared, src=0, device=self.device)
            error = shared[0]
        if error is not None:
            raise error

    def placement(self) -> dict[str, Any]:
        """What models and plug-ins are told before setup: distributed, rank (the local rank),
        device, and ``map_loc``, the ``map_location`` that maps tensors saved from ``cuda:0``
        to this process's device (``{"cuda:0": "cpu"}`` on the CPU, as in helios-ml)."""
        target = f"cuda:{self.device.index}" if self.device.type == "cuda" else "cpu"
        map_loc: dict[str, str] = {"cuda:0": target}
        return {
            "is_distributed": self.is_distributed,
            "rank": self.env.local_rank,
            "device": self.device,
            "map_loc": map_loc,
        }

    # ------------------------------------------------------------------ training
    def _train(self, model: Model, data: DataModule) -> None:
        state = self.state
        if state.finished and (state.stopped or self._done(state)):
            log.info(
                "%s: the run in %s has finished already; not training again",
                model.save_name,
                self.run_dir,
            )
            return
        state.finished = False
        hooks = self._plugins.dispatch(model)  # bound once: the per-step path looks up nothing
        process = hooks.owner("process_training_batch")
        epoch_start = hooks.calls["on_training_epoch_start"]
        batch_start = hooks.calls["on_training_batch_start"]
        step_start = hooks.calls["on_optimizer_step_start"]
        step_end = hooks.calls["on_optimizer_step_end"]
        batch_end = hooks.calls["on_training_batch_end"]
        epoch_end = hooks.calls["on_training_epoch_end"]
        stop_checks = hooks.calls["should_training_stop"]  # empty: nothing asked, no collective
        accumulation = self.accumulation_steps
        iteration_unit = self.unit is TrainingUnit.ITERATION
        bar = _progress(self.progress and self.rank == 0, self._total_steps(model, data), state)
        model.train()
        hooks.run("on_training_start")
        stop = False
        try:
            while not stop and not self._done(state):
                loader = data.loader(
                    "train",
                    seed=self.seed,
                    epoch=state.epoch,
                    start=state.batch,
                    num_replicas=self.env.world_size,
                    rank=self.env.rank,
                )
                epoch_batches = state.batch + len(loader)
                for hook in epoch_start:
                    hook(state.epoch)
                for batch in loader:
                    if process is not None:
                        batch = process(batch, state)
                    for hook in batch_start:
                        hook(state)
                    state.batch += 1
                    state.global_batch += 1
                    step = state.batch % accumulation == 0 or state.batch == epoch_batches
                    with model.no_sync(not step):
                        loss = model.train_step(batch, state)
                        (loss / accumulation if accumulation > 1 else loss).backward()  # type: ignore[no-untyped-call]
                    if step:
                        for hook in step_start:
                            hook(state)
                        model.optimizer_step(state)
                        state.iteration += 1
                        for hook in step_end:
                            hook(state)
                        if bar is not None:
                            bar.update(1)
                    for hook in batch_end:
                        hook(state)
                    if step:
                        if stop_checks:
                            stop = self._agree(False, any(ask() for ask in stop_checks))
                        if iteration_unit and not stop:
                            stop = self._after_unit(model, data, state, state.iteration, hooks)
                        if stop or (iteration_unit and state.iteration >= self.total):
                            break
                if state.batch == epoch_batches:  # the epoch is complete
                    epoch = state.epoch
                    state.epoch, state.batch = epoch + 1, 0
                    for hook in epoch_end:
                        hook(epoch)
                    if not (iteration_unit or stop):
                        stop = self._after_unit(model, data, state, state.epoch, hooks)
        finally:
            if bar is not None:
                bar.close()
        state.finished, state.stopped = True, stop
        if self.valid_every is None and data.valid_dataset is not None:
            self._validate(model, data, state, hooks)
        self._save(model, state)  # the state at the end of training, before on_training_end
        self._end_training(hooks)

    def _end_training(self, hooks: Dispatch) -> None:
        """Run every ``on_training_end``: one that raises an exception of
        :attr:`train_exceptions` (e.g. ``optuna.TrialPruned``) lets the others (the model's
        too) run first; the first such exception then leaves ``fit``."""
        passing = tuple(self._train_exceptions)
        first: BaseException | None = None
        for method in hooks.calls["on_training_end"]:
            try:
                method()
            except passing as exc:
                first = exc if first is None else first
        if first is not None:
            raise first

    def _done(self, state: TrainingState) -> bool:
        done = state.iteration if self.unit is TrainingUnit.ITERATION else state.epoch
        return done >= self.total

    def _after_unit(
        self, model: Model, data: DataModule, state: TrainingState, count: int, hooks: Dispatch
    ) -> bool:
        """Validation and checkpoint when due; True when training must stop."""
        stop = False
        if self.valid_every is not None and count % self.valid_every == 0:
            stop = self._validate(model, data, state, hooks)
        if (
            self.checkpoint_every is not None
            and count % self.checkpoint_every == 0
            and not (stop or self._done(state))
        ):
            self._save(model, state)
        return stop

    def _total_steps(self, model: Model, data: DataModule) -> int | None:
        if self.unit is TrainingUnit.ITERATION:
            return self.total
        try:
            per_epoch = len(
                data.loader(
                    "train", seed=self.seed, num_replicas=self.env.world_size, rank=self.env.rank
                )
            )
        except TypeError:
            return None
        return math.ceil(per_epoch / self.accumulation_steps) * self.total

    # ------------------------------------------------------------------ validation and testing
    def _validate(
        self, model: Model, data: DataModule, state: TrainingState, hooks: Dispatch
    ) -> bool:
        """Run one validation cycle; True when early stopping, the model or the plug-in that
        owns ``should_training_stop`` stops training.

        The hooks get the number of cycles completed before this one (0 for the first, as
        upstream helios-ml counts); ``state.validation_cycles`` counts this one once it ends.
        """
        if data.valid_dataset is None:
            return False
        cycle = state.validation_cycles
        model.eval()
        hooks.run("on_validation_start", cycle)
        self._evaluate(data, "valid", hooks.owner("process_validation_batch"), model.valid_step)
        hooks.run("on_validation_end", cycle)
        model.step_scheduler_after_validation()
        state.validation_cycles = cycle + 1
        model.train()
        early = self._early_stop(model, state)
        asked = any(ask() for ask in hooks.calls["should_training_stop"])
        return self._agree(early, asked)

    def _evaluate(
        self,
        data: DataModule,
        split: str,
        process: Callable[[Any, int], Any] | None,
        step_fn: Callable[[Any, int], None],
    ) -> None:
        """Run ``step_fn`` over ``split`` without gradients, after the owning plug-in's
        ``process_*_batch`` (``process``), if any."""
        loader = data.loader(
            split, seed=self.seed, num_replicas=self.env.world_size, rank=self.env.rank
        )
        with torch.no_grad():
            for step, batch in enumerate(loader):
                step_fn(process(batch, step) if process is not None else batch, step)

    def _early_stop(self, model: Model, state: TrainingState) -> bool:
        name = self.early_stop_metric
        if name is None or self.patience is None:
            return False
        if name not in model.metrics:
            raise MissingMetricError(
                f"early_stop_metric {name!r} is not in {type(model).__name__}.metrics after "
                f"validation (it has: {sorted(model.metrics) or 'nothing'}); set it in "
                "on_validation_end"
            )
        value = float(model.metrics[name])
        best = state.best_metric
        better = best is None or (value < best if self.early_stop_mode == "min" else value > best)
        if better:
            state.best_metric, state.early_stop_count = value, 0
        else:
            state.early_stop_count += 1
        return state.early_stop_count >= self.patience

    def _agree(self, early: bool, asked: bool) -> bool:
        """One stop decision for every rank: early stopping as rank 0 judged it (its state is
        the one checkpoints keep), or a stop asked (plug-in or model) on any rank. One
        all_reduce when distributed; the loop calls it only when something can stop."""
        if not self.is_distributed:
            return early or asked
        flags = torch.tensor(
            [early and self.rank == 0, asked], dtype=torch.float32, device=self.device
        )
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags.max().item())

    def _test(self, model: Model, data: DataModule) -> None:
        hooks = self._plugins.dispatch(model)
        model.eval()
        hooks.run("on_testing_start")
        self._evaluate(data, "test", hooks.owner("process_testing_batch"), model.test_step)
        hooks.run("on_testing_end")

    # ------------------------------------------------------------------ checkpoints
    def _save(self, model: Model, state: TrainingState) -> None:
        if self.run_dir is None:
            return
        # This rank's generators and metrics (or why its metrics cannot be saved), sent as
        # bytes when distributed (tensors do not pickle).
        metrics = {key: storable_metric(value) for key, value in model.metrics.items()}
        problem = metrics_refusal(metrics, self.rank if self.is_distributed else None)
        own: dict[str, Any] = {
            "rng": get_rng_state(),
            "metrics": {} if problem else metrics,
            "refused": problem,
        }
        ranks = [own]
        if self.is_distributed:
            buffer = io.BytesIO()
            torch.save(own, buffer)
            gathered: list[Any] = [None] * self.env.world_size
            dist.all_gather_object(gathered, buffer.getvalue())
            ranks = [
                torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
                for raw in gathered
            ]
        data: dict[str, Any] = {}
        refused: ckpt.CheckpointError | None = None
        if self.rank == 0:
            plugins = self._plugins.state_dicts()
            try:  # before anything is written: a resume must never meet a state it refuses
                check_plugin_states(plugins)
            except ckpt.CheckpointError as exc:
                refused = exc
            problems = [sent["refused"] for sent in ranks if sent["refused"]]
            if refused is None and problems:
                refused = ckpt.CheckpointError(problems[0])
            data = {
                "format": CHECKPOINT_FORMAT,
                "world_size": self.env.world_size,
                "state": state.to_dict(),
                "model": model.state_dict(),
                "plugins": plugins,
                "rng": [sent["rng"] for sent in ranks],
                "metrics": [sent["metrics"] for sent in ranks],
            }
        if self.is_distributed:  # every rank raises rank 0's refusal, together
            shared: list[Any] = [refused]
            dist.broadcast_object_list(shared, src=0, device=self.device)
            refused = shared[0]
        if refused is not None:
            raise refused
        if self.rank == 0:
            path = ckpt.checkpoint_path(self.run_dir, model.save_name, state.global_batch)
            ckpt.save_checkpoint(data, path, self.keep_checkpoints)
        if self.is_distributed:
            dist.barrier()

    def _restore(self, model: Model) -> None:
        assert self.run_dir is not None
        found = ckpt.find_latest(self.run_dir, model.save_name)
        if found is None:
            return
        path, data = found
        state = TrainingState.from_checkpoint(path, data["state"])
        rng = data["rng"]
        if len(rng) != data["world_size"] or not all(isinstance(r, dict) for r in rng):
            raise ckpt.CheckpointError(
                f"{path}: entry 'rng' holds {len(rng)} item(s) of type(s) "
                f"{', '.join(sorted({type(r).__name__ for r in rng})) or 'none'}, expected one "
                f"dict of generator states per process ({data['world_size']}); delete the file "
                "to resume from the one before it"
            )
        if data["world_size"] != self.env.world_size:
            raise ckpt.CheckpointError(
                f"{path} was written by a {data['world_size']}-process run and this run has "
                f"{self.env.world_size}; resume with {data['world_size']} processes for an "
                "exact resume, or start over in another run_dir"
            )
        metrics = _saved_metrics(path, data)
        plugins = _saved_plugin_states(path, data)
        # Every check that can refuse the file comes before anything is restored. The
        # generators are set here to check them (torch refuses an invalid state), and again
        # last: nothing restored in between may draw from them.
        before = get_rng_state()
        _restore_rng(path, rng[self.rank])
        set_rng_state(before)  # a refusal below leaves the generators as they were
        # Plug-ins first: one may refuse a checkpoint that is not its run's (helios-optuna:
        # another study's trial) before the model meets weights of another shape.
        self._plugins.load_state_dicts(plugins)
        try:
            model.load_state_dict(data["model"])
        except torch.OutOfMemoryError:
            raise  # no fault of the file
        except Exception as exc:  # a state of another network, optimiser or scheduler
            cause = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ckpt.CheckpointError(
                f"{path}: entry 'model' does not fit {type(model).__name__} "
                f"({type(exc).__name__}: {shown(cause or 'no detail', limit=200)}); for a "
                "changed model pass another run_dir or save_name, else delete the file to "
                "resume from the one before it"
            ) from exc
        if metrics is not None:
            model.metrics = dict(metrics[self.rank])
        self.state = state
        _restore_rng(path, rng[self.rank])
        log.info("%s: resumed from %s", model.save_name, path)


def _whole(name: str, value: Any, high: int, rule: str, fix: str) -> int:
    """``value`` as a Python int from 0 to ``high`` (NumPy integers too, bools not)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or not 0 <= number <= high:
        raise ValueError(f"{name} must be {rule}, found {ckpt.shown_value(value)}; {fix}")
    return number


def _seconds(value: Any) -> float:
    """``dist_timeout_s`` as a float: positive and at most :data:`_MAX_SECONDS`."""
    number = math.nan
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # an int of 400 digits
            number = math.inf
    if not 0 < number <= _MAX_SECONDS:
        raise ValueError(
            "dist_timeout_s must be a positive number of seconds of at most "
            f"{_MAX_SECONDS:,.0f}, found {ckpt.shown_value(value)}; pass e.g. 300.0"
        )
    return number


#: The longest ``dist_timeout_s``: about 31 years (``datetime.timedelta`` and torch's
#: milliseconds hold it; a larger number is a mistake).
_MAX_SECONDS = 1e9


def storable_metric(value: Any) -> Any:
    """``value`` as a checkpoint keeps it: a NumPy scalar (``np.mean(...)``, most scikit-learn
    scores) or 0-d array becomes the Python number it holds, exactly; a tensor is detached and
    moved to the CPU (a rank's GPU need not exist where the checkpoint is read)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def metrics_refusal(metrics: dict[Any, Any], rank: int | None) -> str | None:
    """Why ``model.metrics`` cannot be checkpointed (``rank``: named when distributed), or
    None: keys must be strings, values what ``torch.load(weights_only=True)`` loads back."""
    where = f"rank {rank}'s model.metrics" if rank is not None else "model.metrics"
    for key, value in metrics.items():
        if not isinstance(key, str):
            return (
                f"{where} cannot be checkpointed: its key {ckpt.shown_value(key)} "
                f"({type(key).__name__}) is not a string; name each metric with a string"
            )
        refusal = find_refusal(value)
        if refusal is None:
            continue
        kind = type(refusal.value)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        why = (
            "which torch.load(weights_only=True) refuses, so no run could resume from it"
            if refusal.reason == "refused"
            else f"which {refusal.reason}"
        )
        return (
            f"{where} cannot be checkpointed: metrics[{ckpt.shown_value(key)}]{refusal.path} "
            f"is a {name} ({ckpt.shown_value(refusal.value)}), {why}; store a float "
            "(float(x)), an int or a tensor instead"
        )
    return None


def _saved_metrics(path: Path, data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Each process's ``model.metrics`` from a checkpoint (None before format 3); a
    :class:`CheckpointError` naming the file for anything but one dict per process keyed by
    strings."""
    metrics = data.get("metrics")
    if metrics is None:
        return None
    if len(metrics) != data["world_size"] or not all(
        isinstance(m, dict) and all(isinstance(k, str) for k in m) for m in metrics
    ):
        raise ckpt.CheckpointError(
            f"{path}: entry 'metrics' holds {ckpt.shown_value(metrics)}, expected one dict of "
            f"metrics (string keys) per process ({data['world_size']}); delete the file to "
            "resume from the one before it"
        )
    for rank, saved in enumerate(metrics):  # what the next save would refuse (too deep)
        problem = metrics_refusal(saved, rank if len(metrics) > 1 else None)
        if problem is not None:
            raise ckpt.CheckpointError(
                f"{path}: entry 'metrics' would fail the next save ({problem}); delete the "
                "file to resume from the one before it"
            )
    return list(metrics)


def _saved_plugin_states(path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The plug-in states of a checkpoint: a :class:`CheckpointError` naming the file and the
    key unless each is a dict under a string id (as every save writes them)."""
    states: dict[Any, Any] = data["plugins"]
    for key, value in states.items():
        if not isinstance(key, str) or not isinstance(value, dict):
            raise ckpt.CheckpointError(
                f"{path}: entry 'plugins' holds {ckpt.shown_value(value)} under the key "
                f"{ckpt.shown_value(key)}, expected a dict (a plug-in's state) under a string "
                "(its id); delete the file to resume from the one before it"
            )
    return states


def _restore_rng(path: Path, state: dict[str, Any]) -> None:
    """Set this process's generators from a checkpoint; a :class:`CheckpointError` naming the
    file if they refuse the state."""
    try:
        set_rng_state(state)
    except Exception as exc:
        raise ckpt.CheckpointError(
            f"{path}: entry 'rng' cannot be restored ({type(exc).__name__}: "
            f"{shown(str(exc), limit=200)}); delete the file to resume from the one before it"
        ) from None


def _exception_list(name: str, value: object) -> list[type[BaseException]]:
    """``value`` if it is a list of exception classes; else a TypeError naming ``name``."""
    if isinstance(value, list) and all(
        isinstance(cls, type) and issubclass(cls, BaseException) for cls in value
    ):
        return value
    raise TypeError(
        f"Trainer.{name} must be a list of exception classes, e.g. [optuna.TrialPruned], "
        f"found {value!r}"
    )


def _positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, found {value!r}")


def _select_device(requested: str, env: distributed.DistEnv) -> torch.device:
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', found {requested!r}")
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        from helios.plugins._host.host import probe_device

        raise RuntimeError(
            f"Trainer(device='cuda') but CUDA is not available here ({probe_device().describe()}); "
            "use device='cpu', or run on a machine with an NVIDIA GPU and a CUDA build of torch"
        )
    if requested == "cuda" or (requested == "auto" and available):
        return torch.device("cuda", env.local_rank)
    return torch.device("cpu")


def _progress(enabled: bool, total: int | None, state: TrainingState) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    # tqdm redraws at most every mininterval seconds, so update(1) per step stays cheap.
    return tqdm(
        total=total, initial=state.iteration, unit="step", mininterval=0.5, dynamic_ncols=True
    )

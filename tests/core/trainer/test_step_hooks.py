"""The shared step hooks: every plug-in receives them, in registration order, before the model;
dispatch lists built once per run; stop answers after every optimiser step, in DDP too; exact
resume with a plug-in that keeps state in them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from helios.plugins.hooks import HOOKS, STEP_HOOKS
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios.trainer import Trainer, TrainingState
from helios.trainer_plugins import Dispatch, PluginSet
from support.runs import TESTS
from support.toy import ToyData, ToyModel

JOB = Path(__file__).with_name("step_hook_job.py")

#: The shared hooks a plug-in gets per epoch, batch or optimiser step (not the run-long ones).
LOOP_HOOKS = tuple(h.name for h in HOOKS if h.flag is None and h.args in (("epoch",), ("state",)))


def make_trainer(**kwargs: Any) -> Trainer:
    return Trainer(device="cpu", progress=False, **kwargs)


def _state(value: Any) -> Any:
    if isinstance(value, TrainingState):
        return (value.epoch, value.batch, value.iteration)
    return value


class Stepper(Plugin):
    """Records each shared loop hook with the counters it sees, into a shared list."""

    def __init__(self, plug_id: str, calls: list[tuple[Any, ...]]) -> None:
        super().__init__(plug_id)
        self.calls = calls

    def setup(self) -> None:
        pass

    def _rec(self, hook: str, arg: Any) -> None:
        self.calls.append((self.plugin_id, hook, _state(arg)))

    def on_training_epoch_start(self, epoch: int) -> None:
        self._rec("on_training_epoch_start", epoch)

    def on_training_batch_start(self, state: Any) -> None:
        self._rec("on_training_batch_start", state)

    def on_optimizer_step_start(self, state: Any) -> None:
        self._rec("on_optimizer_step_start", state)

    def on_optimizer_step_end(self, state: Any) -> None:
        self._rec("on_optimizer_step_end", state)

    def on_training_batch_end(self, state: Any) -> None:
        self._rec("on_training_batch_end", state)

    def on_training_epoch_end(self, epoch: int) -> None:
        self._rec("on_training_epoch_end", epoch)


class SteppingModel(ToyModel):
    """Records its own loop hooks (the Model has all but the optimiser-step ones) and steps."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.calls = calls

    def on_training_epoch_start(self, epoch: int) -> None:
        self.calls.append(("model", "on_training_epoch_start", epoch))

    def on_training_batch_start(self, state: TrainingState) -> None:
        self.calls.append(("model", "on_training_batch_start", _state(state)))

    def optimizer_step(self, state: TrainingState) -> None:
        self.calls.append(("model", "optimizer_step", _state(state)))
        super().optimizer_step(state)

    def on_training_batch_end(self, state: TrainingState) -> None:
        self.calls.append(("model", "on_training_batch_end", _state(state)))

    def on_training_epoch_end(self, epoch: int) -> None:
        self.calls.append(("model", "on_training_epoch_end", epoch))


def test_the_step_hooks_table_names_the_plugin_methods() -> None:
    assert set(STEP_HOOKS) <= set(LOOP_HOOKS)
    assert set(LOOP_HOOKS) == {
        "on_training_epoch_start",
        "on_training_batch_start",
        "on_optimizer_step_start",
        "on_optimizer_step_end",
        "on_training_batch_end",
        "on_training_epoch_end",
    }
    for name in LOOP_HOOKS:  # documented no-ops on Plugin
        assert getattr(Plugin, name).__doc__
        assert getattr(Plugin, name)(Stepper("x", []), 0) is None


def test_every_plugin_gets_the_step_hooks_in_registration_order_before_the_model() -> None:
    calls: list[tuple[Any, ...]] = []
    trainer = make_trainer(total=1, accumulation_steps=2, plugins=[Stepper("b", calls)])
    trainer.register_plugin(Stepper("a", calls))  # never exclusive: no claim, no conflict
    trainer.fit(SteppingModel(calls), ToyData(size=24, batch_size=8))  # 3 batches, 2 steps

    def both(hook: str, arg: Any) -> list[tuple[Any, ...]]:
        return [("b", hook, arg), ("a", hook, arg)]

    def model(hook: str, arg: Any) -> list[tuple[Any, ...]]:
        return [("model", hook, arg)]

    assert calls == [
        *both("on_training_epoch_start", 0),
        *model("on_training_epoch_start", 0),
        # batch 1: gradients accumulate, no optimiser step
        *both("on_training_batch_start", (0, 0, 0)),
        *model("on_training_batch_start", (0, 0, 0)),
        *both("on_training_batch_end", (0, 1, 0)),
        *model("on_training_batch_end", (0, 1, 0)),
        # batch 2: the first step
        *both("on_training_batch_start", (0, 1, 0)),
        *model("on_training_batch_start", (0, 1, 0)),
        *both("on_optimizer_step_start", (0, 2, 0)),
        *model("optimizer_step", (0, 2, 0)),
        *both("on_optimizer_step_end", (0, 2, 1)),
        *both("on_training_batch_end", (0, 2, 1)),
        *model("on_training_batch_end", (0, 2, 1)),
        # batch 3: the epoch's last batch flushes the partial group
        *both("on_training_batch_start", (0, 2, 1)),
        *model("on_training_batch_start", (0, 2, 1)),
        *both("on_optimizer_step_start", (0, 3, 1)),
        *model("optimizer_step", (0, 3, 1)),
        *both("on_optimizer_step_end", (0, 3, 2)),
        *both("on_training_batch_end", (0, 3, 2)),
        *model("on_training_batch_end", (0, 3, 2)),
        *both("on_training_epoch_end", 0),
        *model("on_training_epoch_end", 0),
    ]


def test_gradients_are_ready_at_step_start_and_weights_updated_at_step_end() -> None:
    seen: list[tuple[bool, bool]] = []

    class Watcher(Plugin):
        def setup(self) -> None:
            self.before: list[torch.Tensor] = []

        def configure_model(self, model: Any) -> None:
            self.model = model

        def on_optimizer_step_start(self, state: Any) -> None:
            params = list(self.model.module.parameters())
            self.before = [p.detach().clone() for p in params]
            seen.append((all(p.grad is not None for p in params), False))

        def on_optimizer_step_end(self, state: Any) -> None:
            params = list(self.model.module.parameters())
            moved = any(not torch.equal(p, b) for p, b in zip(params, self.before, strict=True))
            cleared = all(p.grad is None for p in params)  # zero_grad(set_to_none=True)
            seen[-1] = (seen[-1][0], moved and cleared)

    make_trainer(total=1, plugins=[Watcher("watcher")]).fit(ToyModel(), ToyData(size=16))
    assert seen == [(True, True), (True, True)]


def test_dispatch_lists_hold_only_the_hooks_a_plugin_or_the_model_redefines() -> None:
    class Partial(Plugin):
        def setup(self) -> None:
            pass

        def on_optimizer_step_end(self, state: Any) -> None:
            pass

    class Stopper(Partial):
        declared_overrides = UniquePluginOverrides(should_training_stop=True)

        def should_training_stop(self) -> bool:
            return False

    plugins = PluginSet()
    bare, partial, stopper = Partial("bare"), Partial("partial"), Stopper("stopper")
    bare.on_optimizer_step_end = Plugin.on_optimizer_step_end.__get__(bare)  # type: ignore[method-assign]
    for plugin in (bare, partial, stopper):
        plugins.add(plugin)
    calls: list[tuple[Any, ...]] = []
    model = SteppingModel(calls)
    hooks = Dispatch(plugins, model)

    # An instance attribute counts as the plug-in's own hook, whatever it is bound to.
    assert hooks.calls["on_optimizer_step_end"] == (
        bare.on_optimizer_step_end,
        partial.on_optimizer_step_end,
        stopper.on_optimizer_step_end,
    )
    assert hooks.calls["on_training_batch_end"] == (model.on_training_batch_end,)
    assert hooks.calls["on_optimizer_step_start"] == ()  # nobody: nothing is called per step
    assert hooks.calls["on_training_start"] == ()  # ToyModel keeps the default
    assert hooks.calls["should_training_stop"] == (stopper.should_training_stop,)
    assert hooks.owner("should_training_stop") == stopper.should_training_stop
    assert hooks.owner("process_training_batch") is None
    assert hooks.calls["process_training_batch"] == ()
    # Every hook of the loops has an entry; configuration and checkpoint hooks have none.
    assert set(hooks.calls) == {
        h.name for h in HOOKS if h.phase.value in ("training", "validation", "testing")
    }


def test_a_plugin_registered_after_a_run_gets_the_step_hooks_of_the_next_one() -> None:
    calls: list[tuple[Any, ...]] = []
    trainer = make_trainer(total=1)
    model, data = ToyModel(), ToyData(size=8)
    trainer.fit(model, data)
    trainer.register_plugin(Stepper("late", calls))
    trainer.fit(model, data)
    assert [c[1] for c in calls if c[1].startswith("on_optimizer")] == [
        "on_optimizer_step_start",
        "on_optimizer_step_end",
    ]


# ---------------------------------------------------------------------- processes
def _job(mode: str, **config: Any) -> subprocess.CompletedProcess[str]:
    """``step_hook_job.py MODE CONFIG`` in a fresh interpreter; a hang fails after 300 s."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, str(JOB), mode, json.dumps(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
        check=False,
    )


EMA_CASES = {
    # 64 samples, batch 8: 8 batches an epoch.
    "epoch-unit, mid-epoch kill": {"unit": "epoch", "total": 3, "checkpoint_every": 1, "kill_at": 13},
    "iteration-unit, accumulation, validation": {
        "unit": "iteration", "total": 10, "checkpoint_every": 3, "valid_every": 2,
        "accumulation_steps": 2, "kill_at": 15,
    },
}  # fmt: skip


@pytest.mark.parametrize("config", EMA_CASES.values(), ids=EMA_CASES.keys())
def test_a_step_hook_plugin_with_state_resumes_bitwise(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    settings = {k: v for k, v in config.items() if k != "kill_at"}
    straight = _job("ema", run_dir=str(tmp_path / "straight"), **settings)
    assert straight.returncode == 0, straight.stderr

    killed = _job("ema", run_dir=str(tmp_path / "resumed"), **config)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "resumed" / "ema.pt").exists()
    resumed = _job("ema", run_dir=str(tmp_path / "resumed"), **settings)
    assert resumed.returncode == 0, resumed.stderr

    for name in ("params.pt", "ema.pt"):
        expected = torch.load(tmp_path / "straight" / name, weights_only=True)
        found = torch.load(tmp_path / "resumed" / name, weights_only=True)
        assert found.keys() == expected.keys() and found
        for key, value in found.items():
            assert torch.equal(value, expected[key]), (name, key)
    # The average is not the weights: the hook did run, after every step.
    params = torch.load(tmp_path / "straight" / "params.pt", weights_only=True)
    average = torch.load(tmp_path / "straight" / "ema.pt", weights_only=True)
    assert not torch.equal(average["0.weight"], params["0.weight"])


def test_a_stop_on_one_rank_stops_every_rank_at_that_step(tmp_path: Path) -> None:
    proc = _job("ddp-stop", run_dir=str(tmp_path), total=12, stop_at=5, stop_rank=1)
    assert proc.returncode == 0, proc.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank in ranks:
        # 64 samples, 2 ranks, batch 8: 4 batches an epoch; step 5 is epoch 1's first batch.
        assert (rank["iteration"], rank["global_batch"], rank["stopped"]) == (5, 5, True)
        assert rank["batches"] == [1, 2, 3, 4, 5]
        # one collective per step, and one after the validation at the end
        assert (rank["asked"], rank["all_reduce"]) == (5 + 1, 5 + 1)


def test_without_a_stopper_no_collective_runs_per_step(tmp_path: Path) -> None:
    proc = _job("ddp-stop", run_dir=str(tmp_path), total=6)
    assert proc.returncode == 0, proc.stderr
    for r in (0, 1):
        rank = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert (rank["iteration"], rank["stopped"]) == (6, False)
        assert rank["all_reduce"] == 1  # the validation at the end only

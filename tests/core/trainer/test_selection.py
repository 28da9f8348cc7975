"""``Trainer(plugins=[...])`` selecting installed plug-ins: the skip of a plug-in that does not
apply here (and strict mode), options given by id, conflicts within the selection, and the
shapes the list accepts."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from helios.plugins import probe_device
from helios.plugins.errors import (
    PluginBrokenError,
    PluginConflictError,
    PluginError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotApplicableWarning,
    PluginNotInstalledError,
    PluginSelectionConflictError,
)
from helios.plugins.plugin import Plugin, UniquePluginOverrides
from helios.trainer import Trainer
from support.plugin_env import PluginEnv
from support.toy import ToyData, ToyModel

CPU_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})
FAKE_GPU = json.dumps({"torch_cuda": "12.4", "torch_version": "2.5.1+cu124", "gpus": ["9.0"]})
NO_CUDA = "needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)"
CUDA_ONLY = 'accelerator = "cuda"'

OPTIONS_SOURCE = """\
from helios.plugins.plugin import Plugin


class OptionsPlugin(Plugin):
    plugin_id = "opts"

    def __init__(self, decay=0.9, *, every=1):
        super().__init__()
        self.decay, self.every = decay, every

    def setup(self):
        pass
"""

NEEDY_SOURCE = """\
from helios.plugins.plugin import Plugin


class NeedyPlugin(Plugin):
    plugin_id = "needy"

    def __init__(self, trial, metric_name, /, scale=1.0):
        super().__init__()

    def setup(self):
        pass
"""

ANY_OPTIONS_SOURCE = """\
from helios.plugins.plugin import Plugin


class AnyPlugin(Plugin):
    plugin_id = "anything"

    def __init__(self, **options):
        super().__init__()
        self.options = options

    def setup(self):
        pass
"""


@pytest.fixture
def env(plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """Fixture distributions, on a machine with the CPU build of torch and no GPU."""
    for name in ("HELIOS_PLUGINS_ONLY", "HELIOS_PLUGINS_DISABLE", "HELIOS_PLUGINS_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", CPU_BUILD)
    probe_device(refresh=True)
    yield plugin_env
    monkeypatch.delenv("HELIOS_FAKE_DEVICE")
    probe_device(refresh=True)


def make_trainer(**kwargs: Any) -> Trainer:
    return Trainer(total=1, device="cpu", progress=False, **kwargs)


def _imported(package: str) -> bool:
    return any(name.partition(".")[0] == package for name in sys.modules)


class Plain(Plugin):
    def setup(self) -> None:
        pass


class TrainBatch(Plain):
    declared_overrides = UniquePluginOverrides(training_batch=True)

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        return batch


def _skip_line(plugin_id: str, reason: str, message: str) -> str:
    return (
        f"plug-in '{plugin_id}' (helios-{plugin_id} 0.1.0) skipped: not applicable here "
        f"({reason}): {message}; Trainer(strict=True) or HELIOS_PLUGINS_STRICT=1 makes this an "
        "error"
    )


# ---------------------------------------------------------------------- not applicable here
def test_a_plugin_that_does_not_apply_here_is_skipped_with_one_warning_line(env: PluginEnv) -> None:
    env.add("helios-gpu", "gpu", class_name="GpuPlugin", device=CUDA_ONLY)
    env.add("helios-good", "good", class_name="GoodPlugin")
    env.activate()
    mine = Plain("mine")
    with pytest.warns(PluginNotApplicableWarning) as caught:
        trainer = make_trainer(plugins=[mine, "gpu", "good"])
    assert [str(w.message) for w in caught] == [_skip_line("gpu", "device-no-cuda-build", NO_CUDA)]
    assert "\n" not in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the Trainer(...) call
    assert list(trainer.plugins) == ["mine", "good"]
    assert not _imported("helios_gpu")
    trainer.fit(ToyModel(), ToyData(size=16, batch_size=8))  # the same script runs here


def test_a_skipped_plugin_takes_part_in_no_conflict(env: PluginEnv) -> None:
    env.add("helios-gpu", "gpu", device=CUDA_ONLY, overrides=("training_batch",))
    env.activate()
    batches = TrainBatch("batches")
    with pytest.warns(PluginNotApplicableWarning):
        trainer = make_trainer(plugins=[batches, "gpu"])
    assert trainer.plugins == {"batches": batches}


def test_on_a_machine_where_it_applies_the_plugin_loads(
    env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.add("helios-gpu", "gpu", class_name="GpuPlugin", device=CUDA_ONLY)
    env.activate()
    monkeypatch.setenv("HELIOS_FAKE_DEVICE", FAKE_GPU)
    probe_device(refresh=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no skip warning
        trainer = make_trainer(plugins=["gpu"])
    assert type(trainer.plugins["gpu"]).__name__ == "GpuPlugin"


def test_a_disabled_plugin_is_skipped_naming_the_setting(
    env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.add("helios-good", "good", class_name="GoodPlugin")
    env.activate()
    monkeypatch.setenv("HELIOS_PLUGINS_DISABLE", "good")
    with pytest.warns(PluginNotApplicableWarning) as caught:
        trainer = make_trainer(plugins=["good"])
    assert [str(w.message) for w in caught] == [
        _skip_line("good", "disabled", "disabled by HELIOS_PLUGINS_DISABLE or --disable")
    ]
    assert trainer.plugins == {}


def test_strict_makes_it_an_error_before_any_import(env: PluginEnv) -> None:
    env.add("helios-gpu", "gpu", device=CUDA_ONLY)
    env.add("helios-good", "good", class_name="GoodPlugin")
    env.activate()
    with pytest.raises(PluginNotApplicableError) as caught:
        make_trainer(plugins=["good", "gpu"], strict=True)
    assert str(caught.value) == (
        "plug-in check failed; nothing was imported:\n"
        f"  - gpu (helios-gpu 0.1.0): device-no-cuda-build: {NO_CUDA} Fix: install a CUDA build "
        "of torch (pip install torch --index-url https://download.pytorch.org/whl/cu124, see "
        "https://pytorch.org/get-started/)"
    )
    assert isinstance(caught.value, RuntimeError)
    assert not _imported("helios_gpu")
    assert not _imported("helios_good")


def test_the_strict_setting_makes_it_an_error_unless_the_trainer_says_otherwise(
    env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.add("helios-gpu", "gpu", device=CUDA_ONLY)
    env.activate()
    monkeypatch.setenv("HELIOS_PLUGINS_STRICT", "1")
    with pytest.raises(PluginNotApplicableError, match="device-no-cuda-build"):
        make_trainer(plugins=["gpu"])
    with pytest.warns(PluginNotApplicableWarning):
        assert make_trainer(plugins=["gpu"], strict=False).plugins == {}


def test_incompatible_broken_and_missing_plugins_always_raise(env: PluginEnv) -> None:
    env.add("helios-future", "future", core_range=">=0.2,<0.3")
    env.add("helios-crash", "crash", init_source="raise RuntimeError('boom')\n")
    env.activate()
    with pytest.raises(PluginIncompatibleError, match="incompatible-core"):
        make_trainer(plugins=["future"], strict=False)
    with pytest.raises(PluginBrokenError, match="import-failed"):
        make_trainer(plugins=["crash"], strict=False)
    with pytest.raises(PluginNotInstalledError) as caught:
        make_trainer(plugins=["nowhere"], strict=False)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith(
        "no installed distribution provides the plug-in 'nowhere' (installed: "
    )


# ---------------------------------------------------------------------- conflicts
def test_two_selected_plugins_claiming_one_override_conflict_before_import(
    env: PluginEnv,
) -> None:
    env.add("helios-one", "one", class_name="OnePlugin", overrides=("training_batch",))
    env.add("helios-two", "two", class_name="TwoPlugin", overrides=("training_batch",))
    env.activate()
    with pytest.raises(PluginSelectionConflictError) as caught:
        make_trainer(plugins=["one", "two"])
    assert isinstance(caught.value, PluginConflictError)
    assert isinstance(caught.value, PluginIncompatibleError)
    fix = (
        "leave the others out of the ids given (Trainer(plugins=[...]), load_plugins([...]), "
        "helios plugins check ID...)"
    )
    assert str(caught.value) == (
        "2 plug-in checks failed; nothing was imported:\n"
        "  - one (helios-one 0.1.0): conflict: unique override conflict: 'one' and 'two' both "
        f"claim training_batch Fix: select only one of 'one', 'two': {fix}\n"
        "  - two (helios-two 0.1.0): conflict: unique override conflict: 'two' and 'one' both "
        f"claim training_batch Fix: select only one of 'two', 'one': {fix}"
    )
    assert "HELIOS_PLUGINS_DISABLE" not in str(caught.value)
    assert not _imported("helios_one")
    # Each alone is fine: the conflict belongs to the selection.
    assert list(make_trainer(plugins=["one"]).plugins) == ["one"]
    assert list(make_trainer(plugins=["two"]).plugins) == ["two"]


# ---------------------------------------------------------------------- options
def test_options_are_the_constructor_keyword_arguments(env: PluginEnv) -> None:
    env.add("helios-opts", "opts", class_name="OptionsPlugin", module_source=OPTIONS_SOURCE)
    env.add("helios-good", "good", class_name="GoodPlugin")
    env.activate()
    trainer = make_trainer(plugins=[("opts", {"decay": 0.999, "every": 4}), Plain("mine"), "good"])
    assert list(trainer.plugins) == ["opts", "mine", "good"]
    plugin: Any = trainer.plugins["opts"]
    assert (plugin.decay, plugin.every) == (0.999, 4)
    assert make_trainer(plugins=[("opts", {})]).plugins["opts"].decay == 0.9  # type: ignore[attr-defined]


def test_an_unknown_option_names_the_plugin_and_its_options(env: PluginEnv) -> None:
    env.add("helios-opts", "opts", class_name="OptionsPlugin", module_source=OPTIONS_SOURCE)
    env.activate()
    with pytest.raises(PluginError) as caught:
        make_trainer(plugins=[Plain("mine"), ("opts", {"decy": 0.5, "colour": "red"})])
    assert str(caught.value) == (
        "the plug-in 'opts' (helios_opts.plugin.OptionsPlugin) takes no option 'decy', 'colour' "
        "(did you mean 'decay'?); its options are: decay, every. Fix: give only those names in "
        "('opts', {...}) (item 1 of Trainer(plugins=...))"
    )
    assert not isinstance(caught.value, TypeError)


def test_options_for_a_plugin_that_takes_none(env: PluginEnv) -> None:
    env.add("helios-good", "good", class_name="GoodPlugin")  # no __init__: Plugin's plug_id
    env.activate()
    with pytest.raises(PluginError) as caught:
        make_trainer(plugins=[("good", {"rate": 1})])
    assert str(caught.value) == (
        "the plug-in 'good' (helios_good.plugin.GoodPlugin) takes no option 'rate'; its options "
        "are: plug_id. Fix: give only those names in ('good', {...}) (item 0 of "
        "Trainer(plugins=...))"
    )


def test_a_plugin_needing_arguments_the_options_leave_out(env: PluginEnv) -> None:
    env.add("helios-needy", "needy", class_name="NeedyPlugin", module_source=NEEDY_SOURCE)
    env.add("helios-opts", "opts", class_name="OptionsPlugin", module_source=OPTIONS_SOURCE)
    env.activate()
    with pytest.raises(PluginError) as caught:
        make_trainer(plugins=["opts", ("needy", {"scale": 2.0})])
    assert str(caught.value) == (
        "the plug-in 'needy' (helios_needy.plugin.NeedyPlugin) cannot be created from its "
        "options alone: its constructor needs trial, metric_name (options given: 'scale'). Fix: "
        "pass an instance instead, Trainer(plugins=[NeedyPlugin(...)])"
    )


def test_a_plugin_taking_any_keyword_takes_any_option(env: PluginEnv) -> None:
    env.add("helios-anything", "anything", class_name="AnyPlugin", module_source=ANY_OPTIONS_SOURCE)
    env.activate()
    trainer = make_trainer(plugins=[("anything", {"x": 1, "y": [2]})])
    assert trainer.plugins["anything"].options == {"x": 1, "y": [2]}  # type: ignore[attr-defined]


def test_options_of_optuna_can_build_it() -> None:
    optuna = pytest.importorskip("optuna", reason="needs helios-optuna and Optuna")
    pytest.importorskip("helios_optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    trainer = make_trainer(plugins=[("optuna", {"trial": trial, "metric_name": "loss"})])
    plugin: Any = trainer.plugins["optuna"]
    assert (plugin.trial, plugin.metric_name) == (trial, "loss")


# ---------------------------------------------------------------------- the list's shape
class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


FORMS = (
    "Trainer(plugins=...) takes plug-in instances, ids of installed plug-ins such as 'cuda', or "
    "(id, options) pairs such as ('ema', {'decay': 0.999})"
)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (Plain, f"{FORMS}; item 1 is the class Plain: pass an instance of it"),
        (("a", {}, 1), f"{FORMS}; item 1 is tuple ('a', {{}}, 1)"),
        (["a", {}], f"{FORMS}; item 1 is list ['a', {{}}]"),
        (3, f"{FORMS}; item 1 is int 3"),
        ("x" * 200, None),  # a string is an id: judged by the loader, not here
        (_BadRepr(), f"{FORMS}; item 1 is _BadRepr <_BadRepr object>"),
        (
            ("a", ["decay", 1]),
            f"{FORMS}; item 1 gives the plug-in 'a' options that are not a dict of keyword "
            "arguments: list ['decay', 1]",
        ),
        (
            ("a\x1b[2J", {1: 2}),
            f"{FORMS}; item 1 gives the plug-in 'a\\x1b[2J' an option name that is not a "
            "string: int 1; option names are the keyword arguments of its class",
        ),
    ],
)
def test_items_of_another_shape_are_refused(item: object, message: str | None) -> None:
    if message is None:
        with pytest.raises(PluginNotInstalledError):
            make_trainer(plugins=[Plain("mine"), item])
        return
    with pytest.raises(TypeError) as caught:
        make_trainer(plugins=[Plain("mine"), item])
    assert str(caught.value) == message


def test_an_id_selected_twice_is_refused() -> None:
    with pytest.raises(PluginConflictError) as caught:
        make_trainer(plugins=["good", Plain("mine"), ("good", {"x": 1})])
    assert str(caught.value) == (
        "Trainer(plugins=...) selects the plug-in 'good' twice (items 0 and 2); give each "
        "plug-in once"
    )

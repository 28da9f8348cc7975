"""The documented API of helios.plugins.plugin: overrides, Plugin, registry, create_plugin."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

import helios.plugins as hlp
from helios.plugins.plugin import GUARDED_HOOKS, PluginRegistry, overridden_hooks


class Minimal(hlp.Plugin):
    def setup(self) -> None:
        self.ready = True


class Batcher(hlp.Plugin):
    plugin_id = "batcher"
    declared_overrides = hlp.UniquePluginOverrides(training_batch=True)

    def setup(self) -> None:
        pass

    def process_training_batch(self, batch: Any, state: Any) -> Any:
        return [x * 2 for x in batch]


def test_unique_overrides_defaults_and_claims() -> None:
    flags = hlp.UniquePluginOverrides()
    assert dataclasses.asdict(flags) == {
        "training_batch": False,
        "validation_batch": False,
        "testing_batch": False,
        "should_training_stop": False,
    }
    assert flags.claimed() == frozenset()
    assert hlp.UniquePluginOverrides(testing_batch=True).claimed() == {"testing_batch"}
    assert set(GUARDED_HOOKS) == set(hlp.UniquePluginOverrides.names())


def test_plugin_is_abstract_until_setup_is_defined() -> None:
    with pytest.raises(TypeError, match="abstract"):
        hlp.Plugin("x")  # type: ignore[abstract]


def test_plugin_id_from_argument_or_class() -> None:
    assert Minimal("mine").plugin_id == "mine"
    assert Batcher().plugin_id == "batcher"
    with pytest.raises(TypeError, match=r"Minimal\(\) needs a plug-in id: pass it as Minimal"):
        Minimal()


def test_instance_overrides_are_a_copy_of_the_declaration() -> None:
    one, two = Batcher(), Batcher()
    assert one.unique_overrides == hlp.UniquePluginOverrides(training_batch=True)
    one.unique_overrides.testing_batch = True
    assert two.unique_overrides.testing_batch is False
    assert Batcher.declared_overrides.testing_batch is False


def test_properties_defaults_and_setters() -> None:
    plugin = Minimal("p")
    assert plugin.is_distributed is False
    assert plugin.rank == 0
    assert plugin.map_loc == ""
    with pytest.raises(RuntimeError) as caught:
        _ = plugin.trainer
    assert str(caught.value) == (
        "plug-in 'p' has no trainer yet: the trainer assigns it when fit() or test() starts, "
        "before setup(); register the plug-in with a Trainer and call fit() or test() first"
    )
    with pytest.raises(RuntimeError, match="plug-in 'p' has no device yet"):
        _ = plugin.device
    trainer = object()
    plugin.is_distributed, plugin.rank, plugin.map_loc = True, 3, {"cuda:0": "cuda:3"}
    plugin.trainer = trainer
    plugin.device = "cpu"  # type: ignore[assignment]  # a torch.device in real use
    assert (plugin.is_distributed, plugin.rank, plugin.map_loc) == (True, 3, {"cuda:0": "cuda:3"})
    assert plugin.trainer is trainer
    assert plugin.device == "cpu"


def test_default_hooks() -> None:
    plugin = Minimal("p")
    batch = {"x": [1, 2]}
    assert plugin.process_training_batch(batch, None) is batch
    assert plugin.process_validation_batch(batch, 0) is batch
    assert plugin.process_testing_batch(batch, 0) is batch
    assert plugin.should_training_stop() is False
    assert plugin.state_dict() == {}
    plugin.load_state_dict({"anything": 1})
    for hook in ("on_training_start", "on_training_end", "on_testing_start", "on_testing_end"):
        assert getattr(plugin, hook)() is None
    assert plugin.on_validation_start(1) is None
    assert plugin.on_validation_end(1) is None
    assert plugin.configure_trainer(object()) is None
    assert plugin.configure_model(object()) is None
    plugin.setup()
    assert plugin.ready


def test_overridden_hooks_follow_inheritance() -> None:
    class Child(Batcher):
        def should_training_stop(self) -> bool:
            return True

    assert overridden_hooks(Minimal) == frozenset()
    assert overridden_hooks(Batcher) == {"training_batch"}
    assert overridden_hooks(Child) == {"training_batch", "should_training_stop"}


def test_registry_decorator_register_and_lookup() -> None:
    registry = PluginRegistry(hlp.Plugin)

    @registry
    class Decorated(Minimal):
        pass

    assert registry.register(Batcher) is Batcher
    assert registry.register(Batcher) is Batcher  # idempotent for the same class
    assert registry.get("Decorated") is Decorated
    assert registry["Batcher"] is Batcher
    assert "Batcher" in registry
    assert registry.keys() == ["Batcher", "Decorated"]
    assert list(registry) == ["Batcher", "Decorated"]
    assert len(registry) == 2


def test_registry_rejects_non_plugins_and_name_clashes() -> None:
    registry = PluginRegistry(hlp.Plugin)
    with pytest.raises(
        TypeError, match=r"only subclasses of helios\.plugins\.Plugin can be registered"
    ):
        registry.register(dict)  # type: ignore[type-var]
    registry.register(Batcher)

    class Batcher2(Minimal):
        pass

    Batcher2.__name__ = "Batcher"
    with pytest.raises(ValueError, match="a plug-in class named 'Batcher' is already registered"):
        registry.register(Batcher2)


def test_global_registry_and_create_plugin() -> None:
    @hlp.PLUGIN_REGISTRY
    class ApiTestPlugin(Minimal):
        def __init__(self, scale: int, *, name: str = "api") -> None:
            super().__init__(name)
            self.scale = scale

    try:
        plugin = hlp.create_plugin("ApiTestPlugin", 3, name="custom")
        assert isinstance(plugin, ApiTestPlugin)
        assert (plugin.scale, plugin.plugin_id) == (3, "custom")
    finally:
        hlp.PLUGIN_REGISTRY.unregister("ApiTestPlugin")


def test_importing_the_api_stays_light() -> None:
    code = (
        "import sys, helios, helios.plugins as hlp; hlp.Plugin; hlp.create_plugin;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'helios')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    ).stdout
    assert eval(out) == [  # the first-party table and the base class; no host machinery
        "helios",
        "helios.plugins",
        "helios.plugins._host",
        "helios.plugins._host.findings",
        "helios.plugins._host.first_party",
        "helios.plugins.base",
        "helios.plugins.errors",
        "helios.plugins.hooks",
        "helios.plugins.plugin",
        "helios.plugins.registry",
    ]


def _env() -> dict[str, str]:
    import os
    from pathlib import Path

    src = str(Path(hlp.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def test_plug_id_is_helios_mls_name_for_the_plugin_id() -> None:
    plugin = Minimal("first")
    assert plugin._plug_id == "first"
    plugin._plug_id = "renamed"
    assert plugin.plugin_id == "renamed"
    assert repr(plugin) == "<Minimal plugin_id='renamed'>"


def test_the_typed_surface_names_trainer_types_without_importing_them() -> None:
    # annotations stay strings (``from __future__ import annotations``): no torch at import
    assert hlp.Plugin.configure_trainer.__annotations__["trainer"] == "Trainer"
    assert hlp.Plugin.configure_model.__annotations__["model"] == "Model"
    assert hlp.Plugin.process_training_batch.__annotations__["state"] == "TrainingState"
    assert hlp.Plugin.trainer.fget.__annotations__["return"] == "Trainer"  # type: ignore[attr-defined]

"""The plug-in registry: lookups of unknown names are ``KeyError``s, and helios-ml's suffix."""

from __future__ import annotations

import pytest

import helios.plugins as hlp
from helios.plugins import PluginNotInstalledError
from helios.plugins.registry import PluginRegistry
from support.plugin_env import PluginEnv


class Plain(hlp.Plugin):
    def setup(self) -> None:
        pass


class Other(hlp.Plugin):
    def setup(self) -> None:
        pass


@pytest.fixture
def registry(plugin_env: PluginEnv) -> PluginRegistry:
    """The test's own host's registry: empty, with no installed plug-in of the names used here."""
    plugin_env.activate()
    assert plugin_env.host is not None
    return plugin_env.host.registry


def test_an_unknown_name_is_a_key_error_with_a_readable_message(registry: PluginRegistry) -> None:
    with pytest.raises(KeyError) as caught:
        registry.get("Nobody")
    assert isinstance(caught.value, PluginNotInstalledError)
    assert isinstance(caught.value, ImportError)
    assert str(caught.value).startswith("no plug-in class named 'Nobody' is registered or ")
    assert not str(caught.value).startswith('"')  # not KeyError's quoted form
    with pytest.raises(KeyError):
        registry["Nobody"]
    with pytest.raises(KeyError, match="no plug-in class named 'Nobody'"):
        hlp.create_plugin("Nobody")


def test_an_unknown_id_is_a_key_error_too(registry: PluginRegistry) -> None:
    from helios.plugins import load_plugins

    with pytest.raises(KeyError) as caught:
        load_plugins(["nobody"])
    assert str(caught.value).startswith(
        "no installed distribution provides the plug-in 'nobody' (installed: "
    )


def test_a_suffix_registers_under_name_underscore_suffix(registry: PluginRegistry) -> None:
    assert registry.register(Plain, suffix="v2") is Plain
    assert "Plain_v2" in registry
    assert "Plain" not in registry
    assert registry.get("Plain_v2") is Plain
    registry.register(Plain, suffix="v2")  # the same class again: nothing happens
    with pytest.raises(ValueError, match="already registered") as caught:
        registry.register(_renamed("Plain"), suffix="v2")
    assert str(caught.value) == (
        f"a plug-in class named 'Plain_v2' is already registered ({__name__}.Plain); cannot "
        "also register elsewhere.Plain: rename one of the two classes, or register it with "
        "another suffix"
    )


def _renamed(name: str) -> type[hlp.Plugin]:
    """Another plug-in class with the class name ``name``."""
    return type(name, (Other,), {"__module__": "elsewhere"})


def test_get_with_a_suffix_prefers_the_name_itself(registry: PluginRegistry) -> None:
    registry.register(Plain)
    registry.register(_renamed("Plain"), suffix="v2")
    assert registry.get("Plain", suffix="v2") is Plain


def test_get_with_a_suffix_falls_back_to_the_suffixed_name_with_a_warning(
    registry: PluginRegistry,
) -> None:
    registry.register(Plain, suffix="v2")
    with pytest.warns(UserWarning, match="instead") as caught:
        assert registry.get("Plain", suffix="v2") is Plain
    assert [str(w.message) for w in caught] == [
        "no plug-in class 'Plain' is registered or installed; found 'Plain_v2' instead "
        "(suffix 'v2')"
    ]
    with pytest.raises(KeyError, match="no plug-in class named 'Plain'"):
        registry.get("Plain", suffix="v3")
    with pytest.raises(KeyError, match="no plug-in class named 'Plain'"):
        registry.get("Plain")


def test_a_registry_of_its_own_looks_up_no_installed_plugin() -> None:
    """Without a resolver (a registry built by hand, not a host's), an unknown name is a
    KeyError that says where installed plug-ins are looked up."""
    registry = PluginRegistry(hlp.Plugin)
    registry.register(Plain)
    with pytest.raises(PluginNotInstalledError) as caught:
        registry.get("OptunaPlugin")
    assert str(caught.value) == (
        "no plug-in class named 'OptunaPlugin' is registered in this registry (registered: "
        "Plain; it looks up no installed plug-ins). Fix: register the class with it, or look "
        "it up in helios.plugins.PLUGIN_REGISTRY"
    )
    assert registry.get("Plain") is Plain

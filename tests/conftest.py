"""Shared by every test tree: ``support`` on sys.path and the ``plugin_env`` fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.plugin_env import PluginEnv


@pytest.fixture
def plugin_env_core_version() -> str:
    """The helios-trainer version ``plugin_env``'s fixture site holds (overridden per tree)."""
    return "0.1.0"


@pytest.fixture
def plugin_env(tmp_path: Path, plugin_env_core_version: str) -> Iterator[PluginEnv]:
    """A fresh site of fixture distributions, active in this process; undone afterwards."""
    from helios.plugins._host import loader
    from helios.plugins._host.discovery import discover
    from helios.plugins.plugin import PLUGIN_REGISTRY

    env = PluginEnv(tmp_path, plugin_env_core_version)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_registry = PLUGIN_REGISTRY.keys()
    try:
        yield env
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if any(name.partition(".")[0] == d.package for d in env.dists):
                del sys.modules[name]
        for name in set(PLUGIN_REGISTRY.keys()) - set(saved_registry):
            PLUGIN_REGISTRY.unregister(name)
        loader._LOADED.clear()
        discover(refresh=True)

"""Shared by every test tree: ``support`` on sys.path, a fresh plug-in host per test, and the
``plugin_env`` fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.plugin_env import PluginEnv

if TYPE_CHECKING:
    from helios.plugins._host.host import PluginHost


@pytest.fixture(autouse=True)
def plugin_host() -> Iterator[PluginHost]:
    """A fresh plug-in host, the default while the test runs: its scan, device probe, loaded
    classes and registry belong to this test alone (``PLUGIN_REGISTRY``, ``build_report``,
    ``probe_device`` and the trainer all act on it).

    A compatibility cell runs a plug-in's tests against an older released core; one from before
    the host (helios-trainer 0.3.0) keeps that state per process, so there is nothing to isolate.
    """
    try:
        from helios.plugins._host.host import PluginHost
    except ModuleNotFoundError as exc:
        if exc.name != "helios.plugins._host":
            raise
        yield None  # type: ignore[misc]
        return
    with PluginHost().as_default() as host:
        yield host


@pytest.fixture
def plugin_env_core_version() -> str:
    """The helios-trainer version ``plugin_env``'s fixture site holds (overridden per tree)."""
    return "0.1.0"


@pytest.fixture
def plugin_env(
    tmp_path: Path, plugin_env_core_version: str, plugin_host: PluginHost
) -> Iterator[PluginEnv]:
    """A fresh site of fixture distributions, seen by the test's plug-in host once activated.

    The site's folder leaves ``sys.path`` afterwards and the fixture packages leave
    ``sys.modules``: those belong to the interpreter, not to any host.
    """
    env = PluginEnv(tmp_path, plugin_env_core_version, host=plugin_host)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    try:
        yield env
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if any(name.partition(".")[0] == d.package for d in env.dists):
                del sys.modules[name]

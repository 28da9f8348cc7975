"""PluginHost: each host holds its own scan, settings, device probe, loaded classes and registry;
the module-level faces act on the default host."""

from __future__ import annotations

import json
import sys

import pytest

import helios.plugins as hlp
from helios.plugins import PluginHost, probe_device
from helios.plugins._host.host import default_host
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Reason
from helios.plugins.plugin import PLUGIN_REGISTRY, Plugin, create_plugin
from support.plugin_env import PluginEnv

CUDA = 'accelerator = "cuda"'
FAKE_GPU = json.dumps({"gpus": ["8.0"], "torch_cuda": "12.1", "torch_version": "2.5.1"})


class Mine(Plugin):
    plugin_id = "mine"

    def setup(self) -> None:
        pass


def test_the_faces_act_on_the_default_host_and_as_default_restores_it(
    plugin_host: PluginHost,
) -> None:
    assert default_host() is plugin_host  # tests/conftest.py made it the default
    other = PluginHost()
    with other.as_default() as entered:
        assert entered is other
        assert default_host() is other
        PLUGIN_REGISTRY.register(Mine)
        assert "Mine" in PLUGIN_REGISTRY
        assert isinstance(create_plugin("Mine"), Mine)
        assert PLUGIN_REGISTRY.keys() == ["Mine"]
    assert default_host() is plugin_host
    assert "Mine" not in PLUGIN_REGISTRY  # registered in the other host only
    assert other.registry.get("Mine") is Mine
    with pytest.raises(RuntimeError, match="boom"), other.as_default():
        raise RuntimeError("boom")
    assert default_host() is plugin_host  # restored whatever the block raised


def test_two_hosts_load_and_register_apart(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()
    first, second = PluginHost(), PluginHost()
    cls = first.load_plugins(["good"], settings=Settings())["good"]
    assert first.registry.keys() == ["GoodPlugin"]
    assert second.registry.keys() == []  # nothing leaks from one host into another
    assert list(first.loaded.values()) == [cls]
    assert second.build_report(["good"], settings=Settings())["good"].reason is Reason.READY
    assert second.create_plugin("GoodPlugin").plugin_id == "good"
    assert second.registry.get("GoodPlugin") is cls  # one module: the same class, registered
    assert "GoodPlugin" not in PLUGIN_REGISTRY  # the default host loaded nothing


def test_a_hosts_scan_is_kept_until_it_refreshes(plugin_env: PluginEnv) -> None:
    plugin_env.activate()
    host = PluginHost()

    def late(found: PluginHost) -> list[str]:
        return [c.entry_name for c in found.discover() if c.entry_name == "late"]

    assert late(host) == []
    plugin_env.add("helios-late", "late")
    assert host.scan() is host.scan()
    assert late(host) == []  # the scan is kept
    host.scan(refresh=True)
    assert late(host) == ["late"]
    assert late(PluginHost()) == ["late"]  # a new host scans afresh


def test_a_hosts_environment_gives_its_settings_and_its_device(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_env.add("helios-gpu", "gpu", device=CUDA)
    plugin_env.activate()
    monkeypatch.delenv("HELIOS_FAKE_DEVICE", raising=False)
    monkeypatch.delenv("HELIOS_PLUGINS_DISABLE", raising=False)
    gpu = PluginHost(environ={"HELIOS_FAKE_DEVICE": FAKE_GPU})
    assert [g.compute_capability for g in gpu.probe_device().gpus] == ["8.0"]
    assert gpu.build_report(["gpu"])["gpu"].reason is Reason.READY
    disabled = PluginHost(environ={"HELIOS_FAKE_DEVICE": FAKE_GPU, "HELIOS_PLUGINS_DISABLE": "gpu"})
    assert disabled.settings() == Settings(disable=frozenset({"gpu"}))
    assert disabled.build_report(["gpu"])["gpu"].reason is Reason.DISABLED
    assert probe_device().source != "fake (HELIOS_FAKE_DEVICE)"  # os.environ has no fake


def test_a_hosts_probe_is_kept_until_it_refreshes() -> None:
    environ = {"HELIOS_FAKE_DEVICE": FAKE_GPU}
    host = PluginHost(environ=environ)
    first = host.probe_device()
    environ["HELIOS_FAKE_DEVICE"] = json.dumps({"gpus": []})
    assert host.probe_device() is first
    assert host.probe_device(refresh=True).gpus == ()


def test_a_not_applicable_plugin_gives_one_stand_in_per_host(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-gpu", "gpu", class_name="GpuPlugin", device=CUDA)
    plugin_env.activate()
    no_gpu = {"HELIOS_FAKE_DEVICE": json.dumps({"gpus": []})}
    host, other = PluginHost(environ=no_gpu), PluginHost(environ=no_gpu)
    stand_in = host.registry.get("GpuPlugin")
    assert host.registry.get("GpuPlugin") is stand_in
    assert other.registry.get("GpuPlugin") is not stand_in  # each host keeps its own
    assert "helios_gpu" not in sys.modules  # never imported
    with pytest.raises(hlp.PluginNotApplicableError):
        stand_in()


def test_repr_says_what_the_host_holds(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.activate()
    host = PluginHost()
    assert repr(host) == "<PluginHost: not scanned, 0 loaded, 0 registered>"
    host.load_plugins(["good"], settings=Settings())
    found = len(host.discover())  # the fixture, and the real plug-ins installed here
    assert repr(host) == f"<PluginHost: {found} plug-in(s) found, 1 loaded, 1 registered>"
    assert repr(PLUGIN_REGISTRY) == (
        "<PLUGIN_REGISTRY: 0 class(es) registered in the default plug-in host>"
    )

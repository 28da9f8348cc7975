"""The load pipeline against real fixture distributions on a temporary site path."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from helios.plugins import (
    PLUGIN_REGISTRY,
    PluginBrokenError,
    PluginConflictError,
    PluginIncompatibleError,
    PluginNotApplicableError,
    PluginNotInstalledError,
    PluginSelectionConflictError,
    build_report,
    create_plugin,
    load_plugins,
)
from helios.plugins._host.report import Conflict
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Kind, Reason
from helios.plugins.device.probe import GPU, DeviceInfo
from support.devices import NO_GPU
from support.plugin_env import PluginEnv

FAKE_GPU_MACHINE = DeviceInfo(
    torch_version="2.5.1+cu121",
    torch_cuda="12.1",
    driver="550.54.15",
    driver_cuda="12.4",
    gpus=(GPU(0, "Fake A100", "8.0"), GPU(1, "Fake T4", "7.5")),
    source="fake (test)",
)
CUDA_DEVICE = 'accelerator = "cuda"\ncuda = ">=12.1"\ncompute-capability = ">=8.0"'
NONE = Settings()


def marker_init(path: Path) -> str:
    """An __init__ that leaves a marker file behind and then raises: proof of import."""
    return f"open({str(path)!r}, 'w').close()\nraise RuntimeError('imported!')\n"


def test_plugin_whose_init_raises_is_listed_checked_and_rejected_without_import(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    marker = tmp_path / "imported.marker"
    plugin_env.add("helios-trap", "trap", init_source=marker_init(marker), core_range=">=0.2")
    plugin_env.activate()

    report = build_report(settings=NONE)
    verdict = report["trap"]
    assert verdict.reason is Reason.INCOMPATIBLE_CORE
    assert verdict.distribution == "helios-trap"
    with pytest.raises(PluginIncompatibleError, match=re.escape("requires helios-trainer>=0.2")):
        load_plugins(["trap"], settings=NONE)
    assert not marker.exists()


def test_ready_plugin_loads_verifies_and_registers(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin", overrides=("training_batch",))
    plugin_env.activate()

    report = build_report(settings=NONE)
    assert report["good"].reason is Reason.READY
    assert report["good"].overrides == ("training_batch",)
    classes = load_plugins(["good"], settings=NONE)
    cls = classes["good"]
    assert cls.__name__ == "GoodPlugin"
    assert PLUGIN_REGISTRY.get("GoodPlugin") is cls
    plugin = create_plugin("GoodPlugin")
    assert plugin.plugin_id == "good"
    assert plugin.unique_overrides.training_batch is True
    assert build_report(settings=NONE, load=True)["good"].reason is Reason.LOADED


def test_registry_resolves_an_installed_class_lazily(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-lazy", "lazy", class_name="LazyPlugin")
    plugin_env.activate()
    assert "LazyPlugin" not in PLUGIN_REGISTRY
    assert create_plugin("LazyPlugin").plugin_id == "lazy"
    assert "LazyPlugin" in PLUGIN_REGISTRY


def test_two_plugins_claiming_training_batch_fail_together(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-one", "one", class_name="OnePlugin", overrides=("training_batch",))
    plugin_env.add("helios-two", "two", class_name="TwoPlugin", overrides=("training_batch",))
    plugin_env.activate()

    with pytest.raises(PluginIncompatibleError) as caught:
        load_plugins(["one", "two"], settings=NONE)
    text = str(caught.value)
    assert "unique override conflict: 'one' and 'two' both claim training_batch" in text
    assert "unique override conflict: 'two' and 'one' both claim training_batch" in text
    assert "nothing was imported" in text
    assert [v.reason for v in caught.value.verdicts] == [Reason.CONFLICT, Reason.CONFLICT]
    assert isinstance(caught.value, PluginSelectionConflictError)
    assert isinstance(caught.value, PluginConflictError)
    # Alone, each is fine: the conflict exists only within a selection.
    assert load_plugins(["one"], settings=NONE)["one"].__name__ == "OnePlugin"


def test_installed_plugins_that_conflict_keep_their_verdicts_and_are_a_note(
    plugin_env: PluginEnv,
) -> None:
    plugin_env.add("helios-one", "one", class_name="OnePlugin", overrides=("training_batch",))
    plugin_env.add(
        "helios-two", "two", class_name="TwoPlugin", overrides=("training_batch", "testing_batch")
    )
    plugin_env.add("helios-three", "three", class_name="ThreePlugin", overrides=("testing_batch",))
    plugin_env.add("helios-gpu", "gpu", overrides=("testing_batch",), device='accelerator = "cuda"')
    plugin_env.activate()
    only = Settings(only=frozenset({"one", "two", "three", "gpu"}))
    report = build_report(settings=only, device=NO_GPU)
    assert [report[i].reason for i in ("one", "two", "three")] == [Reason.READY] * 3
    assert report["gpu"].reason is Reason.DEVICE_NO_CUDA_BUILD  # not applicable: no conflict
    assert report.conflicts == (
        Conflict("testing_batch", ("three", "two")),
        Conflict("training_batch", ("one", "two")),
    )
    assert report.conflicts[0].render() == (
        "'three' and 'two' both claim the unique override testing_batch: each works alone, but "
        "they cannot be selected together (in one Trainer, load_plugins or 'helios plugins "
        "check' call)"
    )
    three = Conflict("training_batch", ("a", "b", "c")).render()
    assert three.startswith("'a', 'b' and 'c' all claim the unique override training_batch: ")
    assert "but no two of them can be selected together" in three
    # In a selection, the conflict is the verdict (and not a note).
    selected = build_report(["one", "two"], settings=NONE, device=NO_GPU)
    assert [v.reason for v in selected.verdicts] == [Reason.CONFLICT, Reason.CONFLICT]
    assert selected.conflicts == ()


def test_incompatible_core_names_requirement_found_and_fix(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-future", "future", core_range=">=0.2,<0.3")
    plugin_env.activate()
    verdict = build_report(settings=NONE)["future"]
    assert verdict.reason is Reason.INCOMPATIBLE_CORE
    assert verdict.kind is Kind.INCOMPATIBLE
    assert verdict.message == "requires helios-trainer<0.3,>=0.2, found helios-trainer 0.1.0"
    assert verdict.fix == (
        "pip install 'helios-trainer<0.3,>=0.2', or install a release of helios-future made "
        "for this core: pip install -U helios-future"
    )


def test_missing_and_too_old_packages(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-needy", "needy", packages=("surely-not-installed-pkg>=1.0",))
    plugin_env.add("helios-old", "old", packages=("packaging>=999",))
    plugin_env.activate()
    report = build_report(settings=NONE)
    needy, old = report["needy"], report["old"]
    assert needy.reason is Reason.MISSING_PACKAGE
    assert needy.message == (
        "requires surely-not-installed-pkg>=1.0, found surely-not-installed-pkg not installed"
    )
    assert needy.fix == "pip install 'surely-not-installed-pkg>=1.0'"
    assert old.reason is Reason.INCOMPATIBLE_PACKAGE
    from importlib.metadata import version

    assert old.message == f"requires packaging>=999, found packaging {version('packaging')}"


def test_missing_gpu_is_not_applicable_before_import(plugin_env: PluginEnv, tmp_path: Path) -> None:
    marker = tmp_path / "gpu.marker"
    plugin_env.add("helios-gpu", "gpu", device=CUDA_DEVICE, init_source=marker_init(marker))
    plugin_env.activate()

    verdict = build_report(settings=NONE, device=NO_GPU)["gpu"]
    assert verdict.reason is Reason.DEVICE_NO_CUDA_BUILD
    assert verdict.kind is Kind.NOT_APPLICABLE
    assert verdict.message == "needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)"
    cuda_build_no_gpu = DeviceInfo(
        torch_version="2.5.1+cu121",
        torch_cuda="12.1",
        driver=None,
        driver_cuda=None,
        gpus=(),
        source="fake (test)",
        note="libnvidia-ml.so.1 not found: no NVIDIA driver",
    )
    verdict = build_report(settings=NONE, device=cuda_build_no_gpu)["gpu"]
    assert verdict.reason is Reason.DEVICE_NO_GPU
    assert verdict.message == (
        "needs 1 visible NVIDIA GPU, found 0 visible GPU(s) "
        "(libnvidia-ml.so.1 not found: no NVIDIA driver)"
    )
    with pytest.raises(PluginNotApplicableError, match="needs 1 visible NVIDIA GPU"):
        load_plugins(["gpu"], settings=NONE, device=cuda_build_no_gpu)
    assert not marker.exists()


def test_fake_gpu_machine_satisfies_device_requirements(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-gpu", "gpu", device=CUDA_DEVICE)
    plugin_env.add("helios-two-gpus", "twogpus", device=CUDA_DEVICE + "\nmin-devices = 2")
    plugin_env.add("helios-cuda13", "cuda13", device='accelerator = "cuda"\ncuda = ">=13"')
    plugin_env.activate()
    report = build_report(settings=NONE, device=FAKE_GPU_MACHINE)
    assert report["gpu"].reason is Reason.READY
    assert report["twogpus"].reason is Reason.DEVICE_COMPUTE_CAPABILITY
    assert report["twogpus"].message == (
        "needs 2 GPUs with compute capability >=8.0, found 1 among: Fake A100 (8.0), Fake T4 (7.5)"
    )
    assert report["cuda13"].reason is Reason.DEVICE_CUDA_VERSION
    assert report["cuda13"].message == (
        "needs torch built with CUDA>=13, found CUDA 12.1 (torch 2.5.1+cu121)"
    )


def test_import_that_raises_is_broken_and_others_are_unaffected(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-crash", "crash", init_source="raise ImportError('missing native lib')\n")
    plugin_env.add("helios-fine", "fine", class_name="FinePlugin")
    plugin_env.activate()
    report = build_report(settings=NONE, load=True)
    crash = report["crash"]
    assert crash.reason is Reason.IMPORT_FAILED
    assert crash.kind is Kind.BROKEN
    assert "ImportError: missing native lib at " in crash.message
    assert crash.message.startswith("importing helios_crash.plugin:FixturePlugin raised")
    assert report["fine"].reason is Reason.LOADED
    with pytest.raises(PluginBrokenError, match="missing native lib"):
        load_plugins(["crash"], settings=NONE)


def test_broken_error_says_the_import_ran(plugin_env: PluginEnv, tmp_path: Path) -> None:
    marker = tmp_path / "ran.marker"
    crash = f"open({str(marker)!r}, 'w').close()\nraise ImportError('missing native lib')\n"
    plugin_env.add("helios-crash", "crash", init_source=crash)
    plugin_env.add("helios-fine", "fine", class_name="FinePlugin")
    plugin_env.add("helios-v", "v", module_source="class FixturePlugin:\n    plugin_id = 'v'\n")
    plugin_env.activate()
    with pytest.raises(PluginBrokenError) as caught:
        load_plugins(["crash"], settings=NONE)
    assert marker.exists()  # the import did run
    (verdict,) = caught.value.verdicts
    assert str(caught.value) == (
        "plug-in broken: its checks passed and its import ran, but importing or verifying it "
        f"failed:\n  - {verdict.render()}"
    )
    init = plugin_env.site / "helios_crash" / "__init__.py"  # the raise is its line 2
    assert verdict.render() == (
        "crash (helios-crash 0.1.0): import-failed: importing helios_crash.plugin:FixturePlugin "
        f"raised ImportError: missing native lib at {init}:2 Fix: fix {init}:2 in helios-crash, "
        "or reinstall it (pip install --force-reinstall helios-crash); the installed manifest "
        "passed its checks"
    )
    with pytest.raises(PluginBrokenError) as caught:
        load_plugins(["fine", "v", "crash"], settings=NONE)
    assert str(caught.value) == (
        "2 plug-ins broken: their checks passed and their imports ran, but importing or "
        "verifying them failed:\n" + "\n".join(f"  - {v.render()}" for v in caught.value.verdicts)
    )
    assert sorted(v.reason for v in caught.value.verdicts) == [
        Reason.IMPORT_FAILED,
        Reason.NOT_A_PLUGIN,
    ]
    assert "nothing was imported" not in str(caught.value)
    assert PLUGIN_REGISTRY.get("FinePlugin").plugin_id == "fine"  # it loaded, and stays


@pytest.mark.parametrize(
    ("source", "reason", "message"),
    [
        (
            "class FixturePlugin:\n    plugin_id = 'v'\n",
            Reason.NOT_A_PLUGIN,
            "helios_v.plugin:FixturePlugin does not subclass helios.plugins.Plugin",
        ),
        (
            "from helios.plugins import Plugin\nclass FixturePlugin(Plugin):\n    plugin_id = 'v'\n",
            Reason.NOT_A_PLUGIN,
            "helios_v.plugin:FixturePlugin is abstract: it does not implement setup",
        ),
        (
            "from helios.plugins import Plugin\nclass FixturePlugin(Plugin):\n"
            "    plugin_id = 'other'\n    def setup(self): pass\n",
            Reason.ID_MISMATCH,
            "helios_v.plugin:FixturePlugin.plugin_id is 'other' but the manifest's id is 'v'",
        ),
        (
            "from helios.plugins import Plugin\nclass FixturePlugin(Plugin):\n"
            "    plugin_id = 'v'\n    def setup(self): pass\n"
            "    def process_training_batch(self, batch, state): return batch\n",
            Reason.OVERRIDES_MISMATCH,
            "FixturePlugin overrides process_training_batch without claiming training_batch",
        ),
        (
            "from helios.plugins import Plugin, UniquePluginOverrides as U\n"
            "class FixturePlugin(Plugin):\n    plugin_id = 'v'\n"
            "    declared_overrides = U(testing_batch=True)\n    def setup(self): pass\n",
            Reason.OVERRIDES_MISMATCH,
            "FixturePlugin.declared_overrides claims testing_batch but the manifest's "
            "[overrides] claims none",
        ),
    ],
)
def test_class_verification(
    plugin_env: PluginEnv, source: str, reason: Reason, message: str
) -> None:
    plugin_env.add("helios-v", "v", module_source=source)
    plugin_env.activate()
    with pytest.raises(PluginBrokenError) as caught:
        load_plugins(["v"], settings=NONE)
    (verdict,) = caught.value.verdicts
    assert verdict.reason is reason
    assert verdict.message == message


def test_manifest_problems(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-nomanifest", "nomanifest", manifest="")
    plugin_env.add("helios-badmanifest", "bad", manifest='manifest-version = 1\nid = "Bad"\n')
    plugin_env.add(
        "helios-wrongentry",
        "wrongentry",
        entry_points={"renamed": "helios_wrongentry.plugin:FixturePlugin"},
    )
    plugin_env.add("helios-nodep", "nodep", requires=())
    plugin_env.activate()
    report = build_report(settings=NONE)
    assert report["nomanifest"].reason is Reason.MANIFEST_MISSING
    assert report["bad"].reason is Reason.MANIFEST_INVALID
    assert "[id] expected a lowercase identifier" in report["bad"].message
    assert report["bad"].fix.startswith("helios plugins validate ")
    assert report["renamed"].reason is Reason.ENTRY_POINT_MISMATCH  # listed by its entry name
    renamed = report["renamed"]
    site = plugin_env.site
    assert (renamed.message, renamed.fix) == (
        "the entry point 'renamed = helios_wrongentry.plugin:FixturePlugin' "
        f"({site}/helios_wrongentry-0.1.0.dist-info) does not match the manifest's "
        "id = 'wrongentry', class = 'helios_wrongentry.plugin:FixturePlugin' "
        f"({site}/helios_wrongentry/helios-plugin.toml)",
        # the installed class says plugin_id = 'wrongentry': the entry point is the odd one out
        "the class's plugin_id is 'wrongentry', as the manifest says: name the entry point "
        "'wrongentry' in [project.entry-points.\"helios.plugins\"] in pyproject.toml, then "
        "rebuild and reinstall the plug-in",
    )
    nodep = report["nodep"]
    assert (nodep.found, nodep.fix) == (
        "no dependency on helios-trainer",
        "make [project].dependencies in pyproject.toml say 'helios-trainer<0.2,>=0.1', then "
        "rebuild and reinstall the plug-in (one 'helios-trainer' line, the manifest's range)",
    )


def test_editable_install_is_discovered(plugin_env: PluginEnv) -> None:
    dist = plugin_env.add("helios-editable", "editable", class_name="EditablePlugin", editable=True)
    plugin_env.activate()
    verdict = build_report(settings=NONE)["editable"]
    assert verdict.reason is Reason.READY
    assert verdict.manifest == str(dist.package_dir / "helios-plugin.toml")
    assert load_plugins(["editable"], settings=NONE)["editable"].__name__ == "EditablePlugin"


def test_only_and_disable(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-a", "a", class_name="APlugin")
    plugin_env.add("helios-b", "b", class_name="BPlugin")
    plugin_env.activate()
    settings = Settings.from_env({"HELIOS_PLUGINS_ONLY": "a, ghost", "HELIOS_PLUGINS_DISABLE": "a"})
    report = build_report(["a", "b"], settings=settings)
    assert report["a"].reason is Reason.DISABLED
    assert report["b"].reason is Reason.NOT_SELECTED
    assert report.warnings == (
        "HELIOS_PLUGINS_ONLY names 'ghost', which no installed plug-in provides",
    )
    with pytest.raises(PluginNotApplicableError, match="disabled by HELIOS_PLUGINS_DISABLE"):
        load_plugins(["a"], settings=settings)


def test_unknown_ids_and_classes_name_the_distribution_to_install(
    plugin_env: PluginEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helios.plugins._host import first_party

    # A project plug-in that is not installed anywhere (helios-cuda may be, in some sessions).
    ghost = first_party.FirstParty(
        "ghost", "helios-ghost", "GhostPlugin", "helios_ghost", "Ghost", "nothing", "helios.plugins"
    )
    monkeypatch.setattr(first_party, "FIRST_PARTY", (*first_party.FIRST_PARTY, ghost))
    plugin_env.activate()
    with pytest.raises(PluginNotInstalledError) as caught:
        load_plugins(["ghost"], settings=NONE)
    assert str(caught.value).startswith(
        "no installed distribution provides the plug-in 'ghost' (installed: "
    )
    assert str(caught.value).endswith("). Fix: pip install helios-ghost")
    with pytest.raises(
        PluginNotInstalledError,
        match=re.escape(
            "the plug-in class 'GhostPlugin' comes with the distribution helios-ghost, which "
            "is not installed. Fix: pip install helios-ghost"
        ),
    ):
        create_plugin("GhostPlugin", None, "accuracy")
    with pytest.raises(PluginNotInstalledError, match="no plug-in class named 'Nobody'"):
        create_plugin("Nobody")


@pytest.mark.skipif(
    importlib.util.find_spec("helios_cuda") is not None, reason="helios-cuda is installed here"
)
def test_the_seed_names_of_absent_plugins_say_what_to_install(plugin_env: PluginEnv) -> None:
    import helios.plugins as hlp

    plugin_env.activate()
    with pytest.raises(PluginNotInstalledError, match="pip install helios-cuda"):
        hlp.CUDAPlugin  # noqa: B018
    with pytest.raises(PluginNotInstalledError, match="pip install helios-cuda"):
        load_plugins(["cuda"], settings=NONE)


def test_duplicate_ids_across_distributions(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-dup-a", "dup", package="dup_a")
    plugin_env.add("helios-dup-b", "dup", package="dup_b")
    plugin_env.activate()
    report = build_report(settings=NONE)
    dups = [v for v in report.verdicts if v.id == "dup"]
    assert [v.reason for v in dups] == [Reason.DUPLICATE_ID, Reason.DUPLICATE_ID]
    assert {v.fix for v in dups} == {
        "uninstall all but one: pip uninstall helios-dup-b",
        "uninstall all but one: pip uninstall helios-dup-a",
    }


def test_prerelease_policy(plugin_env: PluginEnv) -> None:
    from packaging.specifiers import SpecifierSet

    from helios.plugins._host.checks import admits

    assert admits(SpecifierSet(">=0.1,<0.2"), "0.1.1rc1")
    assert not admits(SpecifierSet(">=0.1,<0.2"), "0.2.0rc1")
    assert not admits(SpecifierSet(">=0.1"), "not-a-version")


def test_incompatible_python(plugin_env: PluginEnv) -> None:
    from support.distfactory import manifest_text

    text = manifest_text("oldpy", "helios_oldpy.plugin:FixturePlugin").replace(
        "[requires]\n", '[requires]\npython = "<3.0"\n'
    )
    plugin_env.add("helios-oldpy", "oldpy", manifest=text)
    plugin_env.activate()
    verdict = build_report(settings=NONE)["oldpy"]
    version = "{}.{}.{}".format(*sys.version_info[:3])
    assert verdict.reason is Reason.INCOMPATIBLE_PYTHON
    assert verdict.message == f"requires Python<3.0, found Python {version}"
    assert verdict.fix == "run it with a Python that satisfies <3.0"


def test_import_failed_for_a_class_the_module_lacks_points_at_the_manifest(
    plugin_env: PluginEnv,
) -> None:
    """No frame of the plug-in raised: the message points at the manifest's class line, never
    at helios's own loader."""
    source = "from helios.plugins import Plugin\n\nclass FixturePlugin(Plugin):\n    plugin_id = 'gone'\n"
    plugin_env.add("helios-gone", "gone", class_name="Missing", module_source=source)
    plugin_env.activate()
    with pytest.raises(PluginBrokenError) as caught:
        load_plugins(["gone"], settings=NONE)
    (verdict,) = caught.value.verdicts
    manifest = plugin_env.site / "helios_gone" / "helios-plugin.toml"
    assert (verdict.reason, verdict.message) == (
        Reason.IMPORT_FAILED,
        "importing helios_gone.plugin:Missing raised AttributeError: module "
        f"'helios_gone.plugin' has no attribute 'Missing' (the manifest's class, {manifest}:3)",
    )
    assert verdict.fix == (
        f"point class in {manifest}:3 at the plug-in class, or reinstall the plug-in (pip "
        "install --force-reinstall helios-gone); the installed manifest passed its checks"
    )
    assert "verify.py" not in verdict.render()

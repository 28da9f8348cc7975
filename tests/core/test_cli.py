"""``helios plugins`` in a fresh interpreter: output, exit codes, and what it imports."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.plugin_env import PluginEnv

HEAVY = ("torch", "numpy", "optuna")
FAKE_GPU = json.dumps({"torch_cuda": "12.1", "gpus": ["8.0"], "driver": "550.54.15"})
NO_CUDA_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})


@pytest.fixture
def installed(plugin_env: PluginEnv, tmp_path: Path) -> PluginEnv:
    """A good plug-in, a CUDA plug-in, and a trap whose __init__ leaves a marker and raises."""
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    plugin_env.add(
        "helios-gpu",
        "gpu",
        class_name="GpuPlugin",
        overrides=("training_batch",),
        device='accelerator = "cuda"',
    )
    trap = f"open({str(tmp_path / 'marker')!r}, 'w').close()\nraise RuntimeError('trap')\n"
    plugin_env.add("helios-trap", "trap", init_source=trap, packages=("surely-absent>=1",))
    return plugin_env


def _environment_plugin_ids(env: PluginEnv) -> list[str]:
    """The ids of the plug-ins installed in this environment itself, not by the fixture."""
    fixture = {d.plugin_id for d in env.dists}
    found = importlib.metadata.entry_points(group="helios.plugins")
    return sorted({ep.name for ep in found} - fixture)


def _plugin_modules(env: PluginEnv, modules: list[str]) -> list[str]:
    packages = {d.package for d in env.dists}
    return [m for m in modules if m.partition(".")[0] in packages or m.partition(".")[0] in HEAVY]


@pytest.mark.parametrize("action", [["list"], ["check"], ["check", "good", "gpu", "trap"]])
def test_list_and_check_import_neither_torch_nor_plugins(
    installed: PluginEnv, tmp_path: Path, action: list[str]
) -> None:
    code, out, err, modules = installed.cli("plugins", *action, "--json")
    assert err == ""
    assert modules, "the bootstrap did not report sys.modules"
    assert _plugin_modules(installed, modules) == []
    assert not (tmp_path / "marker").exists()
    report = json.loads(out)
    reasons = {p["id"]: p["reason"] for p in report["plugins"]}
    assert reasons["trap"] == "missing-package"
    assert reasons["good"] == "ready"
    assert code == (0 if action == ["list"] else 1)


def test_json_report_shape(installed: PluginEnv) -> None:
    code, out, _, _ = installed.cli(
        "plugins", "list", "--json", env={"HELIOS_FAKE_DEVICE": NO_CUDA_BUILD}
    )
    assert code == 0
    report = json.loads(out)
    assert report["core"] == {"distribution": "helios-trainer", "version": "0.1.0"}
    gpu = next(p for p in report["plugins"] if p["id"] == "gpu")
    assert gpu == {
        "id": "gpu",
        "distribution": "helios-gpu",
        "version": "0.1.0",
        "reason": "device-no-cuda-build",
        "kind": "not-applicable",
        "message": "needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)",
        "required": "a CUDA build of torch",
        "found": "torch 2.13.0+cpu (CPU build)",
        "fix": "install a CUDA build of torch (pip install torch --index-url "
        "https://download.pytorch.org/whl/cu124, see https://pytorch.org/get-started/)",
        "manifest": str(installed.dists[1].package_dir / "helios-plugin.toml"),
        "dist_info": str(installed.dists[1].dist_info),
        "summary": "fixture plug-in gpu",
        "overrides": ["training_batch"],
    }


def test_check_exit_codes(installed: PluginEnv) -> None:
    no_gpu = {"HELIOS_FAKE_DEVICE": NO_CUDA_BUILD}
    assert installed.cli("plugins", "check", "good", env=no_gpu)[0] == 0
    # Named explicitly, a plug-in that does not apply here fails the check ...
    code, out, _, _ = installed.cli("plugins", "check", "gpu", env=no_gpu)
    assert code == 1
    assert "gpu: needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)" in out
    # ... and passes on a (fake) GPU machine.
    assert installed.cli("plugins", "check", "gpu", env={"HELIOS_FAKE_DEVICE": FAKE_GPU})[0] == 0
    # Unnamed, not-applicable is fine but incompatible is not; --disable removes the trap.
    assert installed.cli("plugins", "check", env=no_gpu)[0] == 1
    # (the environment's own plug-ins, if any, need a newer core than the fixture's 0.1.0)
    disable = ",".join(["trap", *_environment_plugin_ids(installed)])
    assert installed.cli("plugins", "check", "--disable", disable, env=no_gpu)[0] == 0
    assert installed.cli("plugins", "list", "--strict", env=no_gpu)[0] == 1


def test_check_import_loads_and_verifies(installed: PluginEnv) -> None:
    code, out, _, modules = installed.cli("plugins", "check", "good", "--import", "--json")
    assert code == 0
    assert json.loads(out)["plugins"][0]["reason"] == "loaded"
    assert "helios_good.plugin" in modules


def test_table_output(installed: PluginEnv) -> None:
    code, out, _, _ = installed.cli("plugins", "list", env={"HELIOS_FAKE_DEVICE": NO_CUDA_BUILD})
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("helios-trainer 0.1.0 · Python ")
    assert lines[1].startswith("device: torch 2.13.0+cpu (CPU build)")
    header = next(line for line in lines if line.startswith("ID"))
    assert header.split() == ["ID", "DISTRIBUTION", "STATUS", "REASON"]
    assert any(line.split()[:4] == ["good", "helios-good", "0.1.0", "ok"] for line in lines)
    assert any(
        line.split()[:5] == ["gpu", "helios-gpu", "0.1.0", "not", "applicable"] for line in lines
    )
    assert "  fix: pip install 'surely-absent>=1'" in lines


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {"HELIOS_PLUGINS_ONLY": ","}),
        (("--only", ","), {}),
        (("--only", " , "), {"HELIOS_PLUGINS_ONLY": " "}),
    ],
)
def test_an_only_selection_naming_no_id_selects_everything(
    plugin_env: PluginEnv, args: tuple[str, ...], env: dict[str, str]
) -> None:
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    code, out, err, _ = plugin_env.cli("plugins", "check", "good", "--json", *args, env=env)
    assert (code, err) == (0, "")
    assert [p["reason"] for p in json.loads(out)["plugins"]] == ["ready"]


def test_bad_environment_setting_is_a_clear_error(installed: PluginEnv) -> None:
    code, out, err, _ = installed.cli("plugins", "list", env={"HELIOS_PLUGINS_STRICT": "maybe"})
    assert code == 1
    assert out == ""
    assert err.strip() == (
        "helios: error: HELIOS_PLUGINS_STRICT must be one of 1/true/yes/on or 0/false/no/off, "
        "found 'maybe'; unset it or set HELIOS_PLUGINS_STRICT=1"
    )


def test_python_dash_m_helios() -> None:
    import helios

    src = str(Path(helios.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "helios", "--version"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("helios-trainer ")


@pytest.fixture
def rivals(plugin_env: PluginEnv) -> PluginEnv:
    """Two plug-ins that claim training_batch, and one that claims nothing."""
    plugin_env.add("helios-one", "one", class_name="OnePlugin", overrides=("training_batch",))
    plugin_env.add("helios-two", "two", class_name="TwoPlugin", overrides=("training_batch",))
    plugin_env.add("helios-good", "good", class_name="GoodPlugin")
    return plugin_env


ONLY_RIVALS = ("--only", "one,two,good")  # leaves out the plug-ins installed in this venv
RIVALS_NOTE = (
    "note: 'one' and 'two' both claim the unique override training_batch: each works alone, but "
    "they cannot be selected together (in one Trainer, load_plugins or 'helios plugins check' "
    "call)"
)


@pytest.mark.parametrize("action", ["list", "check"])
def test_installed_plugins_that_cannot_be_selected_together_are_a_note(
    rivals: PluginEnv, action: str
) -> None:
    code, out, err, _ = rivals.cli("plugins", action, *ONLY_RIVALS)
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split()[3:] for line in out.splitlines() if " helios-" in line}
    assert rows["one"] == rows["two"] == rows["good"] == ["ok", "ready"]  # their own verdicts
    assert out.splitlines()[-2:] == ["", RIVALS_NOTE]
    assert "HELIOS_PLUGINS_DISABLE" not in out
    # Strict mode fails on warnings and incompatible plug-ins, not on a note.
    assert rivals.cli("plugins", action, "--strict", *ONLY_RIVALS)[0] == 0


def test_the_json_report_lists_the_conflicts(rivals: PluginEnv) -> None:
    code, out, _, _ = rivals.cli("plugins", "list", "--json", *ONLY_RIVALS)
    assert code == 0
    report = json.loads(out)
    assert report["conflicts"] == [{"override": "training_batch", "ids": ["one", "two"]}]
    reasons = {p["id"]: p["reason"] for p in report["plugins"]}
    assert [reasons["one"], reasons["two"], reasons["good"]] == ["ready"] * 3


def test_checking_the_two_together_fails_and_the_fix_selects_one(rivals: PluginEnv) -> None:
    code, out, _, _ = rivals.cli("plugins", "check", "one", "two", "good")
    assert code == 1
    fix = (
        "leave the others out of the ids given (Trainer(plugins=[...]), load_plugins([...]), "
        "helios plugins check ID...)"
    )
    assert out.splitlines()[-4:] == [
        "one: unique override conflict: 'one' and 'two' both claim training_batch",
        f"  fix: select only one of 'one', 'two': {fix}",
        "two: unique override conflict: 'two' and 'one' both claim training_batch",
        f"  fix: select only one of 'two', 'one': {fix}",
    ]
    assert "note:" not in out  # in a selection the conflict is a verdict, not a note
    report = json.loads(rivals.cli("plugins", "check", "one", "two", "--json")[1])
    assert report["conflicts"] == []
    assert [p["reason"] for p in report["plugins"]] == ["conflict", "conflict"]
    # Each of them alone, and with the other plug-in, passes.
    assert rivals.cli("plugins", "check", "one", "good")[0] == 0
    assert rivals.cli("plugins", "check", "two", "good")[0] == 0

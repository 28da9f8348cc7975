"""``helios plugins check --core/--python/--device``: installed manifests judged against a
hypothetical environment, changing nothing and importing no plug-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helios.cli import main
from helios.plugins._host.checks import python_version
from helios.plugins._host.requirements import parse_requirement
from helios.plugins._host.whatif import WhatIf, parse_core_version, parse_python_version
from support.distfactory import manifest_text
from support.plugin_env import PluginEnv

HEAVY = ("torch", "numpy", "optuna")
FAKE_GPU = json.dumps({"torch_cuda": "12.1", "gpus": ["8.0"], "driver": "550.54.15"})
NO_CUDA_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})
PY_RANGE = ">=3.10,<3.13"
MARKED = "surely-absent>=1; python_version >= '3.13'"


def _python_manifest(plugin_id: str, package: str) -> str:
    """A manifest needing Python 3.10-3.12, and a package only on Python 3.13 and later."""
    text = manifest_text(plugin_id, f"{package}.plugin:FixturePlugin", packages=(MARKED,))
    return text.replace("[requires]\n", f'[requires]\npython = "{PY_RANGE}"\n')


@pytest.fixture
def installed(plugin_env: PluginEnv) -> PluginEnv:
    """helios-trainer 0.1.0 with three plug-ins for >=0.1,<0.2: a plain one, one for CUDA and
    one for Python 3.10-3.12 (with a package required only from Python 3.13 on)."""
    plugin_env.add("helios-good", "good", class_name="FixturePlugin")
    plugin_env.add("helios-gpu", "gpu", device='accelerator = "cuda"')
    plugin_env.add("helios-py", "py", manifest=_python_manifest("py", "helios_py"))
    plugin_env.activate()
    return plugin_env


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plugins", "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_core_what_if(installed: PluginEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, "good", "--core", "0.2.0")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "what if: helios-trainer 0.2.0 (nothing was installed or changed)"
    assert lines[1] == f"helios-trainer 0.1.0 · Python {python_version()}"  # the real one
    assert "good: requires helios-trainer<0.2,>=0.1, found helios-trainer 0.2.0" in lines
    # A core inside the range passes; without --core, the installed 0.1.0 is judged.
    assert check(capsys, "good", "--core", "0.1.9")[0] == 0
    code, out, _ = check(capsys, "good")
    assert code == 0
    assert not out.startswith("what if")
    # Nothing changed: the installed core is still 0.1.0.
    assert (installed.site / "helios_trainer-0.1.0.dist-info").is_dir()


def test_core_what_if_judges_every_installed_plugin_with_the_usual_exit_code(
    installed: PluginEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check(capsys, "--core", "0.2.0", "--device", FAKE_GPU, "--json")
    assert code == 1
    reasons = {p["id"]: p["reason"] for p in json.loads(out)["plugins"]}
    assert {reasons[i] for i in ("good", "gpu", "py")} == {"incompatible-core"}


def test_python_what_if(installed: PluginEnv, capsys: pytest.CaptureFixture[str]) -> None:
    running = python_version()
    code, out, err = check(capsys, "py", "--python", "3.13")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "what if: Python 3.13 (nothing was installed or changed)"
    assert "py: requires Python<3.13,>=3.10, found Python 3.13" in lines
    assert "  fix: run it with a Python that satisfies <3.13,>=3.10" in lines
    assert lines[1] == f"helios-trainer 0.1.0 · Python {running}"
    assert check(capsys, "py", "--python", "3.12.1")[0] == 0
    assert check(capsys, "py", "--python", "3.9")[0] == 1


def test_python_what_if_evaluates_package_markers_for_that_python(
    plugin_env: PluginEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = manifest_text("mark", "helios_mark.plugin:FixturePlugin", packages=(MARKED,))
    plugin_env.add("helios-mark", "mark", manifest=manifest)
    plugin_env.activate()
    # On this Python the marker holds only from 3.13 on.
    here = python_version().split(".")[:2] >= ["3", "13"]
    assert check(capsys, "mark")[0] == (1 if here else 0)
    code, out, _ = check(capsys, "mark", "--python", "3.13", "--json")
    assert code == 1
    (verdict,) = json.loads(out)["plugins"]
    assert verdict["reason"] == "missing-package"
    assert verdict["message"] == (
        'requires surely-absent>=1; python_version >= "3.13", found surely-absent not installed'
    )
    assert check(capsys, "mark", "--python", "3.12")[0] == 0


def test_marker_environment_replaces_the_python_only() -> None:
    req = parse_requirement("x>=1; python_version >= '3.13' and python_full_version < '3.13.2'")
    assert req.applies(WhatIf(python="3.13").marker_environment())
    assert req.applies(WhatIf(python="3.13.1").marker_environment())
    assert not req.applies(WhatIf(python="3.13.2").marker_environment())
    assert not req.applies(WhatIf(python="3.12.9").marker_environment())
    assert WhatIf().marker_environment() == {}


def test_device_what_if(installed: PluginEnv, capsys: pytest.CaptureFixture[str]) -> None:
    # This machine (made CPU-only by HELIOS_FAKE_DEVICE) cannot run it ...
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELIOS_FAKE_DEVICE", NO_CUDA_BUILD)
        assert check(capsys, "gpu")[0] == 1
        # ... a GPU box given by --device can (the option wins over the variable).
        code, out, err = check(capsys, "gpu", "--device", FAKE_GPU)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "what if: the device given by --device (nothing was installed or changed)"
    assert lines[2].startswith("device: torch ")
    assert lines[2].endswith("(CUDA 12.1); NVIDIA driver 550.54.15; Fake GPU (8.0)")
    code, out, _ = check(capsys, "gpu", "--device", NO_CUDA_BUILD, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["plugins"][0]["reason"] == "device-no-cuda-build"
    assert report["device"]["source"] == "what if (--device)"
    assert report["device"]["note"] == "--device lists no GPU"


def test_json_what_if(installed: PluginEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, "good", "py", "--core", "0.1.5", "--python", "3.13", "--json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["what_if"] == {"core": "0.1.5", "python": "3.13", "device": False, "wheels": []}
    # The report's own environment is the real one; the verdicts judge the what-if.
    assert report["core"] == {"distribution": "helios-trainer", "version": "0.1.0"}
    assert report["python"] == python_version()
    assert {p["id"]: p["reason"] for p in report["plugins"]} == {
        "good": "ready",
        "py": "incompatible-python",
    }
    # A plain report has no what_if key: its shape is unchanged.
    assert "what_if" not in json.loads(check(capsys, "good", "--json")[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--core", "abc"),
            "--core: expected a helios-trainer version (PEP 440) such as 0.4.0 or 0.4.0rc1, "
            "found 'abc'",
        ),
        (
            ("--core", "1.0\x1b[31m"),
            "--core: expected a helios-trainer version (PEP 440) such as 0.4.0 or 0.4.0rc1, "
            "found '1.0\\x1b[31m'",
        ),
        (
            ("--core", "1" * 65),
            "--core: expected a version of at most 64 characters such as 0.4.0, found 65 "
            f"characters ('{'1' * 65}')",
        ),
        (
            ("--python", "3"),
            "--python: expected a Python version such as 3.13 or 3.12.1, found '3'",
        ),
        (
            ("--python", "three.13"),
            "--python: expected a Python version such as 3.13 or 3.12.1, found 'three.13'",
        ),
        (
            ("--device", "[1]"),
            "--device: expected a JSON object, found array [1]. A good value: --device "
            '\'{"torch_cuda": "12.1", "gpus": ["8.0", "8.6"], "driver": "550.54.15", '
            '"driver_cuda": "12.4", "torch_version": "2.5.1+cu121"}\'',
        ),
        (
            ("--core", "0.2", "--import"),
            "--import cannot be combined with --core, --python, --device or a wheel: a what-if "
            "is judged from manifests and imports nothing; drop --import",
        ),
    ],
)
def test_bad_what_if_values_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert check(capsys, *args) == (2, "", f"helios: error: {message}\n")


def test_good_versions_are_kept_as_given() -> None:
    assert parse_core_version(" 0.4.0rc1 ") == "0.4.0rc1"
    assert [parse_python_version(v) for v in ("3.13", "3.12.1", "3.14.0rc1")] == [
        "3.13",
        "3.12.1",
        "3.14.0rc1",
    ]


def test_a_what_if_imports_neither_torch_nor_plugins(installed: PluginEnv, tmp_path: Path) -> None:
    trap = f"open({str(tmp_path / 'marker')!r}, 'w').close()\nraise RuntimeError('trap')\n"
    installed.add("helios-trap", "trap", init_source=trap)
    code, out, err, modules = installed.cli(
        "plugins", "check", "good", "gpu", "py", "trap", "--core", "0.1.2", "--python", "3.12",
        "--device", FAKE_GPU, "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert modules, "the bootstrap did not report sys.modules"
    packages = {d.package for d in installed.dists}
    assert [m for m in modules if m.partition(".")[0] in {*packages, *HEAVY}] == []
    assert not (tmp_path / "marker").exists()
    assert {p["reason"] for p in json.loads(out)["plugins"]} == {"ready"}

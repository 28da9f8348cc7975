"""``helios plugins check --wheel FILE`` (or a wheel among the ids): what an uninstalled
plug-in's manifest says about this machine, read from the zip without installing anything."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from helios.cli import main
from helios.plugins._host.manifest import MAX_MANIFEST_BYTES
from helios.plugins._host.wheel_manifest import MAX_METADATA_BYTES, WheelError, read_wheel
from support.distfactory import manifest_text, plugin_source
from support.plugin_env import PluginEnv

FAKE_GPU = json.dumps({"torch_cuda": "12.1", "gpus": ["8.0"], "driver": "550.54.15"})
NO_CUDA_BUILD = json.dumps({"torch_cuda": None, "torch_version": "2.13.0+cpu", "gpus": []})
MANIFEST = "helios_wheelie/helios-plugin.toml"
CLASS = "helios_wheelie.plugin:WheeliePlugin"


def build_wheel(root: Path, version: str = "0.2.0", device: str = 'accelerator = "cuda"') -> Path:
    """A plug-in project written from scratch and built by hatchling (the real backend)."""
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    project = root / f"wheelie-{version}"
    package = project / "src" / "helios_wheelie"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        "[project]\n"
        f'name = "helios-wheelie"\nversion = "{version}"\n'
        'dependencies = ["helios-trainer>=0.1,<0.2"]\n\n'
        '[project.entry-points."helios.plugins"]\n'
        f'wheelie = "{CLASS}"\n\n'
        "[tool.hatch.build.targets.wheel]\n"
        'packages = ["src/helios_wheelie"]\n',
        encoding="utf-8",
    )
    trap = f"open({str(root / 'imported')!r}, 'w').close()\n"
    (package / "__init__.py").write_text(trap, encoding="utf-8")
    (package / "plugin.py").write_text(plugin_source("WheeliePlugin", "wheelie"), encoding="utf-8")
    (package / "helios-plugin.toml").write_text(
        manifest_text("wheelie", CLASS, device=device), encoding="utf-8"
    )
    out = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob(f"helios_wheelie-{version}-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel for the module (a build costs a second of CPU): helios-wheelie 0.2.0, for
    helios-trainer >=0.1,<0.2, needing CUDA."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plugins", "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def copy_with(
    wheel: Path,
    target: Path,
    drop: str = "",
    add: tuple[zipfile.ZipInfo | str, bytes] | None = None,
) -> Path:
    """A copy of ``wheel`` without the member ``drop``, with the member ``add``."""
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            if item.filename != drop:
                out.writestr(item, source.read(item))
        if add is not None:
            with warnings.catch_warnings():  # a name given twice is what some tests want
                warnings.simplefilter("ignore", UserWarning)
                out.writestr(*add)
    return target


def test_a_wheel_is_judged_without_installing_or_importing(
    plugin_env: PluginEnv, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_env.activate()  # helios-trainer 0.1.0
    code, out, err = check(capsys, str(wheel), "--device", FAKE_GPU)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        f"what if: the device given by --device, {wheel} installed (nothing was installed or "
        "changed)"
    )
    assert lines[-1].split() == ["wheelie", "helios-wheelie", "0.2.0", "ok", "ready"]
    assert not (wheel.parent.parent / "imported").exists()
    assert "helios_wheelie" not in sys.modules
    # On this (CPU-only) machine it would not apply: named, that fails the check.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELIOS_FAKE_DEVICE", NO_CUDA_BUILD)
        code, out, _ = check(capsys, "--wheel", str(wheel))
    assert code == 1
    assert "wheelie: needs a CUDA build of torch, found torch 2.13.0+cpu (CPU build)" in out


def test_wheel_json_with_a_core_what_if(
    plugin_env: PluginEnv, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_env.activate()
    code, out, err = check(capsys, "--wheel", str(wheel), "--core", "0.2.0", "--json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["what_if"] == {
        "core": "0.2.0",
        "python": None,
        "device": False,
        "wheels": [str(wheel)],
    }
    (verdict,) = report["plugins"]
    assert verdict["id"] == "wheelie"
    assert (verdict["distribution"], verdict["version"]) == ("helios-wheelie", "0.2.0")
    assert verdict["reason"] == "incompatible-core"
    assert verdict["message"] == "requires helios-trainer<0.2,>=0.1, found helios-trainer 0.2.0"
    assert verdict["manifest"] == verdict["dist_info"] == str(wheel)


def test_a_wheel_replaces_the_installed_release_of_its_distribution(
    plugin_env: PluginEnv, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked with the installed id, the wheel stands in for the release it would replace;
    another distribution claiming the id stays a duplicate."""
    plugin_env.add("helios-wheelie", "wheelie", version="0.1.0", class_name="WheeliePlugin")
    plugin_env.activate()
    code, out, _ = check(capsys, "wheelie", str(wheel), "--device", FAKE_GPU, "--json")
    assert code == 0
    assert [(p["id"], p["version"]) for p in json.loads(out)["plugins"]] == [("wheelie", "0.2.0")]


def test_a_wheel_claiming_an_installed_id_of_another_distribution_is_a_duplicate(
    plugin_env: PluginEnv, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_env.add("helios-other", "wheelie", class_name="WheeliePlugin")
    plugin_env.activate()
    code, out, _ = check(capsys, "wheelie", str(wheel), "--device", FAKE_GPU, "--json")
    assert code == 1
    reasons = {(p["distribution"], p["reason"]) for p in json.loads(out)["plugins"]}
    assert reasons == {("helios-other", "duplicate-id"), ("helios-wheelie", "duplicate-id")}


def test_an_invalid_manifest_in_a_wheel_is_a_verdict(
    plugin_env: PluginEnv, wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin_env.activate()
    bad = copy_with(wheel, tmp_path / wheel.name, drop=MANIFEST, add=(MANIFEST, b"id = 1\n"))
    code, out, _ = check(capsys, str(bad), "--json")
    assert code == 1
    (verdict,) = json.loads(out)["plugins"]
    assert verdict["reason"] == "manifest-invalid"
    assert verdict["fix"] == f"helios plugins validate {bad}"


def _error(path: Path, text: str) -> str:
    return f"helios: error: '{path}': {text}\n"


def test_not_a_wheel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    named = tmp_path / "plugin.zip"
    named.write_bytes(b"PK")
    assert check(capsys, "--wheel", str(named)) == (
        2,
        "",
        _error(
            named,
            "expected a wheel (a file named *.whl), found another name. Fix: build the "
            "plug-in's wheel (python -m build --wheel) and pass that file",
        ),
    )
    folder = tmp_path / "folder.whl"
    folder.mkdir()
    assert check(capsys, str(folder)) == (
        2,
        "",
        _error(
            folder,
            "expected a wheel file, found not a regular file but a directory; only regular "
            "files are read. Fix: pass the .whl file",
        ),
    )
    missing = tmp_path / "missing.whl"
    assert check(capsys, str(missing)) == (
        2,
        "",
        _error(
            missing,
            "cannot read it (No such file or directory). Fix: check the path; pass a .whl file",
        ),
    )


def test_a_path_with_terminal_escapes_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evil\x1b[31m.whl"
    code, _, err = check(capsys, str(evil))
    assert code == 2
    assert "\x1b" not in err
    assert f"'{tmp_path}/evil\\x1b[31m.whl': cannot read it" in err


def test_a_fifo_named_like_a_wheel_is_never_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.whl"
    os.mkfifo(fifo)
    code, _, err = check(capsys, str(fifo))
    assert code == 2
    assert "found not a regular file but a FIFO (named pipe)" in err


def test_a_corrupt_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.whl"
    corrupt.write_bytes(b"not a zip at all")
    assert check(capsys, str(corrupt)) == (
        2,
        "",
        _error(
            corrupt,
            "a corrupt wheel: not a readable zip file (File is not a zip file). Fix: download "
            "or build the wheel again",
        ),
    )


def test_a_corrupt_member(wheel: Path, tmp_path: Path) -> None:
    """A member whose compressed bytes are damaged is a corrupt wheel, not a traceback."""
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(MANIFEST)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + 8] = b"\xff" * 8
    damaged = tmp_path / wheel.name
    damaged.write_bytes(bytes(data))
    with pytest.raises(WheelError) as caught:
        read_wheel(damaged)
    assert str(caught.value) == (
        f"'{damaged}': a corrupt wheel: the member {MANIFEST} cannot be read (Error -3 while "
        "decompressing data: invalid block type). Fix: download or build the wheel again"
    )


def test_a_wheel_without_its_manifest(
    wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = copy_with(wheel, tmp_path / wheel.name, drop=MANIFEST)
    assert check(capsys, str(bare)) == (
        2,
        "",
        _error(
            bare,
            "no manifest: the wheel has no helios_wheelie/helios-plugin.toml, where installing "
            "it would put the helios-plugin.toml of the package 'helios_wheelie' its entry "
            "point names, so the core would refuse the installed plug-in. Fix: ship "
            "helios-plugin.toml next to helios_wheelie/__init__.py and rebuild; 'helios "
            "plugins validate WHEEL' checks a built wheel",
        ),
    )


def test_a_wheel_that_is_no_plugin(wheel: Path, tmp_path: Path) -> None:
    entry = "helios_wheelie-0.2.0.dist-info/entry_points.txt"
    plain = copy_with(wheel, tmp_path / wheel.name, drop=entry)
    with pytest.raises(WheelError) as caught:
        read_wheel(plain)
    assert str(caught.value) == (
        f"'{plain}': not a plug-in's wheel: its helios_wheelie-0.2.0.dist-info/entry_points.txt "
        "declares no 'helios.plugins' entry point. Fix: pass a plug-in's wheel; a plug-in "
        'declares one in [project.entry-points."helios.plugins"] of its pyproject.toml'
    )


def test_a_linked_manifest_is_refused(wheel: Path, tmp_path: Path) -> None:
    link = zipfile.ZipInfo(MANIFEST)
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    linked = copy_with(wheel, tmp_path / wheel.name, drop=MANIFEST, add=(link, b"/etc/passwd"))
    with pytest.raises(WheelError) as caught:
        read_wheel(linked)
    assert str(caught.value) == (
        f"'{linked}': the member {MANIFEST} is not a regular file (a symbolic link or a "
        "special file); a wheel holds plain files only. Fix: rebuild the wheel with your "
        "build backend"
    )


def test_a_manifest_given_twice_is_refused(wheel: Path, tmp_path: Path) -> None:
    twice = copy_with(wheel, tmp_path / wheel.name, add=(MANIFEST, b"manifest-version = 1\n"))
    with pytest.raises(WheelError) as caught:
        read_wheel(twice)
    assert str(caught.value) == (
        f"'{twice}': the member {MANIFEST} is in the zip 2 times; which one an installer "
        "would keep is not defined. Fix: rebuild the wheel with your build backend"
    )


@pytest.mark.parametrize(
    ("member", "limit"),
    [
        (MANIFEST, MAX_MANIFEST_BYTES),
        ("helios_wheelie-0.2.0.dist-info/METADATA", MAX_METADATA_BYTES),
    ],
)
def test_members_beyond_their_limit_are_refused(
    wheel: Path, tmp_path: Path, member: str, limit: int
) -> None:
    """A compressed member (a zip bomb in small) is refused from its header, never inflated."""
    big = zipfile.ZipInfo(member)
    big.compress_type = zipfile.ZIP_DEFLATED
    bomb = copy_with(wheel, tmp_path / wheel.name, drop=member, add=(big, b"\0" * (limit + 1)))
    assert bomb.stat().st_size < wheel.stat().st_size + 4096  # it is small on disk
    with pytest.raises(WheelError) as caught:
        read_wheel(bomb)
    assert str(caught.value) == (
        f"'{bomb}': the member {member} is larger than {limit:,} bytes. Fix: check that this "
        "is a plug-in's wheel; its metadata and manifest are small files"
    )


def test_a_lying_size_header_is_a_corrupt_wheel(wheel: Path, tmp_path: Path) -> None:
    """A member whose header claims 10 bytes but inflates to more is read no further than the
    claim, and its checksum then fails: a corrupt wheel, not a large read."""
    big = zipfile.ZipInfo(MANIFEST)
    big.compress_type = zipfile.ZIP_DEFLATED
    grown = copy_with(
        wheel, tmp_path / wheel.name, drop=MANIFEST, add=(big, b"#" * (4 * MAX_MANIFEST_BYTES))
    )
    data = bytearray(grown.read_bytes())
    header = data.rfind(MANIFEST.encode()) - 46  # the central directory's record of it
    assert data[header : header + 4] == b"PK\x01\x02"
    data[header + 24 : header + 28] = (10).to_bytes(4, "little")  # its uncompressed size
    lying = tmp_path / ("lying-" + wheel.name)
    lying.write_bytes(bytes(data))
    with pytest.raises(WheelError) as caught:
        read_wheel(lying)
    assert str(caught.value) == (
        f"'{lying}': a corrupt wheel: the member {MANIFEST} cannot be read (Bad CRC-32 for "
        f"file '{MANIFEST}'). Fix: download or build the wheel again"
    )


def test_checking_a_wheel_imports_neither_torch_nor_the_plugin(
    plugin_env: PluginEnv, wheel: Path
) -> None:
    code, out, err, modules = plugin_env.cli(
        "plugins", "check", "--wheel", str(wheel), "--device", FAKE_GPU, "--json"
    )
    assert (code, err) == (0, "")
    assert modules, "the bootstrap did not report sys.modules"
    heavy = [
        m for m in modules if m.partition(".")[0] in ("torch", "numpy", "optuna", "helios_wheelie")
    ]
    assert heavy == []
    assert json.loads(out)["plugins"][0]["reason"] == "ready"

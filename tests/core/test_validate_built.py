"""``helios plugins validate`` of built wheels and sdists: what the backend made, bounded."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from helios.cli import main
from helios.plugins._host.wheel_manifest import WheelError, read_wheel
from helios.plugins.authoring.archive import ArchiveRefused, Limits, unpack
from helios.plugins.authoring.built import validate

REPO = Path(__file__).resolve().parents[2]


def build(tmp_path: Path, edit: tuple[str, str] | None = None) -> tuple[Path, Path]:
    """Wheel and sdist of a copy of plugins/optuna, built by hatchling (its real backend);
    ``edit`` replaces a text in the copy's manifest first."""
    pytest.importorskip("hatchling", reason="the tests session installs hatchling")
    project = tmp_path / "optuna"
    shutil.copytree(
        REPO / "plugins" / "optuna", project, ignore=shutil.ignore_patterns("*.egg-info")
    )
    if edit is not None:
        manifest = project / "src" / "helios_optuna" / "helios-plugin.toml"
        manifest.write_text(manifest.read_text().replace(*edit))
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def without(wheel: Path, member: str) -> Path:
    copy = wheel.with_name("copy-" + wheel.name)
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            if item.filename != member:
                target.writestr(item, source.read(item))
    return copy


def test_built_wheel_and_sdist_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel, sdist = build(tmp_path)
    assert main(["plugins", "validate", str(wheel), str(sdist)]) == 0
    assert capsys.readouterr().out == (
        f"ok: {wheel} (plug-in 'optuna', class helios_optuna.plugin:OptunaPlugin)\n"
        f"ok: {sdist} (plug-in 'optuna', class helios_optuna.plugin:OptunaPlugin)\n"
    )


def test_a_wheel_without_its_manifest_is_caught(tmp_path: Path) -> None:
    wheel, _ = build(tmp_path)
    dropped = without(wheel, "helios_optuna/helios-plugin.toml")
    (problem,) = validate(dropped).problems
    assert (problem.code, problem.file, problem.message) == (
        "manifest-missing",
        str(dropped),
        "the wheel has no helios_optuna/helios-plugin.toml: the build backend left the manifest "
        "out, so the core would refuse the installed plug-in (manifest-missing)",
    )


def test_a_class_typo_in_a_built_manifest_says_fix_the_manifest(tmp_path: Path) -> None:
    wheel, sdist = build(tmp_path, ('OptunaPlugin"', 'OptunaPlugn"'))
    version = wheel.name.split("-")[1]  # helios_optuna-<version>-py3-none-any.whl
    (problem, *_) = validate(wheel).problems
    inside = f"{wheel}!/helios_optuna/helios-plugin.toml"
    assert (problem.code, problem.file) == (
        "entry-point-mismatch",
        f"{wheel}!/helios_optuna-{version}.dist-info/METADATA",
    )
    assert problem.fix == (
        "the entry point's class exists and the manifest's does not: set class = "
        f"'helios_optuna.plugin:OptunaPlugin' in {inside}"
    )
    (from_sdist, *_) = validate(sdist).problems
    assert from_sdist.fix == (
        "the entry point's class exists and the manifest's does not: set class = "
        f"'helios_optuna.plugin:OptunaPlugin' in {sdist}!/helios_optuna-{version}/src/helios_optuna/"
        "helios-plugin.toml"
    )


# ------------------------------------------------------------------ hostile archives
def zip_with(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def tar_with(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            payload = data.get(member.name)
            if payload is not None:
                member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return path


def refused(path: Path, limits: Limits | None = None) -> str:
    with pytest.raises(ArchiveRefused) as caught:
        unpack(path, path.parent / "out", limits or Limits())
    return str(caught.value)


def test_path_traversal_is_refused_and_nothing_escapes(tmp_path: Path) -> None:
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", [("../evil.py", b"x = 1\n")])
    assert refused(wheel) == (
        "the member name '../evil.py' is not a plain relative path (absolute, '..', a "
        "backslash or a NUL): unpacking it could write outside the folder; rebuild the archive "
        "with your build backend"
    )
    assert not (tmp_path / "evil.py").exists()
    sdist = tmp_path / "x-1.0.tar.gz"
    tar_with(sdist, [tarfile.TarInfo("/etc/evil.toml")], {"/etc/evil.toml": b""})
    assert "the member name '/etc/evil.toml' is not a plain relative path" in refused(sdist)
    (problem,) = validate(wheel).problems  # the CLI's route: one finding, the archive named
    assert (problem.code, problem.file) == ("archive-refused", str(wheel))


def test_links_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("x/__init__.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", [(link, b"/etc/passwd")])
    assert refused(wheel) == (
        "the member x/__init__.py is not a regular file (a symbolic link or a special file): a "
        "wheel holds plain files only"
    )
    symlink = tarfile.TarInfo("x-1.0/pyproject.toml")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
    sdist = tar_with(tmp_path / "x-1.0.tar.gz", [symlink], {})
    assert refused(sdist) == (
        "the member x-1.0/pyproject.toml is not a regular file (a link or a special file): an "
        "sdist holds plain files only"
    )


def test_huge_members_are_refused(tmp_path: Path) -> None:
    big = b"\0" * (2 * 1024 * 1024)  # 2 MiB of zeros: a few KB compressed
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", [("x/plugin.py", big)])
    message = (
        "the member x/plugin.py is larger than 1,048,576 bytes, more than a plug-in's source or "
        "metadata file holds; validate the source tree instead"
    )
    assert refused(wheel) == message
    sdist = tar_with(
        tmp_path / "x-1.0.tar.gz", [tarfile.TarInfo("x/plugin.py")], {"x/plugin.py": big}
    )
    assert refused(sdist) == message


def test_compression_bombs_stop_at_the_unpacked_limit(tmp_path: Path) -> None:
    limits = Limits(unpacked_bytes=1024 * 1024)
    members = [tarfile.TarInfo(f"x-1.0/data{n}.bin") for n in range(3)]
    sdist = tar_with(tmp_path / "x-1.0.tar.gz", members, {m.name: b"\0" * 600_000 for m in members})
    assert sdist.stat().st_size < 20_000
    message = (
        "decompresses to more than 1,048,576 bytes (a compression bomb, or not a plug-in's "
        "archive); refused"
    )
    assert refused(sdist, limits) == message
    files = [(f"x/m{n}.py", b"\0" * 600_000) for n in range(3)]
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", files)  # type: ignore[arg-type]
    assert refused(wheel, limits) == message


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    files = [(f"x/m{n}.txt", b"") for n in range(5)]
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", files)  # type: ignore[arg-type]
    assert refused(wheel, Limits(members=4)) == "5 members, more than the 4 validate reads"


def flagged_encrypted(path: Path, name: str) -> Path:
    """Set bit 0 (encrypted) of member ``name``'s flags in the zip's central directory, which
    is where zipfile looks; its bytes stay as they were."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        size, extra, comment = (
            int.from_bytes(data[at + i : at + i + 2], "little") for i in (28, 30, 32)
        )
        if data[at + 46 : at + 46 + size] == name.encode():
            data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 46 + size + extra + comment)
    path.write_bytes(bytes(data))
    return path


def test_an_encrypted_member_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """zipfile raises RuntimeError for an encrypted member: validate printed a traceback."""
    wheel = zip_with(tmp_path / "x-1.0-py3-none-any.whl", [("x/plugin.py", b"x = 1\n")])
    flagged_encrypted(wheel, "x/plugin.py")
    assert refused(wheel) == (
        "the member x/plugin.py is encrypted: a wheel's members never are; rebuild the wheel "
        "with your build backend"
    )
    code = main(["plugins", "validate", str(wheel)])
    assert code == 1


def test_an_encrypted_member_is_a_corrupt_wheel_for_check(tmp_path: Path) -> None:
    metadata = "helios_x-0.1.0.dist-info/METADATA"
    wheel = zip_with(
        tmp_path / "helios_x-0.1.0-py3-none-any.whl",
        [(metadata, b"Metadata-Version: 2.1\nName: helios-x\nVersion: 0.1.0\n\n")],
    )
    flagged_encrypted(wheel, metadata)
    with pytest.raises(WheelError) as caught:
        read_wheel(wheel)
    assert str(caught.value) == (
        f"'{wheel}': a corrupt wheel: the member {metadata} is encrypted. Fix: download or "
        "build the wheel again"
    )


def test_a_fifo_named_like_a_wheel_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "x-1.0-py3-none-any.whl"
    import os

    os.mkfifo(fifo)
    (problem,) = validate(fifo).problems
    assert problem.code == "archive-refused" and "FIFO" in problem.message


def test_a_path_with_terminal_escapes_is_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x\x1b[31m.whl"
    assert main(["plugins", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.splitlines()[0] == f"invalid: {tmp_path}/x\\x1b[31m.whl"

"""helios.atomic: one atomic write for checkpoints, the demo's run folder and the release tool."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from helios.atomic import temporary_name, write_atomic, write_text_atomic


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old", encoding="utf-8")
    assert write_text_atomic(target, "new ✓\n") == target
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old", encoding="utf-8")

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "refused", str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_text_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def half_then_fail(handle: Any) -> None:
        handle.write(b"ne")
        raise error

    with pytest.raises(type(error)):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_a_failed_fsync_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.txt"

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output error"):
        write_text_atomic(target, "new")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_sits_next_to_the_target_and_is_hidden(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    seen: list[list[str]] = []

    def look(handle: Any) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        handle.write(b"x")

    write_atomic(target, look)
    ((name,),) = seen
    assert name.startswith(".file.txt.") and name.endswith(".tmp")
    assert len(name) == len(".file.txt.") + 8 + len(".tmp")
    assert temporary_name(target).parent == tmp_path


def test_a_temporary_file_that_exists_is_never_written_through(tmp_path: Path) -> None:
    """Exclusive creation: a file (or a link an attacker planted) in the temporary file's place
    is an error, and neither it nor what a link points at is touched."""
    target = tmp_path / "file.txt"
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep", encoding="utf-8")
    planted = tmp_path / ".file.txt.planted.tmp"
    planted.symlink_to(elsewhere)
    with pytest.raises(FileExistsError):
        write_atomic(target, lambda handle: handle.write(b"new"), temporary=planted)
    assert elsewhere.read_text(encoding="utf-8") == "keep"
    assert planted.is_symlink()
    assert not target.exists()


def test_the_mode_is_the_one_asked_less_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a", lambda handle: handle.write(b"a"), mode=0o640)
        write_text_atomic(tmp_path / "b", "b")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644


def test_keep_mode_gives_the_new_file_the_old_ones_permissions(tmp_path: Path) -> None:
    target = tmp_path / "pyproject.toml"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    write_text_atomic(target, "new", keep_mode=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text(encoding="utf-8") == "new"
    write_text_atomic(tmp_path / "fresh.toml", "fresh", keep_mode=True)  # nothing to keep: fine
    assert (tmp_path / "fresh.toml").read_text(encoding="utf-8") == "fresh"

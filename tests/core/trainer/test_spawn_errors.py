"""helios.distributed.spawn raises a failing rank's own exception (real gloo ranks)."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import pytest
from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

from helios.distributed import ERROR_LIMIT, _kept_error, spawn
from support.spawn_errors import RankError, fail


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder spawn makes its private temp folder in (empty again after every spawn)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def left_in(root: Path) -> list[str]:
    """What is left in ``root`` but torch's own error files (which torch never deletes)."""
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("pytorch-errorfile-"))


def test_a_rank_s_own_exception_arrives_with_its_type_and_args(temp_root: Path) -> None:
    with pytest.raises(RankError) as caught:
        spawn(fail, 2, args=("custom",))
    cause = caught.value.__cause__
    assert isinstance(cause, ProcessRaisedException)
    rank = cause.error_index  # every rank fails: spawn reports the first to exit
    assert caught.value.args == (f"rank {rank} failed", rank, {"cycle": 3})
    assert f"-- Process {rank} terminated with the following error:" in str(cause)
    assert f"RankError: ('rank {rank} failed', {rank}, {{'cycle': 3}})" in str(cause)
    assert left_in(temp_root) == []


@pytest.mark.parametrize("how", ["unpicklable", "unloadable", "too big"])
def test_an_exception_that_cannot_travel_arrives_as_process_raised_exception(
    temp_root: Path, how: str
) -> None:
    with pytest.raises(ProcessRaisedException) as caught:
        spawn(fail, 2, args=(how,))
    rank = caught.value.error_index
    shown = {
        "unpicklable": f"RankError: rank {rank} holds a lock",
        "unloadable": f"TwoPartError: rank {rank} and that",
        "too big": f"RankError: ('rank {rank}', b'xxxx",
    }
    assert shown[how] in str(caught.value)
    assert caught.value.__cause__ is None
    assert left_in(temp_root) == []


def test_a_rank_ended_by_a_signal_arrives_as_process_exited_exception(temp_root: Path) -> None:
    with pytest.raises(ProcessExitedException) as caught:
        spawn(fail, 2, args=("signal",))
    assert caught.value.signal_name == "SIGKILL"
    assert str(caught.value) == f"process {caught.value.error_index} terminated with signal SIGKILL"
    assert left_in(temp_root) == []


def test_the_parent_reads_only_a_bounded_regular_file_holding_an_exception(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.pickle"
    good.write_bytes(pickle.dumps(RankError("kept", 1)))
    kept = _kept_error(str(good))
    assert type(kept) is RankError and kept.args == ("kept", 1)

    link = tmp_path / "link.pickle"
    link.symlink_to(good)
    folder = tmp_path / "folder.pickle"
    folder.mkdir()
    big = tmp_path / "big.pickle"
    big.write_bytes(pickle.dumps(RankError(b"x" * ERROR_LIMIT)))
    other = tmp_path / "other.pickle"
    other.write_bytes(pickle.dumps({"not": "an exception"}))
    torn = tmp_path / "torn.pickle"
    torn.write_bytes(good.read_bytes()[:-3])
    fifo = tmp_path / "fifo.pickle"
    os.mkfifo(fifo)
    for path in (tmp_path / "missing", link, folder, big, other, torn, fifo):
        assert _kept_error(str(path)) is None, path.name

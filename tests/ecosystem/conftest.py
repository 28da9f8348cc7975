"""The repository tooling (tools/) on sys.path, and a throwaway git repository per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support.gitrepo import Repo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    for key, value in {
        "GIT_AUTHOR_NAME": "Helios Tests",
        "GIT_AUTHOR_EMAIL": "tests@helios.invalid",
        "GIT_COMMITTER_NAME": "Helios Tests",
        "GIT_COMMITTER_EMAIL": "tests@helios.invalid",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    return Repo(root)

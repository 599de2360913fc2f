"""`aonode serve` keeps its data directory private (issue 16, item 7): a new one is created 0700
with the LMDB files 0600, and an existing one that others can read is tightened at start."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from aonode_process import running

from aonode.cli import _private_data_dir
from aonode.store import FSStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_is_private(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "a" / "data"
    with caplog.at_level(logging.WARNING, logger="aonode"):
        _private_data_dir(data)
    assert _mode(data) == 0o700
    assert not caplog.records  # nothing to tighten


def test_an_open_data_dir_is_tightened_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    (data / "notes.txt").write_text("mine")
    (data / "notes.txt").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="aonode"):
        _private_data_dir(data)
    assert _mode(data) == 0o700
    assert _mode(data / "notes.txt") == 0o644  # files in it are left alone
    assert "open to other users (mode 755): now 0700" in caplog.text
    caplog.clear()
    _private_data_dir(data)  # already private: silent
    assert not caplog.records


def test_fs_store_directories_and_files_are_private(tmp_path: Path) -> None:
    store = FSStore(tmp_path / "fs", durable=False)
    store.write("group/value", b"secret")
    store.make_group("other")
    store.close()
    assert _mode(tmp_path / "fs") == 0o700
    assert _mode(tmp_path / "fs" / "group") == 0o700
    assert _mode(tmp_path / "fs" / "other") == 0o700
    assert _mode(tmp_path / "fs" / "group" / "value") == 0o600


def test_serve_makes_the_data_dir_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)  # as an earlier aonode left it
    with running(tmp_path / "node", data_dir=data) as node:
        assert _mode(data) == 0o700
        assert _mode(data / "lmdb") == 0o700
        assert _mode(data / "lmdb" / "data.mdb") == 0o600
        assert _mode(data / "lmdb" / "lock.mdb") == 0o600
        assert _mode(data / "wallet.json") == 0o600
    assert f"the data directory {data} was open to other users (mode 755): now 0700" in node.log_text()
    fresh = tmp_path / "fresh"
    with running(tmp_path / "node2", data_dir=fresh) as node:
        assert _mode(fresh) == 0o700
        assert _mode(fresh / "lmdb" / "data.mdb") == 0o600
    assert "open to other users" not in node.log_text()

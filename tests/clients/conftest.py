"""Shared by the client tests: a real `aonode serve` per test module, and @permaweb/aoconnect
installed from npm (from package-lock.json) into tests/clients/node_modules."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aonode_process import Node, start, stop

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = start(tmp_path_factory.mktemp("client-node") / "node")
    try:
        yield started
    finally:
        stop(started)


@pytest.fixture(scope="session")
def aoconnect() -> Path:
    """`npm ci` unless node_modules already matches the lock file; one installer at a time when
    tests run in parallel."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run @permaweb/aoconnect; install Node.js 20 or newer")
    with open(Path(tempfile.gettempdir()) / "aonode-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = HERE / "node_modules" / ".package-lock.json"
        if not marker.exists() or marker.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime:
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr
    return HERE / "node_modules"

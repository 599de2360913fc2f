"""A real `aonode serve` for the client tests, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aonode_process import Node, start, stop


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = start(tmp_path_factory.mktemp("client-node") / "node")
    try:
        yield started
    finally:
        stop(started)

"""A real node for each test module of this folder (`node`), and a client of it (`client`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, running


@pytest.fixture(scope="module")
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(Path(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))) as started:
        yield started


@pytest.fixture(scope="module")
def client(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as http:
        yield http

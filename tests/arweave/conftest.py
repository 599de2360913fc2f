"""One arlocal for every test module of this folder (per pytest worker): `arlocal`.

Tests that stop it (`ArLocal.stop`) start it again before they end; a restart keeps its ports
and its data. Other folders use the module-scoped `arweave.arlocal.arlocal_module`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from arweave.arlocal import ArLocal


@pytest.fixture(scope="session")
def arlocal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArLocal]:
    running = ArLocal(tmp_path_factory.mktemp("arlocal")).start()
    try:
        yield running
    finally:
        running.stop()

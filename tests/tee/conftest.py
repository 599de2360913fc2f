"""Shared fixtures of the TEE tests: one test key hierarchy (two RSA-4096 keys take about a
second to make) and one loopback KDS for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kds_server import Kds, publish, running_kds
from snp_hierarchy import LOCAL_HASHES, OVMF_LAYOUT, Chip, Hierarchy

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


@pytest.fixture(scope="session")
def hierarchy() -> Hierarchy:
    return Hierarchy.make("Milan")


@pytest.fixture(scope="session")
def chip(hierarchy: Hierarchy) -> Chip:
    return hierarchy.chip()


@pytest.fixture(scope="session")
def kds(hierarchy: Hierarchy, chip: Chip) -> Iterator[Kds]:
    with running_kds() as server:
        publish(server, hierarchy, chip)
        yield server


def verifier_opts(hierarchy: Hierarchy, kds: Kds, **extra: Any) -> dict[str, Any]:
    """A verifier's options: the fixture's software trusted, the test layout, the test ARK
    pinned (besides AMD's), a route sending KDS paths to the loopback KDS."""
    return {
        "snp_trusted": [dict(LOCAL_HASHES)],
        "snp_ovmf": dict(OVMF_LAYOUT),
        "snp_ark_roots": {hierarchy.product: hierarchy.ark_pem()},
        "routes": [{"template": "^/vcek/v1/", "node": {"prefix": kds.url}}],
        **extra,
    }

"""Wallets shared by the attacks in this folder: each test file's victim and attacker are its own
(module scope), so no file's attack can be confused with another's."""

from __future__ import annotations

import pytest

from aonode.crypto import Wallet


@pytest.fixture(scope="module")
def victim() -> Wallet:
    return Wallet.generate()


@pytest.fixture(scope="module")
def attacker() -> Wallet:
    return Wallet.generate()

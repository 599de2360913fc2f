"""local-name@1.0: the reference's dev_local_name tests, and names surviving a restart."""

from __future__ import annotations

from typing import Any

import pytest

from aonode.codecs import commit
from aonode.core import resolve
from aonode.core.terms import NOT_FOUND
from aonode.crypto import Wallet
from aonode.devices.local_name import LocalNameDevice
from aonode.store import MemoryStore, MessageCache


@pytest.fixture(scope="module")
def operator() -> Wallet:
    return Wallet.generate()


@pytest.fixture
def opts(operator: Wallet) -> dict[str, Any]:
    return {"priv_wallet": operator, "cache": MessageCache(MemoryStore())}


def lookup(key: str, opts: dict[str, Any]) -> Any:
    return LocalNameDevice().lookup({}, {"key": key}, opts)


def test_no_names(opts: dict[str, Any]) -> None:
    assert lookup("name1", opts) == NOT_FOUND


def test_lookup_opts_name(opts: dict[str, Any]) -> None:
    found = lookup("name1", {**opts, "local_names": {"name1": b"value1"}})
    assert (found.status, found.value) == ("ok", b"value1")


def test_register(operator: Wallet, opts: dict[str, Any]) -> None:
    request = commit({"key": b"TEST-name", "value": b"TEST-VALUE"}, operator)
    registered = LocalNameDevice().register({}, request, opts)
    assert (registered.status, registered.value) == ("ok", b"Registered.")
    assert lookup("TEST-name", opts).value == b"TEST-VALUE"
    # the name is in the store: a new cache over it (a restarted node) still finds it
    again = {**opts, "cache": MessageCache(opts["cache"].store)}
    assert lookup("TEST-name", again).value == b"TEST-VALUE"
    assert resolve({"device": b"local-name@1.0"}, {"path": "TEST-name"}, again).value == b"TEST-VALUE"


def test_unauthorized(opts: dict[str, Any]) -> None:
    request = commit({"key": b"name1", "value": b"value1"}, Wallet.generate())
    refused = LocalNameDevice().register({}, request, opts)
    assert (refused.status, refused.value) == ("error", {"status": 403, "message": b"Unauthorized."})
    assert lookup("name1", opts) == NOT_FOUND

"""Port of the reference's `dev_message` tests (resolution-paths-cache-node.md §14.5)."""

from __future__ import annotations

import pytest

from aonode.codecs import commit, message_id, verify
from aonode.core import Result, get, remove, resolve, set_key, set_values
from aonode.core.terms import NOT_FOUND
from aonode.crypto import Wallet
from aonode.errors import InvalidSignature
from aonode.message import Atom, is_private

UNSET = Atom("unset")


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.generate()


def test_is_private() -> None:
    assert is_private("private") and is_private("private.foo") and not is_private("a")


def test_keys_from_device() -> None:
    assert resolve({"a": 1}, "keys") == Result("ok", [b"a"])


def test_case_insensitive_get() -> None:
    assert resolve({"a": 1}, "a").value == 1
    assert resolve({"a": 1}, "A").value == 1
    # The lookup is asymmetric, as in the reference: `a` does not find `A`.
    assert resolve({"A": 1}, "a") == NOT_FOUND


def test_private_keys_are_filtered() -> None:
    assert resolve({"a": 1, "private": 2, "priv_foo": 4}, "keys") == Result("ok", [b"a"])


def test_cannot_get_private_keys() -> None:
    assert resolve({"a": 1, "private_key": b"secret"}, "private_key") == NOT_FOUND


def test_key_from_device() -> None:
    assert resolve({"a": 1}, "a") == Result("ok", 1)


def test_remove() -> None:
    msg = {"key1": b"v1", "key2": b"v2"}
    assert resolve(msg, {"path": "remove", "item": b"key1"}, {"hashpath": "ignore"}).value == {"key2": b"v2"}
    assert resolve(msg, {"path": "remove", "items": [b"key1", b"key2"]}, {"hashpath": "ignore"}).value == {}
    assert remove(msg, "key2") == {"key1": b"v1"}


def test_set_conflicting_keys() -> None:
    assert set_values({"dangerous": b"Value1"}, {"dangerous": b"Value2"})["dangerous"] == b"Value2"


def test_unset_with_set() -> None:
    out = set_values({"dangerous": b"Value1"}, {"dangerous": UNSET})
    assert {k: v for k, v in out.items() if k != "priv"} == {}


def test_deep_unset() -> None:
    msg = {"test-key1": b"Value1", "deep": {"test-key2": b"Value2", "test-key3": b"Value3"}}
    out = set_values(msg, {"deep/test-key2": UNSET})
    assert out["deep"] == {"test-key3": b"Value3"}
    out = set_key(out, "deep/test-key3", UNSET)
    assert out["deep"] == {}
    out = set_values(out, {"deep": UNSET})
    assert "deep" not in out


def test_set_ignore_undefined() -> None:
    msg = {"test-key1": b"Value1", "test-key2": b"Value2"}
    out = resolve(msg, {"path": "set", "test-key1": Atom("undefined")}, {"hashpath": "ignore"}).value
    assert out == msg


def test_set_explicit_replaces_maps() -> None:
    msg = {"a": {"x": b"1"}}
    deep = resolve(msg, {"path": "set", "a": {"y": b"2"}}, {"hashpath": "ignore"}).value
    assert deep == {"a": {"x": b"1", "y": b"2"}}
    explicit = resolve(msg, {"path": "set", "a": {"y": b"2"}, "set-mode": b"explicit"}, {"hashpath": "ignore"}).value
    assert explicit == {"a": {"y": b"2"}}


def test_set_drops_commitments_of_overwritten_keys(wallet: Wallet) -> None:
    signed = commit({"a": b"1", "b": b"2"}, wallet)
    same = set_values(signed, {"a": b"1"})
    assert "commitments" in same
    changed = set_values(signed, {"a": b"changed"})
    assert "commitments" not in changed
    unrelated = set_values(signed, {"c": b"3"})
    assert "commitments" in unrelated


def test_set_path() -> None:
    assert resolve({"a": b"b"}, {"path": "set_path", "value": b"new"}, {"hashpath": "ignore"}).value == {
        "a": b"b", "path": b"new",
    }
    assert resolve({"a": b"b", "path": b"x"}, {"path": "set_path", "value": UNSET}, {"hashpath": "ignore"}).value == {
        "a": b"b",
    }


def test_verify(wallet: Wallet) -> None:
    signed = commit({"a": b"1"}, wallet)
    verify(signed)
    tampered = {**signed, "a": b"2"}
    with pytest.raises(InvalidSignature):
        verify(tampered)
    assert resolve(signed, {"path": "verify", "committers": b"all"}) == Result("ok", True)
    assert resolve(tampered, {"path": "verify", "committers": b"all"}) == Result("ok", False)
    via_body = {"path": "verify", "target": b"body", "committers": b"all", "body": signed}
    assert resolve({}, via_body) == Result("ok", True)


def test_id_and_committers(wallet: Wallet) -> None:
    signed = commit({"a": b"1"}, wallet)
    assert resolve(signed, "committers") == Result("ok", [wallet.address.encode()])
    unsigned_id = resolve(signed, "id").value
    signed_id = resolve(signed, {"path": "id", "committers": b"all"}).value
    assert len(unsigned_id) == 43 and len(signed_id) == 43 and unsigned_id != signed_id
    assert resolve(signed, "committed").value == [b"a"]


def test_commit_with_node_wallet(wallet: Wallet) -> None:
    signed = resolve({"a": b"1"}, "commit", {"priv_wallet": wallet, "hashpath": "ignore"}).value
    verify(signed)
    assert resolve(signed, "committers").value == [wallet.address.encode()]


def test_get_key_reads_the_named_key() -> None:
    # The reference crashes here (function_clause); aonode returns the named key (docs/compat.md).
    assert resolve({"a": b"1"}, {"path": "get", "key": b"a"}) == Result("ok", b"1")
    assert get("a", {"a": b"1"}) == b"1"


def test_index_without_default_index_is_an_error() -> None:
    assert resolve({"a": b"1"}, "index").status == "error"


def test_index_with_default_index() -> None:
    result = resolve({"name": b"dogs"}, "index", {"default_index": {"device": b"test-device@1.0"}})
    assert result.value["body"] == b"i like dogs!"


def test_id_ignores_the_requests_own_commitments() -> None:
    """A signed request for `id` carries its own `commitments` map; it is not a selector."""
    base = {"a": b"1"}
    request = commit({"path": b"id"}, Wallet.generate())
    found = resolve(base, request)
    assert found.ok and found.value == message_id(base, committers="none").encode()

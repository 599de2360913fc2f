"""The one-pass request path (issue 24): each shortcut gives exactly what the long way gives.

* an `As` base no longer re-sets its own keys (`resolver._sets_nothing`) nor sets its device
  through a resolution (`resolver._with_device`): the results, their key order and their
  hashpaths equal those of the full `set` resolutions;
* parsed requests, decoded targets, TABMs and httpsig encodings are memoised by content:
  each caller gets its own copy, equal to a fresh computation, and changing it changes no
  later answer;
* a reply's TABM is built once, with its commitment (`commit_with_tabm`).
"""

from __future__ import annotations

import marshal
from pathlib import Path
from typing import Any

import pytest

from aonode.codecs import commit, commit_with_tabm, httpsig, message_id, structured, to_tabm
from aonode.codecs._ids import _child_id
from aonode.core import hyperpath, resolver
from aonode.core.access import set_key
from aonode.core.resolver import resolve_path
from aonode.crypto import Wallet
from aonode.message import Atom

KEY = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "key-1.json"


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    # A fixed key (no key generation per test); a fresh one where the fixtures are absent.
    return Wallet.load(KEY) if KEY.is_file() else Wallet.generate()


AS_PATHS = [
    "/~message@1.0&a=1&b=2/a",
    "/~message@1.0&a=1&b=2",
    "/~message@1.0&greeting=Hello&count+integer=42/count",
    "/~message@1.0&a=1/b=3/set&b=4/b",
    "/~message@1.0&x=1&y+map=z=1/y",
    "/~message@1.0&a=1&b+list=1,2/b",
    "/~message@1.0&device=message@1.0&k=v/k",
    "/~message@1.0&priv=x&k=v/k",
    "/~meta@1.0/info/address",
]


def _resolve(path: str, headers: dict[str, Any]) -> Any:
    result = resolve_path({"path": path, **headers}, {})
    return result.status, marshal.dumps(repr(result.value))  # order and types included


@pytest.mark.parametrize("path", AS_PATHS)
def test_as_base_without_resetting_its_keys_gives_the_same_result(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"accept": b"application/json", "x-extra": b"1"}
    fast = _resolve(path, headers)
    monkeypatch.setattr(resolver, "_sets_nothing", lambda *args: False)
    monkeypatch.setattr(resolver, "_with_device", lambda base, device, opts: set_key(base, "device", device, opts))
    assert _resolve(path, headers) == fast


def test_the_shortcut_leaves_unset_paths_and_other_devices_to_set() -> None:
    base = {"a": b"1", "device": b"message@1.0"}
    assert resolver._sets_nothing({"a": b"1"}, {"a": b"1"}, {})
    assert not resolver._sets_nothing({"a": b"1"}, {"a": 1}, {})  # 1 is not b"1"
    assert not resolver._sets_nothing({"a": True}, {"a": 1}, {})  # True == 1, yet not the same value
    assert not resolver._sets_nothing({"a": b"1"}, {"a": Atom("unset")}, {})
    assert not resolver._sets_nothing({"a": {"b": b"1"}}, {"a/b": b"1"}, {})
    assert not resolver._sets_nothing(base, {"device": b"message@1.0"}, {})
    assert not resolver._sets_nothing({"a": b"1"}, {"a": b"1"}, {"on": {"step": {"device": "x@1.0"}}})
    # multipass@1.0 answers every key with its handler, `set` included.
    assert not resolver._sets_nothing({"a": b"1", "device": b"multipass@1.0"}, {"a": b"1"}, {})


def test_a_parse_is_a_copy_the_caller_may_change() -> None:
    request = {"path": b"/~message@1.0&a=1/b", "k": b"v"}
    first = hyperpath.parse(request)
    assert first == hyperpath._from(request, 0)
    first[1]["k"] = b"changed"
    first.append({"path": "extra"})
    assert hyperpath.parse(dict(request)) == hyperpath._from(request, 0)


def test_a_parse_with_private_keys_is_not_kept() -> None:
    request = {"path": b"/a", "priv": {"x": 1}}
    assert hyperpath._parse_key(request) is None
    assert hyperpath.parse(request) == hyperpath._from(request, 0)


def test_from_path_copies() -> None:
    parts, query = hyperpath.from_path(b"/a/b?x=1&y")
    parts.append("c")
    query["x"] = b"2"
    assert hyperpath.from_path(b"/a/b?x=1&y") == (["a", "b"], {"x": b"1", "y": True})


MESSAGES: list[dict[str, Any]] = [
    {"a": 1, "b": {"c": [1, 2, {"d": b"x"}]}, "Zed": b"y", "body": b"q" * 5000},
    {"path": "x", "z": 1.5, "t": True, "n": None, "l": [b"1", 2, [3]]},
    {"data": b"d", "ao-body-key": b"data", "K" * 43: b"an id-shaped key"},
]


@pytest.mark.parametrize("msg", MESSAGES)
@pytest.mark.parametrize("bundle", [False, True])
def test_a_tabm_is_a_copy_equal_to_a_fresh_one(msg: dict[str, Any], bundle: bool) -> None:
    fresh = structured.from_wire(msg, link=None if bundle else _child_id)
    first = to_tabm(msg, bundle=bundle)
    assert first == fresh and list(first) == list(fresh)
    assert isinstance(first, dict)
    first["added"] = b"1"
    again = to_tabm(dict(msg), bundle=bundle)
    assert again == fresh and list(again) == list(fresh)


@pytest.mark.parametrize("msg", MESSAGES)
@pytest.mark.parametrize("bundle", [False, True])
def test_commit_with_tabm_is_the_tabm_of_the_committed_message(msg: dict[str, Any], bundle: bool,
                                                              wallet: Wallet) -> None:
    out, tabm = commit_with_tabm(msg, wallet, bundle=bundle)
    expected = to_tabm(out, bundle=bundle)
    assert tabm == expected and list(tabm) == list(expected)
    assert httpsig.to_wire(tabm) == httpsig.to_wire(expected)
    unsigned, tabm2 = commit_with_tabm(out, type="unsigned", bundle=bundle)
    assert tabm2 == to_tabm(unsigned, bundle=bundle)


@pytest.mark.parametrize("msg", MESSAGES)
def test_encodings_from_the_memo_equal_fresh_ones(msg: dict[str, Any], wallet: Wallet) -> None:
    signed = commit(msg, wallet)
    tabm = to_tabm(signed)
    assert isinstance(tabm, dict)
    first = httpsig.to_wire(tabm)
    first["added"] = b"1"
    fields = {k: v for k, v in tabm.items() if k not in ("commitments", "priv")}
    headers, keys, multipart = httpsig._encode_fields(dict(fields), wire=True)
    memo_headers, memo_keys, memo_multipart = httpsig._encode(tabm, wire=True)
    assert (memo_headers, memo_keys, memo_multipart) == (headers, keys, multipart)
    memo_headers["x"] = b"changed"
    memo_keys.append("x")
    assert httpsig._encode(tabm, wire=True) == (headers, keys, multipart)
    # The message round-trips and keeps its ID.
    back = structured.to_wire(httpsig.from_wire(httpsig.to_wire(tabm)))
    assert isinstance(back, dict)
    assert message_id(back, committers="all") == message_id(signed, committers="all")


@pytest.mark.parametrize("msg", MESSAGES)
def test_the_cache_s_id_is_the_id_message_id_computes(msg: dict[str, Any]) -> None:
    from aonode.codecs import _ids
    from aonode.store import MessageCache

    uid = MessageCache().write(msg)  # recorded in message_id's memo (one ID system)
    remembered = [message_id(msg), message_id(msg, committers="all"), message_id(msg, commitments="all")]
    _ids._MEMO.clear()
    assert remembered == [message_id(msg), message_id(msg, committers="all"),
                          message_id(msg, commitments="all")] == [uid] * 3


def test_commitments_are_parsed_once_and_answer_as_before(wallet: Wallet) -> None:
    from aonode.codecs import committed_keys, parse_commitments, signers, verify, with_only_committed

    signed = commit({"a": b"1", "b": 2, "c": {"d": b"x"}}, wallet)
    first = parse_commitments(signed)
    assert parse_commitments(dict(signed)) is first  # the same content: the same parse
    assert set(first.by_id) == set(signed["commitments"])  # type: ignore[arg-type]
    assert sorted(v for v in first.committers.values() if v) == [wallet.address]
    assert committed_keys(signed) == ["a", "ao-types", "b", "c"]
    assert signers(signed) == [wallet.address] and verify(signed) == [wallet.address]
    assert with_only_committed({**signed, "extra": b"not signed"}) == signed
    tampered = {**signed, "a": b"2"}
    assert signers(tampered) == []

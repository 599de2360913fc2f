"""Tests for aonode/message/_map_order.py, Erlang map iteration order.

The ground truth is tests/message/vectors/erlang_map_order.json, recorded from
real Erlang/OTP 25.2.3. The cross-checks use the HyperBEAM oracle records in
shared/vectors/oracle/ids.json.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from aonode.message._map_order import _internal_hash, erlang_key_order

VECTORS = Path(__file__).resolve().parent / "vectors" / "erlang_map_order.json"
ORACLE_IDS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "oracle" / "ids.json"


def _load_vectors() -> dict[str, Any]:
    with VECTORS.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


_DATA = _load_vectors()


def _case_keys(case: dict[str, Any]) -> list[str]:
    if "keys" in case:
        return list(case["keys"])
    return [bytes.fromhex(h).decode("utf-8", "surrogateescape") for h in case["keys_hex"]]


@pytest.mark.parametrize("case", _DATA["cases"], ids=[c["name"] for c in _DATA["cases"]])
def test_matches_erlang_maps_keys(case: dict[str, Any]) -> None:
    keys = _case_keys(case)
    expected = [keys[i] for i in case["order"]]
    assert erlang_key_order(keys) == expected
    # The order depends on the key set only, not on the input order.
    assert erlang_key_order(reversed(keys)) == expected


@pytest.mark.parametrize(
    "sample",
    _DATA["internal_hash"],
    ids=[f"len{len(s['hex']) // 2}" for s in _DATA["internal_hash"]],
)
def test_internal_hash_matches_erts(sample: dict[str, Any]) -> None:
    assert _internal_hash(bytes.fromhex(sample["hex"])) == sample["hash"]


def test_vector_file_covers_collisions_and_sizes() -> None:
    names = [c["name"] for c in _DATA["cases"]]
    assert any(n.startswith("hash32-collision") for n in names)
    assert max(len(c["order"]) for c in _DATA["cases"]) >= 2000
    assert VECTORS.stat().st_size < 300_000


def test_small_maps_are_bytewise_sorted() -> None:
    keys = [f"k{i}" for i in range(28)] + ["", "K", "\u00e9", "\udcff"]
    assert len(keys) == 32
    expected = sorted(keys, key=lambda k: k.encode("utf-8", "surrogateescape"))
    assert erlang_key_order(keys) == expected
    assert erlang_key_order([]) == []
    assert erlang_key_order(["b", "a", "ab"]) == ["a", "ab", "b"]


def test_33_keys_are_not_sorted() -> None:
    keys = [f"key-{i}" for i in range(1, 34)]
    out = erlang_key_order(keys)
    assert sorted(out) == sorted(keys)
    assert out != sorted(keys)


def test_duplicates_count_once() -> None:
    # "\u00e9" and its surrogateescape spelling are the same binary <<195,169>>.
    keys = [f"key-{i}" for i in range(1, 33)] + ["key-1", "\u00e9", "\udcc3\udca9"]
    out = erlang_key_order(keys)
    assert len(out) == 33
    assert "\u00e9" in out and "\udcc3\udca9" not in out


def test_non_utf8_keys_round_trip() -> None:
    raw = [bytes([0xFF, i]) for i in range(40)]
    keys = [b.decode("utf-8", "surrogateescape") for b in raw]
    out = erlang_key_order(keys)
    assert sorted(out) == sorted(keys)


def test_ten_thousand_ids_are_fast() -> None:
    keys = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(10_000)]
    start = time.perf_counter()
    out = erlang_key_order(keys)
    elapsed = time.perf_counter() - start
    assert len(out) == 10_000
    assert elapsed < 1.0


# --- cross-checks against the HyperBEAM oracle (Erlang/OTP 25.2) -------------


def _oracle_record(name: str) -> dict[str, Any]:
    if not ORACLE_IDS.is_file():
        pytest.skip(f"shared oracle vectors not found at {ORACLE_IDS}")
    with ORACLE_IDS.open(encoding="utf-8") as f:
        vectors: list[dict[str, Any]] = json.load(f)["vectors"]
    for record in vectors:
        if record["name"] == name:
            return record
    pytest.skip(f"oracle record {name!r} not present")


def _committed_order(record: dict[str, Any]) -> list[str]:
    commitments = record["unsigned_commitment"]["commitments"]
    (commitment,) = commitments.values()
    committed: dict[str, str] = commitment["committed"]
    return [committed[str(i)] for i in range(1, len(committed) + 1)]


@pytest.mark.parametrize("name", ["keys-40", "keys-100"])
def test_oracle_committed_order(name: str) -> None:
    record = _oracle_record(name)
    # The committed list is maps:keys/1 of the encoded header map. Here that map
    # is the plain httpsig header map: every value is a binary, so there is no
    # ao-types key and no body.
    header_keys = list(record["httpsig"]["headers"])
    assert "body" not in record["httpsig"]
    assert erlang_key_order(header_keys) == _committed_order(record)


def test_oracle_multipart_part_header_order() -> None:
    # keys-33-nested bundles its 33-key child as one multipart part. The part's
    # header lines (33 keys plus content-disposition) follow map order.
    record = _oracle_record("keys-33-nested")
    body: str = record["httpsig_bundle"]["body"]
    lines = body.split("\r\n")[1:-1]
    names = [line.split(":", 1)[0] for line in lines]
    assert len(names) == 34
    assert erlang_key_order(names) == names


def test_oracle_nested_33_key_child_id() -> None:
    # The child's link ID is the HMAC-SHA256 (key "constant:ao") of its
    # signature base, whose component lines follow maps:keys/1 of its 33 headers.
    record = _oracle_record("keys-33-nested")
    inner: dict[str, str] = record["message"]["inner"]
    order = erlang_key_order(inner)
    params = "(" + " ".join(f'"{k}"' for k in order) + ');alg="hmac-sha256";keyid="constant:ao"'
    base = "".join(f'"{k}": {inner[k]}\n' for k in order) + f'"@signature-params": {params}'
    digest = hmac.new(b"constant:ao", base.encode(), hashlib.sha256).digest()
    link_id = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert link_id == record["tabm"]["inner+link"]

"""Schedule formats of scheduler@1.0 (`aonode/devices/_scheduler_formats.py`, processes-compute.md
§2.6, §2.9): the bundle, aos-2 JSON, json-iface's JSON struct, and the legacy (ao.TN.1)
conversions, checked on the recorded legacy SU answers in `scheduler_vectors/legacy.json`
(written by `scheduler_vectors/make_legacy.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scheduler_helpers import wallet

from aonode.codecs import ans104, commit, decode, encode, message_id, signers, verify
from aonode.devices import _scheduler_formats as formats
from aonode.devices import _scheduler_log as log
from aonode.errors import DecodeError, EncodeError, NotFound
from aonode.store import MemoryStore

LEGACY = json.loads((Path(__file__).parent / "scheduler_vectors" / "legacy.json").read_text())
PROC_ID = LEGACY["process_id"]
EDGES = LEGACY["schedule"]["edges"]


def tag(item: dict[str, Any], name: str) -> str:
    return next(t["value"] for t in item["tags"] if t["name"] == name)


# --- legacy edges (§2.9) ----------------------------------------------------------------------


def test_legacy_edge_to_assignment() -> None:
    found = formats.aos2_to_assignment(EDGES[0])
    assert found["slot"] == 0 and found["epoch"] == 0 and found["timestamp"] == 1700000000000
    assert found["block-height"] == b"000001500000"  # left as the SU wrote it
    assert found["block-hash"] == formats.ZERO_ID.encode()
    assert found["process"] == PROC_ID.encode() and found["variant"] == b"ao.TN.1"
    assert found["hash-chain"] == tag(EDGES[0]["node"]["assignment"], "Hash-Chain").encode()
    assert found["message"] == EDGES[0]["node"]["message"]["id"].encode()
    assert signers(found) == [LEGACY["su_address"]]
    body = found["body"]
    assert (body["action"], body["data"], body["target"]) == (b"Eval", b"return 0 + 1", PROC_ID.encode())
    verify(body)  # the message decodes to the very item the SU was sent
    assert message_id(body, committers="all") == EDGES[0]["node"]["message"]["id"]


def test_a_bare_node_missing_data_and_an_anchor() -> None:
    # Edge 1's assignment has no `data` field (treated as empty); edge 2's message has an anchor.
    assert formats.aos2_to_assignment(EDGES[1]["node"])["slot"] == 1
    anchored = formats.aos2_to_assignment(EDGES[2])["body"]
    verify(anchored)
    assert message_id(anchored, committers="all") == EDGES[2]["node"]["message"]["id"]


def test_a_null_message_is_read_from_the_cache() -> None:
    with pytest.raises(NotFound):
        formats.aos2_to_assignment(EDGES[3])
    wanted = tag(EDGES[3]["node"]["assignment"], "Message")
    stored = {"type": b"Message", "n": 3}
    found = formats.aos2_to_assignment(EDGES[3], read_message=lambda ref: stored if ref == wanted else None)
    # The message is normalised like any other (it gains the zero block hash).
    assert found["body"] == {**stored, "block-hash": formats.ZERO_ID.encode()} and found["slot"] == 3


def test_legacy_page_to_bundle() -> None:
    bundle = formats.aos2_to_assignments(PROC_ID, {"edges": EDGES[:3]})
    assert sorted(bundle["assignments"]) == ["0", "1", "2"]
    assert (bundle["timestamp"], bundle["block-height"]) == (1700000000002, 1500002)
    assert bundle["continues"] is False and bundle["type"] == b"schedule"
    empty = formats.aos2_to_assignments(PROC_ID, {"edges": []})
    assert (empty["timestamp"], empty["block-height"], empty["assignments"]) == (0, 0, {})


def test_legacy_latest_answer() -> None:
    assert formats.aos2_to_assignment(LEGACY["latest"])["slot"] == 2


def test_graphql_location_record() -> None:
    node = LEGACY["graphql_location"]["data"]["transactions"]["edges"][0]["node"]
    record = formats.gql_item_to_message(node)
    assert (record["type"], record["url"], record["variant"]) == (b"Scheduler-Location", b"https://su.example",
                                                                  b"ao.TN.1")
    assert signers(record) == [LEGACY["su_address"]]
    verify(record)


def test_legacy_item_errors() -> None:
    item = dict(EDGES[0]["node"]["message"])
    with pytest.raises(DecodeError, match="unsupported legacy signature"):
        formats.gql_item_to_message({**item, "signature": "AAAA"})
    with pytest.raises(DecodeError, match="no data"):
        formats.gql_item_to_message({k: v for k, v in item.items() if k != "data"})
    assert formats.gql_item_to_message({k: v for k, v in item.items() if k != "data"},
                                       fetch_data=lambda ref: item["data"].encode())["data"] == b"return 0 + 1"
    with pytest.raises(DecodeError):
        formats.gql_item_to_message({**item, "tags": [{"name": "only"}]})


def test_normalize_types() -> None:
    found = formats.aos2_normalize_types({"timestamp": b"12", "nonce": b"5", "epoch": b"0"})
    assert found == {"timestamp": 12, "nonce": b"5", "slot": 5, "epoch": 0, "block-hash": formats.ZERO_ID.encode()}
    assert formats.aos2_normalize_types({"nonce": b"5", "slot": b"6", "block-hash": b"h"})["slot"] == 6
    with pytest.raises(DecodeError):
        formats.aos2_normalize_types({"slot": b"six"})


def test_cached_legacy_edges_are_converted_on_read() -> None:
    store = MemoryStore()
    for n, edge in enumerate(EDGES[:3]):
        log.write({**edge, "variant": b"ao.TN.1", "slot": n, "process": PROC_ID.encode()}, store)
    found = log.read(PROC_ID, 2, store)
    assert found is not None and found["slot"] == 2 and found["body"]["data"] == b"return 2 + 1"
    assert log.latest(PROC_ID, store) == (2, tag(EDGES[2]["node"]["assignment"], "Hash-Chain").encode())


# --- outbound ---------------------------------------------------------------------------------


def test_header_case() -> None:
    assert formats.header_case("block-height") == "Block-Height"
    assert formats.header_case("ao-types") == "Ao-Types"
    assert formats.header_case("device-stack+link") == "Device-Stack+link"
    assert formats.header_case("a--b") == "A-B"


def test_json_struct_of_an_httpsig_message() -> None:
    owner = wallet()
    msg = commit({"action": b"Eval", "data": b"return 1+1", "target": b"P" * 43, "passes": 2,
                  "nested": {"x": b"1"}}, owner)
    struct = formats.message_to_json_struct(msg)
    assert struct["Id"] == message_id(msg, committers="all")
    assert (struct["Owner"], struct["From"], struct["Target"]) == (owner.address, owner.address, "P" * 43)
    assert (struct["Data"], struct["Anchor"], struct["Signature"]) == ("return 1+1", "", "")
    names = [t["name"] for t in struct["Tags"]]
    assert names == ["Action", "Ao-Types", "Nested+link", "Passes"]  # key order, fields left out
    assert struct["Tags"][1]["value"] == 'passes="integer"'


def test_json_struct_uses_original_tags_and_from_process() -> None:
    owner = wallet()
    tabm = ans104.commit({"Action": b"Eval", "From-Process": b"F" * 43}, owner)  # type: ignore[dict-item]
    msg = decode(ans104.to_wire(tabm), ans104.NAME)
    assert isinstance(msg, dict)
    struct = formats.message_to_json_struct(msg)
    assert struct["Tags"] == [{"name": "Action", "value": "Eval"}, {"name": "From-Process", "value": "F" * 43}]
    assert struct["From"] == "F" * 43 and struct["Owner"] == owner.address


def test_bundle_and_aos2_of_nothing() -> None:
    block = formats.BlockInfo(5, 6, "H" * 43)
    bundle = formats.assignments_to_bundle("P" * 43, [], True, block)
    assert bundle == {"type": b"schedule", "process": b"P" * 43, "continues": True, "timestamp": 5,
                      "block-height": 6, "block-hash": b"H" * 43, "assignments": {}}
    page = json.loads(formats.assignments_to_aos2("P" * 43, [], False, block)["body"])
    assert page == {"page_info": {"process": "P" * 43, "has_next_page": False, "timestamp": "5",
                                  "block-height": "6", "block-hash": "H" * 43}, "edges": []}


def test_binary_data_has_no_aos2_form() -> None:
    with pytest.raises(EncodeError, match="not UTF-8"):
        formats.assignments_to_aos2("P" * 43, [{"slot": 0, "body": {"data": b"\xff\xfe"}}], False,
                                    formats.BlockInfo.zero())


def test_ordered_assignments() -> None:
    assert formats.ordered_assignments({"10": "c", "2": "b", "1": "a", "priv": {}}) == ["a", "b", "c"]
    with pytest.raises(DecodeError):
        formats.ordered_assignments({"x": 1})


def test_encode_decode_of_a_legacy_message_round_trips() -> None:
    body = formats.aos2_to_assignment(EDGES[0])["body"]
    again = decode(encode(body, ans104.NAME), ans104.NAME)
    assert isinstance(again, dict) and message_id(again, committers="all") == message_id(body, committers="all")

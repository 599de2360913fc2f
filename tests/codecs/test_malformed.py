"""Bad input raises a typed error that names the problem; fuzzing raises nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import FIXTURES

from aonode.codecs import _sf, commit, decode, encode, flat, httpsig, json, structured, verify
from aonode.crypto import Wallet, b64url_decode
from aonode.errors import AOError, DecodeError, InvalidSignature
from aonode.message import Atom

SIGNED_HMAC = encode(commit({"a": "b", "n": 7}, type="unsigned"), httpsig.NAME)
MULTIPART = encode({"a": "1", "nested": {"b": "1", "big": "x" * 5000}, "body": "hi", "l": [1, Atom("x")]},
                   httpsig.NAME, bundle=True)


def _wallet() -> Wallet:
    if not (FIXTURES / "key-1.json").exists():
        pytest.skip("shared fixtures missing")
    return Wallet.load(FIXTURES / "key-1.json")


def _decode_verify(wire: dict[str, bytes]) -> None:
    msg = decode(wire, httpsig.NAME)
    if isinstance(msg, dict):
        verify(msg)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"signature-input": b'comm-x=("a";alg="hmac-sha256"'}, "signature-input"),
        ({"signature-input": b"comm-x=(\"a\")"}, "signature-input"),
        ({"signature": b"comm-x=:not base64!:"}, "signature"),
        ({"ao-types": b'n="no-such-type"'}, "no-such-type"),
        ({"ao-types": b"n=\"integer\", "}, "ao-types"),
        ({"ao-ids": b'abc=:AAAA:'}, "ao-ids"),
    ],
)
def test_malformed_headers_name_the_problem(change: dict[str, bytes], names: str) -> None:
    wire = {**SIGNED_HMAC, **change}
    with pytest.raises(DecodeError, match=names):
        decode(wire, httpsig.NAME)


def test_signature_of_wrong_length_is_invalid() -> None:
    signed = commit({"a": "b"}, _wallet())
    wire = encode(signed, httpsig.NAME)
    label, _, rest = wire["signature"].partition(b"=:")
    sig_b64 = rest.split(b":", 1)[0]
    shorter = wire["signature"].replace(sig_b64, sig_b64[:-8])
    with pytest.raises(AOError):
        _decode_verify({**wire, "signature": shorter})


def test_signature_by_another_key_is_invalid() -> None:
    signed = commit({"a": "b"}, _wallet())
    other = Wallet.load(FIXTURES / "key-2.json")
    forged = commit({"a": "b"}, other)
    rsa = {cid: c for cid, c in signed["commitments"].items() if c["type"] == b"rsa-pss-sha512"}
    (cid, commitment), = rsa.items()
    forged_sig = next(c["signature"] for c in forged["commitments"].values() if c["type"] == b"rsa-pss-sha512")
    bad = {**signed, "commitments": {cid: {**commitment, "signature": forged_sig}}}
    with pytest.raises(InvalidSignature):
        verify(bad)


def test_truncated_multipart() -> None:
    wire = dict(MULTIPART)
    wire["body"] = wire["body"][: len(wire["body"]) // 2]
    with pytest.raises(DecodeError, match="multipart"):
        decode(wire, httpsig.NAME)


def test_part_without_disposition() -> None:
    body = b"--B\r\nx: 1\r\n--B--"
    with pytest.raises(DecodeError, match="content-disposition"):
        decode({"content-type": b'multipart/form-data; boundary="B"', "body": body}, httpsig.NAME)


def test_bad_base64() -> None:
    with pytest.raises(DecodeError, match="base64"):
        b64url_decode("a")
    with pytest.raises(DecodeError, match="base64"):
        b64url_decode("é")


def test_unknown_ao_type_in_tabm() -> None:
    with pytest.raises(DecodeError, match="unknown ao-types type 'map'"):
        structured.to_wire({"x": b"1", "ao-types": b'x="map"'})


def test_list_with_gaps() -> None:
    with pytest.raises(DecodeError, match="1..n"):
        structured.to_wire({"1": b"a", "3": b"b", "ao-types": b'.="list"'})


def test_flat_cannot_carry_an_empty_map() -> None:
    with pytest.raises(AOError, match="empty map"):
        encode({"x": {}}, flat.NAME, bundle=True)


def test_json_rejects_non_utf8_and_garbage() -> None:
    with pytest.raises(AOError, match="UTF-8"):
        encode({"x": b"\xff"}, json.NAME)
    with pytest.raises(DecodeError, match="JSON"):
        decode(b"{nope", json.NAME)


# --- fuzzing: random and mutated input either decodes or raises an AOError ----------------

FUZZ = settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
HEADER_NAMES = st.sampled_from(
    ["signature", "signature-input", "ao-types", "ao-ids", "content-type", "ao-body-key",
     "content-digest", "body", "a", "n", "nested"])


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, byte in ops:
        if not buf:
            buf.append(byte)
            continue
        pos %= len(buf)
        if kind == 0:
            buf[pos] = byte
        elif kind == 1:
            del buf[pos]
        elif kind == 2:
            buf.insert(pos, byte)
        else:
            del buf[pos:]
    return bytes(buf)


mutations = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4)
seeds = st.sampled_from([SIGNED_HMAC, MULTIPART])


@FUZZ
@given(seeds, HEADER_NAMES, mutations)
def test_fuzz_httpsig_mutations(seed: dict[str, bytes], name: str, ops: list[tuple[int, int, int]]) -> None:
    wire = dict(seed)
    wire[name] = _mutate(wire.get(name, b""), ops)
    try:
        _decode_verify(wire)
    except AOError:
        pass


@FUZZ
@given(st.dictionaries(HEADER_NAMES, st.binary(max_size=60), max_size=5))
def test_fuzz_httpsig_random(wire: dict[str, bytes]) -> None:
    try:
        _decode_verify(wire)
    except AOError:
        pass


tabms = st.recursive(st.binary(max_size=20), lambda c: st.dictionaries(
    st.sampled_from(["ao-types", "1", "2", "x", "x+link", "commitments", "."]), c, max_size=4), max_leaves=8)


@FUZZ
@given(tabms, st.text(max_size=40))
def test_fuzz_structured(tabm: Any, types: str) -> None:
    if isinstance(tabm, dict):
        tabm["ao-types"] = types.encode("utf-8", "surrogateescape")
    try:
        structured.to_wire(tabm)
    except AOError:
        pass


@FUZZ
@given(st.binary(max_size=80))
def test_fuzz_flat_and_json(data: bytes) -> None:
    for run in (lambda: flat.deserialize(data), lambda: json.loads(data)):
        try:
            run()
        except AOError:
            pass


@FUZZ
@given(st.text(max_size=60))
def test_fuzz_structured_fields(text: str) -> None:
    for parse in (_sf.parse_dictionary, _sf.parse_item, _sf.parse_list):
        try:
            parse(text)
        except AOError:
            pass

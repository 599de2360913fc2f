"""The Erlang term subset green zones exchange: bytes as `term_to_binary` (OTP 26+) writes
them, per the External Term Format specification, and hostile input refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aonode.crypto import Wallet
from aonode.errors import DecodeError, EncodeError
from aonode.message import Atom
from aonode.tee import etf, zone
from aonode.tee.errors import AttestationError

RSA = Atom("rsa")

# (term, term_to_binary(term)) built by hand from the ETF specification's tag layouts.
VECTORS = [
    (RSA, bytes([131, 119, 3]) + b"rsa"),
    (65537, bytes([131, 98, 0, 1, 0, 1])),
    (7, bytes([131, 97, 7])),
    (-1, bytes([131, 98, 255, 255, 255, 255])),
    (2**40, bytes([131, 110, 6, 0, 0, 0, 0, 0, 0, 1])),
    (b"ab", bytes([131, 109, 0, 0, 0, 2]) + b"ab"),
    (((RSA, 65537), b"\x01"),
     bytes([131, 104, 2, 104, 2, 119, 3]) + b"rsa" + bytes([98, 0, 1, 0, 1, 109, 0, 0, 0, 1, 1])),
    ([], bytes([131, 106])),
    ([1], bytes([131, 108, 0, 0, 0, 1, 97, 1, 106])),
    ({RSA: True}, bytes([131, 116, 0, 0, 0, 1, 119, 3]) + b"rsa" + bytes([119, 4]) + b"true"),
]


@pytest.mark.parametrize(("term", "wire"), VECTORS)
def test_terms_encode_as_term_to_binary_and_back(term: object, wire: bytes) -> None:
    assert etf.encode(term) == wire
    assert etf.decode(wire) == term


def test_older_atom_forms_and_strings_are_read() -> None:
    assert etf.decode(bytes([131, 100, 0, 3]) + b"rsa") == RSA  # ATOM_EXT (OTP < 26)
    assert etf.decode(bytes([131, 115, 3]) + b"rsa") == RSA  # SMALL_ATOM_EXT
    assert etf.decode(bytes([131, 107, 0, 2, 104, 105])) == [104, 105]  # STRING_EXT


@pytest.mark.parametrize("wire", [
    b"", bytes([130, 97, 1]), bytes([131]), bytes([131, 109, 0, 0, 0, 9, 1]),  # truncated binary
    bytes([131, 104, 200]),  # a tuple promising more than the input holds
    bytes([131, 108, 255, 255, 255, 255, 97, 1]),  # a list bomb
    bytes([131, 97, 1, 0]),  # trailing bytes
    bytes([131, 70]) + bytes(8),  # a float: outside the subset
    bytes([131, 80, 0, 0, 0, 1]),  # a compressed term
    bytes([131, 108, 0, 0, 0, 1, 97, 1, 97, 2]),  # an improper list
    bytes([131]) + bytes([104, 1]) * 200 + bytes([106]),  # nested too deeply
])
def test_malformed_terms_are_refused(wire: bytes) -> None:
    with pytest.raises(DecodeError):
        etf.decode(wire)


def test_values_outside_the_subset_are_not_encoded() -> None:
    with pytest.raises(EncodeError):
        etf.encode(1.5)


terms = st.recursive(
    st.one_of(st.integers(), st.binary(max_size=20), st.booleans(), st.sampled_from([RSA, Atom("ok"), Atom("é")])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple)),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(terms)
def test_round_trip(term: object) -> None:
    assert etf.decode(etf.encode(term)) == term


def test_wallet_terms_round_trip() -> None:
    wallet = Wallet.generate(2048)  # recovering a 4096-bit key's primes takes a second here; the test is the same
    public = etf.decode(zone.public_term(wallet))
    assert public == ((RSA, 65537), wallet.modulus)
    assert etf.decode(zone.private_term(wallet))[2] == wallet.modulus  # type: ignore[index]
    key = zone.new_zone_key()
    sealed, iv = zone.seal_wallet(wallet, key)
    assert zone.open_wallet(sealed, iv, key).address == wallet.address
    with pytest.raises(Exception, match="not sealed under this green zone's key"):
        zone.open_wallet(sealed, iv, zone.new_zone_key())
    wrapped = zone.wrap_zone_key(key, zone.public_key_from_term(zone.public_term(wallet)))
    assert zone.unwrap_zone_key(wrapped, wallet) == key
    with pytest.raises(DecodeError):
        zone.public_key_from_term(etf.encode(((RSA, 65537), b"\x01\x00\x01")))  # a toy modulus
    assert not issubclass(DecodeError, AttestationError)

"""The codecs reached as devices (`aonode/devices/codecs.py`): a path step re-encodes its base."""

from __future__ import annotations

import json

import pytest

from aonode.codecs import CODECS, message_id
from aonode.core import resolve, resolve_path
from aonode.crypto import Wallet
from aonode.errors import BadMessage, DecodeError

OPTS = {"cache_control": ["no-cache", "no-store"], "hashpath": "ignore"}
MESSAGE = {"greeting": b"Hello", "count": 42, "nested": {"list": [1, b"two"]}}


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "structured@1.0"])
def test_to_then_from_gives_the_message_back(codec: str) -> None:
    wire = resolve({**MESSAGE, "device": codec}, {"path": "to"}, OPTS)
    assert wire.status == "ok"
    decoded = resolve({"device": codec, "body": wire.value}, {"path": "deserialize"}, OPTS)
    assert decoded.status == "ok"
    assert message_id(decoded.value) == message_id({**MESSAGE, "device": codec.encode()})


def test_serialize_gives_a_json_document_with_its_content_type() -> None:
    result = resolve_path('/~message@1.0&greeting="Hello"&count+integer=42/~json@1.0/serialize', OPTS)
    assert result.status == "ok"
    assert result.value["content-type"] == b"application/json"
    assert json.loads(result.value["body"]) == {"count": 42, "device": "json@1.0", "greeting": "Hello"}


def test_deserialize_of_a_missing_target_is_a_404() -> None:
    result = resolve({"device": "json@1.0"}, {"path": "deserialize", "target": "payload"}, OPTS)
    assert result.status == "error"
    assert result.value["status"] == 404
    assert b"payload" in result.value["body"]


def test_deserialize_of_malformed_json_is_a_client_error() -> None:
    with pytest.raises(DecodeError) as caught:
        resolve({"device": "json@1.0", "body": b"{not json"}, {"path": "deserialize"}, OPTS)
    assert caught.value.status == 400


def test_commit_signs_with_the_node_wallet_and_verify_checks_it() -> None:
    wallet = Wallet.generate()
    opts = {**OPTS, "priv_wallet": wallet}
    committed = resolve({**MESSAGE, "device": "httpsig@1.0"}, {"path": "commit"}, opts)
    assert committed.status == "ok"
    assert resolve(committed.value, {"path": "verify"}, opts).value is True
    assert "count" in resolve(committed.value, {"path": "committed"}, opts).value
    tampered = {**committed.value, "count": 43}
    assert resolve(tampered, {"path": "verify"}, opts).value is False


def test_commit_without_a_wallet_is_refused() -> None:
    with pytest.raises(BadMessage, match="no wallet"):
        resolve({**MESSAGE, "device": "json@1.0"}, {"path": "commit"}, OPTS)
    unsigned = resolve({**MESSAGE, "device": "json@1.0"}, {"path": "commit", "type": "unsigned"}, OPTS)
    assert unsigned.status == "ok" and unsigned.value["commitments"]

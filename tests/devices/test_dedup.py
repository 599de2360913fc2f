"""Port of the reference's `dev_dedup` tests (processes-compute.md §6.1, §7 dev_dedup.erl),
plus the rules of §6.1 one by one."""

from __future__ import annotations

from typing import Any

import pytest
from stack_helpers import append_device, stack

from aonode.codecs import commit, message_id
from aonode.core import get, resolve
from aonode.crypto import Wallet
from aonode.errors import BadMessage


def _send_twice_each(msg: dict[str, Any]) -> dict[str, Any]:
    """The reference's sequence: `_` twice, then `/` twice."""
    for separator in (b"_", b"_", b"/", b"/"):
        result = resolve(msg, {"path": "append", "bin": separator})
        assert result.status == "ok"
        msg = result.value
    return msg


def test_dedup() -> None:
    msg = stack(b"dedup@1.0", append_device(b"+D2"), append_device(b"+D3"),
                result=b"INIT", **{"dedup-subject": b"request"})
    assert _send_twice_each(msg)["result"] == b"INIT+D2_+D3_+D2/+D3/"


def test_dedup_with_multipass() -> None:
    msg = stack(b"dedup@1.0", append_device(b"+D2"), append_device(b"+D3"), b"multipass@1.0",
                result=b"INIT", passes=2, **{"dedup-subject": b"request"})
    assert _send_twice_each(msg)["result"] == b"INIT+D2_+D3_+D2_+D3_+D2/+D3/+D2/+D3/"


# --- §6.1 rule by rule ------------------------------------------------------------------

def test_first_sight_records_the_subject_id_at_the_head() -> None:
    first = resolve({"device": b"dedup@1.0"}, {"path": "compute", "body": b"one"})
    assert first.status == "ok"
    second = resolve(first.value, {"path": "compute", "body": b"two"})
    assert second.value["dedup"] == [message_id(b"two").encode(), message_id(b"one").encode()]


def test_seen_subject_skips_with_the_base_unchanged() -> None:
    seen = resolve({"device": b"dedup@1.0"}, {"path": "compute", "body": b"one"}).value
    again = resolve(seen, {"path": "compute", "body": b"one"})
    assert again.status == "skip"
    assert again.value["dedup"] == seen["dedup"]


def test_subject_defaults_to_body_and_missing_subject_passes() -> None:
    result = resolve({"device": b"dedup@1.0"}, {"path": "compute", "other": b"x"})
    assert result.status == "ok" and "dedup" not in result.value


def test_subject_key_from_the_base_then_the_request() -> None:
    base = {"device": b"dedup@1.0", "dedup-subject": b"item"}
    first = resolve(base, {"path": "compute", "item": b"a", "dedup-subject": b"other"}).value
    assert first["dedup"] == [message_id(b"a").encode()]
    from_request = resolve({"device": b"dedup@1.0"}, {"path": "compute", "dedup-subject": b"item", "item": b"b"})
    assert from_request.value["dedup"] == [message_id(b"b").encode()]


def test_subject_value_is_read_from_the_base_first() -> None:
    base = {"device": b"dedup@1.0", "dedup-subject": b"item", "item": b"in-base"}
    out = resolve(base, {"path": "compute", "item": b"in-request"}).value
    assert out["dedup"] == [message_id(b"in-base").encode()]


def test_request_subject_counts_all_commitments() -> None:
    wallet = Wallet.generate()
    request: dict[str, Any] = {"path": b"compute", "x": b"1"}
    signed = commit(request, wallet)
    base = {"device": b"dedup@1.0", "dedup-subject": b"request"}
    out = resolve(base, request).value
    assert out["dedup"] == [message_id(request, committers="all").encode()]
    # The same keys, signed: a different subject, so it is let through.
    again = resolve(out, signed)
    assert again.status == "ok"
    assert again.value["dedup"][0] == message_id(signed, committers="all").encode()


def test_only_the_first_pass_checks() -> None:
    seen = resolve({"device": b"dedup@1.0"}, {"path": "compute", "body": b"one"}).value
    for later in (2, 3):
        result = resolve({**seen, "pass": later}, {"path": "compute", "body": b"one"})
        assert result.status == "ok" and result.value["dedup"] == seen["dedup"]
    assert resolve({**seen, "pass": 1}, {"path": "compute", "body": b"one"}).status == "skip"


def test_keys_and_set_are_plain_message_functions() -> None:
    base: dict[str, Any] = {"device": b"dedup@1.0", "a": 1}
    assert resolve(base, {"path": "keys"}).value == [b"a", b"device"]
    updated = resolve(base, {"path": "set", "b": 2}).value
    assert {k: v for k, v in updated.items() if k != "priv"} == {"device": b"dedup@1.0", "a": 1, "b": 2}
    # Any other key is a dedup step, which returns the base (here: no subject, so unchanged).
    assert get("a", base)["a"] == 1
    assert resolve(base, {"path": "id"}).value == message_id(base).encode()


def test_bad_subject_key_is_a_clear_error() -> None:
    with pytest.raises(BadMessage, match="dedup-subject must name a key"):
        resolve({"device": b"dedup@1.0", "dedup-subject": {"x": 1}}, {"path": "compute", "body": b"x"})


def test_a_stack_skip_leaves_later_devices_unrun() -> None:
    msg = stack(b"dedup@1.0", append_device(b"+D"), result=b"INIT")
    once = resolve(msg, {"path": "append", "bin": b"1", "body": b"same"}).value
    twice = resolve(once, {"path": "append", "bin": b"2", "body": b"same"}).value
    assert twice["result"] == b"INIT+D1"

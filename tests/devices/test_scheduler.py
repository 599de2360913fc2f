"""scheduler@1.0 in-process (processes-compute.md §2; the non-network tests of
`dev_scheduler.erl`, §7), plus what the reference leaves to chance: every bad input is a 4xx
result that says what was wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from scheduler_helpers import check_assignment, check_chain, node_opts, scheduler_process, wallet

from aonode.codecs import commit, message_id, signers, verify
from aonode.core.resolver import resolve
from aonode.core.terms import Result
from aonode.crypto import Wallet
from aonode.devices import _scheduler_log as log
from aonode.devices.scheduler import find_message_to_schedule, find_target_id
from aonode.store import MemoryStore


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return wallet(1)


@pytest.fixture
def opts(owner: Wallet) -> dict[str, Any]:
    return node_opts(owner)


def post(base: Any, body: Any, opts: dict[str, Any], **extra: Any) -> Result:
    return resolve(base, {"path": "schedule", "method": b"POST", "body": body, **extra}, opts)


def get(base: Any, key: str, opts: dict[str, Any], **extra: Any) -> Result:
    return resolve(base, {"path": key, "method": b"GET", **extra}, opts)


def message(owner: Wallet, **keys: Any) -> dict[str, Any]:
    return commit({"type": b"Message", **keys}, owner)


def spawn(owner: Wallet, opts: dict[str, Any], **extra: Any) -> tuple[dict[str, Any], str]:
    process = commit(scheduler_process(owner.address, **extra), owner)
    result = post(process, process, opts)
    assert result.status == "ok", result
    assert result.value["slot"] == 0
    return process, message_id(process, committers="all")


def plain(msg: dict[str, Any]) -> dict[str, Any]:
    """A result without the hashpath the resolver adds."""
    return {k: v for k, v in msg.items() if k != "priv"}


def error_body(result: Result) -> tuple[int, bytes]:
    assert result.status in ("error", "failure"), result
    return result.value["status"], result.value.get("body", result.value.get("reason"))


# --- dev_scheduler.erl ----------------------------------------------------------------------


def test_status(owner: Wallet, opts: dict[str, Any]) -> None:
    found = get(scheduler_process(owner.address), "status", opts).value
    assert isinstance(found["processes"], list) and found["address"] == owner.address.encode()
    assert found["cache-control"] == b"no-store"


def test_register_new_process(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    assert proc_id.encode() in get(process, "status", opts).value["processes"]
    # The process is cached, so it can be read (and routed) by its ID.
    assert opts["cache"].read(proc_id) is not None


def test_schedule_message_and_get_slot(owner: Wallet, opts: dict[str, Any]) -> None:
    base = scheduler_process(owner.address)  # unsigned: its ID is the one without commitments
    for _ in range(2):
        assert post(base, message(owner, **{"test-key": b"true"}), opts).status == "ok"
    found = resolve(base, {"path": "slot", "method": b"GET", "process": message_id(base)}, opts).value
    assert found["current"] == 1 and found["process"] == message_id(base).encode()
    assert found["addresses"] == [owner.address.encode()]
    assert (found["timestamp"], found["block-height"]) == (0, 0)


def test_slot_is_minus_one_before_anything_is_scheduled(owner: Wallet, opts: dict[str, Any]) -> None:
    assert get(scheduler_process(owner.address), "slot", opts).value["current"] == -1


def test_redirect_to_hint(owner: Wallet, opts: dict[str, Any]) -> None:
    process = scheduler_process("A" * 43 + "?hint=http://test.computer")
    result = post(process, process, {**opts, "scheduler_follow_hints": True, "scheduler_follow_redirects": False})
    assert result.status == "ok"
    assert result.value["location"] == b"http://test.computer" and result.value["status"] == 307
    assert result.value["variant"] == b"ao.N.1"
    assert result.value["body"] == b"Redirecting to scheduler: http://test.computer"


def test_a_process_id_with_a_hint_redirects(owner: Wallet, opts: dict[str, Any]) -> None:
    target = "B" * 43 + "?hint=http://elsewhere.example:8734"
    no_follow = {**opts, "scheduler_follow_redirects": False}
    assert get({"device": b"scheduler@1.0"}, "slot", no_follow, target=target).value["location"] == \
        b"http://elsewhere.example:8734"
    ignored = {**no_follow, "scheduler_follow_hints": False}
    assert error_body(get({"device": b"scheduler@1.0"}, "slot", ignored, target=target))[0] == 404


def test_get_local_schedule(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    for value in (b"Test-Val", b"Test-Val-2"):
        assert post(process, message(owner, **{"test-key": value}), opts).status == "ok"
    found = get(process, "schedule", opts, target=proc_id).value
    assert found["type"] == b"schedule" and found["process"] == proc_id.encode()
    assert found["continues"] is False
    assert sorted(found["assignments"]) == ["0", "1", "2"]  # exactly the slot keys
    assignments = [found["assignments"][s] for s in ("0", "1", "2")]
    assert assignments[2]["body"]["test-key"] == b"Test-Val-2"
    for a in assignments:
        check_assignment(a, owner.address)
    check_chain(assignments)


def test_register_location_on_boot_in_process(owner: Wallet, opts: dict[str, Any]) -> None:
    # The boot hook's message, as `commit-request` would sign it with the node's wallet.
    hook = commit({"device": b"scheduler@1.0", "target": b"self", "require-codec": b"ans104@1.0",
                   "url": b"https://hyperbeam-test-ignore.com"}, owner)
    made = resolve(hook, {"path": "location", "method": b"POST"}, {**opts, "gateway": "http://127.0.0.1:9"})
    assert made.status == "ok", made
    assert signers(made.value) == [owner.address]
    verify(made.value)
    found = get({"device": b"scheduler@1.0"}, "location", opts, address=owner.address.encode()).value["body"]
    assert found["url"] == b"https://hyperbeam-test-ignore.com" and found["nonce"] == 0
    assert found["codec-device"] == b"ans104@1.0" and found["type"] == b"scheduler-location"


# --- POST schedule: validation and errors -------------------------------------------------------


def test_unsigned_messages_are_refused_by_default(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    unsigned = {"type": b"Message", "target": proc_id.encode(), "n": 1}
    assert error_body(post(process, unsigned, opts)) == (400, b"Message is not valid.")
    assert post(process, unsigned, opts).value["reason"].startswith(b"Given message is invalid: it is not signed")
    assert post(process, unsigned, {**opts, "verify_assignments": "accept_unsigned"}).value["slot"] == 1
    assert post(process, unsigned, {**opts, "verify_assignments": False}).value["slot"] == 2


def test_a_forged_signature_is_refused(owner: Wallet, opts: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    forged = {**message(owner, amount=b"1"), "amount": b"1000"}
    for mode in (True, "accept_unsigned"):
        assert error_body(post(process, forged, {**opts, "verify_assignments": mode})) == \
            (400, b"Message is not valid.")
    assert post(process, forged, {**opts, "verify_assignments": False}).status == "ok"


def test_unknown_process_is_a_404(owner: Wallet, opts: dict[str, Any]) -> None:
    status, body = error_body(post({"device": b"scheduler@1.0"}, message(owner, target=b"C" * 43), opts))
    assert status == 404 and b"C" * 43 in body and b"not available" in body


def test_a_process_without_scheduler_is_a_400(owner: Wallet, opts: dict[str, Any]) -> None:
    process = commit({"device": b"scheduler@1.0", "type": b"Process", "n": 1}, owner)
    assert error_body(post(process, process, opts)) == (400, b"No scheduler information provided.")


def test_disabled_scheduling_is_a_503(owner: Wallet, opts: dict[str, Any]) -> None:
    process = commit(scheduler_process(owner.address), owner)
    assert error_body(post(process, process, {**opts, "scheduling_mode": "disabled"}))[0] == 503


def test_schedule_answers_get_and_post_only(owner: Wallet, opts: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    assert error_body(resolve(process, {"path": "schedule", "method": b"PUT"}, opts))[0] == 405


def test_bad_subject_and_binary_body(owner: Wallet, opts: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    assert error_body(post(process, None, opts, subject=b"missing"))[0] == 400
    assert error_body(resolve(process, {"path": "schedule", "method": b"POST", "body": b"raw bytes"}, opts))[0] == 400


def test_every_local_identity_named_signs(owner: Wallet) -> None:
    other = wallet(2)
    opts = node_opts(owner, identities={"second": {"priv_wallet": other}})
    process = commit(scheduler_process(owner.address, scheduler=[owner.address.encode(), b"second"]), owner)
    found = post(process, process, opts).value
    assert set(signers(found)) == {owner.address, other.address}
    slot = get(process, "slot", opts).value
    assert sorted(slot["addresses"]) == sorted([owner.address.encode(), other.address.encode()])


def test_scheduler_list_as_text(owner: Wallet, opts: dict[str, Any]) -> None:
    process = commit(scheduler_process(owner.address, scheduler=f'"{"Z" * 43}", {owner.address}'.encode()), owner)
    assert post(process, process, opts).value["slot"] == 0


# --- GET schedule ---------------------------------------------------------------------------------


def test_schedule_range_cap_and_prefix(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    store = opts["cache"].store
    for slot in range(1, 1101):
        log.write({"process": proc_id.encode(), "slot": slot, "variant": b"ao.N.1", "body": {"n": slot}}, store)
    first = get(process, "schedule", opts).value
    assert len(first["assignments"]) == 1001 and first["continues"] is True
    rest = get(process, "schedule", opts, **{"from": b"1050"}).value
    assert sorted(map(int, rest["assignments"])) == list(range(1050, 1101)) and rest["continues"] is False
    window = get(process, "schedule", opts, **{"from": 3, "to": b"5"}).value
    assert sorted(window["assignments"]) == ["3", "4", "5"]
    assert get(process, "schedule", opts, **{"from": 9, "to": 5}).value["assignments"] == {}
    assert sorted(get(process, "schedule", opts, **{"from": b"-4", "to": 1}).value["assignments"]) == ["0", "1"]
    log.write({"process": proc_id.encode(), "slot": 1102, "variant": b"ao.N.1", "body": {"n": 1102}}, store)
    beyond = get(process, "schedule", opts, **{"from": 1099}).value  # slot 1101 is missing
    assert sorted(beyond["assignments"]) == ["1099", "1100"]


@pytest.mark.parametrize("bad", [{"from": b"x"}, {"to": b"1.5"}, {"from": b"ten"}])
def test_bad_range_is_a_400(owner: Wallet, opts: dict[str, Any], bad: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    status, body = error_body(get(process, "schedule", opts, **bad))
    assert status == 400 and b"must be an integer slot" in body


def test_schedule_as_aos2(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    for n in range(10):
        post(process, message(owner, inner=b"test", target=proc_id.encode(), n=n), opts)
    found = get(process, "schedule", opts, **{"from": 0, "to": 10, "accept": b"application%2Faos-2"}).value
    assert found["content-type"] == b"application/json"
    page = json.loads(found["body"])
    assert len(page["edges"]) == 11
    assert page["page_info"] == {"process": proc_id, "has_next_page": False, "timestamp": "0", "block-height": "0",
                                 "block-hash": "A" * 43}
    edge = page["edges"][3]
    assert edge["cursor"] == 3
    msg = edge["node"]["message"]
    assert msg["Owner"] == owner.address and msg["From"] == owner.address and msg["Target"] == proc_id
    assert {"name": "Inner", "value": "test"} in msg["Tags"] and {"name": "Type", "value": "Message"} in msg["Tags"]
    tags = {t["name"]: t["value"] for t in edge["node"]["assignment"]["Tags"]}
    assert tags["Slot"] == "3" and tags["Process"] == proc_id and tags["Epoch"] == "0"
    assert tags["Ao-Types"].startswith('block-height="integer"')
    assert "Hash-Chain" in tags and "Body" not in tags and "Body+link" not in tags


# --- next (for process@1.0) ------------------------------------------------------------------------


def state_of(process: dict[str, Any], at_slot: int | None = -1, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"device": b"scheduler@1.0", "process": process, **extra}
    if at_slot is not None:
        out["at-slot"] = at_slot
    return out


def test_next_walks_the_schedule(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    for n in range(3):
        post(process, message(owner, target=proc_id.encode(), n=n), opts)
    state = state_of(process, None)  # no at-slot: -1
    seen = []
    while True:
        found = resolve(state, {"path": "next"}, opts)
        if found.status != "ok":
            assert found.value == {"status": 404, "reason": b"Requested slot not yet available in schedule."}
            break
        seen.append(found.value["body"]["slot"])
        state = {**found.value["state"], "at-slot": seen[-1]}
    assert seen == [0, 1, 2, 3]


def test_next_through_the_schedule_keeps_the_rest_in_priv(owner: Wallet, opts: dict[str, Any]) -> None:
    process, proc_id = spawn(owner, opts)
    for n in range(3):
        post(process, message(owner, target=proc_id.encode(), n=n), opts)
    no_log = {**opts, "scheduler_ignore_local_cache": True}
    found = resolve(state_of(process, 0), {"path": "next"}, no_log).value
    assert found["body"]["slot"] == 1
    held = found["state"]["priv"]["scheduler@1.0"]["assignments"]
    assert [a["slot"] for a in held] == [2, 3]
    # The held assignments are used first, without reading the log or the schedule.
    again = resolve({**found["state"], "at-slot": 1}, {"path": "next"}, no_log).value
    assert again["body"]["slot"] == 2 and [a["slot"] for a in again["state"]["priv"]["scheduler@1.0"]
                                           ["assignments"]] == [3]
    plain = resolve(state_of(process, 0), {"path": "next"}, {**no_log, "scheduler_in_memory_cache": False}).value
    assert "scheduler@1.0" not in (plain["state"].get("priv") or {})


def test_next_checks_the_slot(owner: Wallet, opts: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    wrong = {"slot": 7, "body": {}}
    found = resolve(state_of(process, 2, priv={"scheduler@1.0": {"assignments": [wrong]}}), {"path": "next"}, opts)
    assert found.status == "error"
    assert found.value == {"status": 404, "reason": b"Received assignment slot does not match expected slot.",
                           "unexpected-slot": 7, "expected-slot": 3}
    junk = {"slot": b"seven", "body": {}}
    found = resolve(state_of(process, 2, priv={"scheduler@1.0": {"assignments": [junk]}}), {"path": "next"}, opts)
    assert found.status == "failure" and found.value["status"] == 500
    assert found.value["reason"] == b"Unprocessable slot value received in assignment."


def test_next_of_an_unknown_process_is_a_404(owner: Wallet, opts: dict[str, Any]) -> None:
    stranger = commit(scheduler_process(owner.address), wallet(2))
    found = resolve(state_of(stranger, -1), {"path": "next"}, {**opts, "cache": node_opts(owner)["cache"]})
    # The scheduler is local but nothing was scheduled yet.
    assert found.value["status"] == 404


# --- find_target_id, find_message_to_schedule (§2.2, §2.3) -------------------------------------------


def test_find_target_id_order(owner: Wallet) -> None:
    proc = commit(scheduler_process(owner.address), owner)
    proc_id = message_id(proc, committers="all")
    req = {"path": b"x", "n": 1}
    assert find_target_id({}, {**req, "target": b"T" * 43}, {}) == "T" * 43
    assert find_target_id({}, proc, {}) == proc_id
    assert find_target_id({"process": proc}, req, {}) == proc_id
    assert find_target_id({"process": b"Q" * 43}, req, {}) == "Q" * 43
    assert find_target_id(proc, req, {}) == proc_id
    assert find_target_id({"n": 2}, req, {}) == message_id(req, committers="all")


def test_find_message_to_schedule() -> None:
    body = {"n": 1}
    assert find_message_to_schedule({"body": body, "k": {"m": 2}}, {}) == body
    assert find_message_to_schedule({"subject": b"k", "k": {"m": 2}}, {}) == {"m": 2}
    request = {"subject": b"self", "body": body}
    assert find_message_to_schedule(request, {}) == request
    assert find_message_to_schedule({"x": b"1"}, {}) == {"x": b"1"}


# --- location ------------------------------------------------------------------------------------


def location_post(opts: dict[str, Any], request: dict[str, Any], base: dict[str, Any] | None = None) -> Result:
    return resolve(base or {"device": b"scheduler@1.0"}, {**request, "path": "location", "method": b"POST"},
                   {**opts, "gateway": "http://127.0.0.1:9"})


def test_operator_location_records_and_nonces(owner: Wallet, opts: dict[str, Any]) -> None:
    signed = commit({"url": b"https://one.example", "nonce": 1}, owner)
    first = location_post(opts, signed)
    assert first.status == "ok" and first.value["nonce"] == 1 and first.value["url"] == b"https://one.example"
    assert first.value["codec-device"] == b"httpsig@1.0" and first.value["variant"] == b"ao.N.1"
    assert first.value["time-to-live"] == 7 * 24 * 60 * 60 * 1000
    verify(first.value)
    again = location_post(opts, commit({"url": b"https://two.example"}, owner))
    assert again.value["nonce"] == 2  # the known nonce + 1
    stale = location_post(opts, commit({"url": b"https://old.example", "nonce": 2}, owner))
    assert error_body(stale) == (400, b"Known nonce higher than requested nonce.")
    assert stale.value["requested-nonce"] == 2 and stale.value["existing-nonce"] == 2
    found = get({"device": b"scheduler@1.0"}, "location", opts).value["body"]
    assert found["url"] == b"https://two.example"


def test_foreign_location_records_are_cached_when_genuine(owner: Wallet, opts: dict[str, Any]) -> None:
    other = wallet(2)
    record = commit({"type": b"scheduler-location", "url": b"http://other.example", "nonce": 3}, other)
    assert plain(location_post(opts, record).value) == record
    found = get({"device": b"scheduler@1.0"}, "location", opts, address=other.address.encode()).value
    assert found["body"] == record
    replay = commit({"type": b"scheduler-location", "url": b"http://evil.example", "nonce": 3}, other)
    assert error_body(location_post(opts, replay))[0] == 400
    forged = {**commit({"url": b"http://x.example", "nonce": 9}, other), "url": b"http://evil.example"}
    assert error_body(location_post(opts, forged)) == (400, b"Failed to store new scheduler location.")
    unsigned = {"url": b"http://x.example", "nonce": 10}
    assert error_body(location_post(opts, unsigned))[0] == 400
    # An unsigned request carrying the record as its body stands for the record.
    carried = commit({"type": b"scheduler-location", "url": b"http://other3.example", "nonce": 11}, other)
    assert plain(location_post(opts, {"body": carried}).value) == carried
    # The `record` key (where HyperBEAM peers send notifications) does the same.
    newer = commit({"type": b"scheduler-location", "url": b"http://other2.example", "nonce": 12}, other)
    assert resolve({"device": b"scheduler@1.0"}, {**newer, "path": "record", "method": b"POST"}, opts).status == "ok"


def test_unknown_location_is_a_404_message(owner: Wallet, opts: dict[str, Any]) -> None:
    found = get({"device": b"scheduler@1.0"}, "location", opts, address=b"N" * 43)
    assert found.status == "ok"
    assert plain(found.value) == {"status": 404, "body": b"No location found for address: " + b"N" * 43}


def test_redirect_from_a_cached_location(owner: Wallet, opts: dict[str, Any]) -> None:
    other = wallet(2)
    location_post(opts, commit({"type": b"scheduler-location", "url": b"http://127.0.0.1:9", "nonce": 1}, other))
    process = commit(scheduler_process(other.address), other)
    redirect = post(process, process, {**opts, "scheduler_follow_redirects": False}).value
    assert redirect["location"] == b"http://127.0.0.1:9" and redirect["status"] == 307
    followed = post(process, process, opts)  # nobody listens there
    assert followed.status == "error" and followed.value["status"] == 502


def test_no_known_location_is_a_404(owner: Wallet, opts: dict[str, Any]) -> None:
    process = commit(scheduler_process("D" * 43), owner)
    with _graphql_gateway(b'{"data": {"transactions": {"edges": []}}}') as gateway:
        routes = [{"template": "^/graphql", "node": {"prefix": gateway}}]
        status, body = error_body(post(process, process, {**opts, "routes": routes}))
    assert status == 404 and b"No scheduler location" in body and b"D" * 43 in body


def test_an_unreachable_gateway_is_a_502_naming_the_scheduler(owner: Wallet, opts: dict[str, Any]) -> None:
    """Issue 18 item 7: the location is asked through the node's routes, and a gateway that cannot
    be asked is the gateway's failure (502), not an unknown scheduler."""
    process = commit(scheduler_process("E" * 43), owner)
    routes = [{"template": "^/graphql", "node": {"prefix": "http://127.0.0.1:9"}}]  # nobody listens
    status, body = error_body(post(process, process, {**opts, "routes": routes}))
    assert status == 502 and b"E" * 43 in body and b"/graphql" in body


@contextmanager
def _graphql_gateway(answer: bytes) -> Iterator[str]:
    """A real HTTP server on loopback answering every POST with `answer` (JSON)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- the rest of the surface ------------------------------------------------------------------------


def test_checkpoint_and_init(owner: Wallet, opts: dict[str, Any]) -> None:
    process, _ = spawn(owner, opts)
    assert plain(resolve(process, {"path": "checkpoint"}, opts).value) == process
    # `init` is exported but has no function: the default handler reads the schedule.
    assert resolve(process, {"path": "init"}, opts).value["type"] == b"schedule"
    # Keys the device does not export are plain message keys.
    assert resolve(process, {"path": "image"}, opts).value == b"wasm-image-id"


def test_a_scheduler_store_keeps_the_log_apart(owner: Wallet) -> None:
    separate = MemoryStore()
    opts = node_opts(owner, scheduler_store=separate)
    process, proc_id = spawn(owner, opts)
    assert log.slots(proc_id, separate) == [0]
    assert log.slots(proc_id, opts["cache"].store) == []
    assert proc_id.encode() in get(process, "status", opts).value["processes"]

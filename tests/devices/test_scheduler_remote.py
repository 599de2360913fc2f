"""scheduler@1.0 talking to a legacy (ao.TN.1) scheduler and a gateway (processes-compute.md
§2.6, §2.7, §2.10, §2.11), offline: a stub HTTP server on loopback answers with the recorded
legacy SU JSON of `scheduler_vectors/legacy.json` and a GraphQL scheduler-location record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from scheduler_helpers import node_opts, wallet

from aonode.codecs import DataItem, ans104, commit, decode, signers
from aonode.core.resolver import resolve
from aonode.crypto import b64url_encode
from aonode.devices import _scheduler_formats as formats
from aonode.devices import _scheduler_log as log

LEGACY = json.loads((Path(__file__).parent / "scheduler_vectors" / "legacy.json").read_text())
PROC_ID = LEGACY["process_id"]


class Stub:
    """A legacy SU and a gateway in one: it records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.url = ""
        self.location_item: DataItem | None = None


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            stub.requests.append(("GET", self.path, b""))
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == f"/{PROC_ID}/latest":
                self._send(200, LEGACY["latest"])
            elif parts.path == f"/{PROC_ID}":
                self._send(200, {**LEGACY["schedule"], "edges": LEGACY["schedule"]["edges"][:3]})
            elif "process-id" in query:
                self._send(200, LEGACY["schedule"]["edges"][0]["node"])
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            stub.requests.append(("POST", self.path, body))
            if self.path == "/graphql" and stub.location_item is not None:
                item = stub.location_item
                node = {"id": b64url_encode(item.id), "anchor": None, "signature": b64url_encode(item.signature),
                        "recipient": "", "owner": {"key": b64url_encode(item.owner)},
                        "tags": [{"name": n.decode(), "value": v.decode()} for n, v in item.tags],
                        "data": {"size": "0"}}
                self._send(200, {"data": {"transactions": {"edges": [{"node": node, "cursor": "x"}]}}})
            elif self.path == "/graphql":
                self._send(200, {"data": {"transactions": {"edges": []}}})
            elif self.path.startswith("/?proc-id="):
                self._send(200, {"timestamp": 1700000000000, "id": LEGACY["schedule"]["edges"][0]["node"]["message"]
                                 ["id"]})
            else:
                self._send(404, {"error": "not found"})

    return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    found = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def legacy_process() -> dict[str, Any]:
    """A legacy process whose scheduler is the test wallet that signs the stub's location
    record (the recorded process names the recording's SU, whose key is not kept)."""
    item = DataItem(tags=[("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Process"),
                          ("Scheduler", wallet(2).address)], data=b"1984").sign(wallet(1))
    found = decode(item.serialize(), ans104.NAME)
    assert isinstance(found, dict)
    return found


def location_record(url: str, variant: str = "ao.TN.1") -> DataItem:
    """A legacy scheduler-location transaction, as the gateway holds it."""
    return DataItem(tags=[("Type", "Scheduler-Location"), ("Url", url), ("Time-To-Live", "3600000"),
                          ("Variant", variant)]).sign(wallet(2))


def opts_for(stub: Stub, **extra: Any) -> dict[str, Any]:
    return node_opts(wallet(1), gateway=stub.url, scheduler_async_remote_cache=False, **extra)


def base_of(process: dict[str, Any]) -> dict[str, Any]:
    return {"device": b"scheduler@1.0", "process": process}


def test_the_gateway_names_the_legacy_scheduler(stub: Stub, legacy_process: dict[str, Any]) -> None:
    stub.location_item = location_record(stub.url)
    opts = opts_for(stub, scheduler_follow_redirects=False)
    redirect = resolve(base_of(legacy_process), {"path": "slot", "target": PROC_ID}, opts).value
    assert redirect["location"] == stub.url.encode() and redirect["variant"] == b"ao.TN.1"
    assert [r[1] for r in stub.requests] == ["/graphql"]
    query = json.loads(stub.requests[0][2])
    assert query["variables"] == {"SchedulerAddrs": [wallet(2).address]}
    # The record is cached under its signer: the next request does not ask the gateway.
    assert log.read_location(wallet(2).address, opts["cache"].store) is not None


def test_no_location_anywhere_is_a_404(stub: Stub, legacy_process: dict[str, Any]) -> None:
    found = resolve(base_of(legacy_process), {"path": "slot", "target": PROC_ID}, opts_for(stub))
    assert found.status == "error" and found.value["status"] == 404


def test_legacy_slot_schedule_and_post(stub: Stub, legacy_process: dict[str, Any]) -> None:
    stub.location_item = location_record(stub.url)
    opts = opts_for(stub)
    base = base_of(legacy_process)
    current = resolve(base, {"path": "slot", "target": PROC_ID}, opts).value
    assert current["current"] == 2 and current["process"] == PROC_ID.encode()
    assert current["block-hash"] == formats.ZERO_ID.encode()
    schedule = resolve(base, {"path": "schedule", "method": b"GET", "target": PROC_ID}, opts).value
    assert sorted(schedule["assignments"]) == ["0", "1", "2"]
    assert schedule["assignments"]["1"]["body"]["data"] == b"return 1 + 1"
    asked = [r[1] for r in stub.requests if r[1].startswith(f"/{PROC_ID}?")][0]
    assert parse_qs(urlsplit(asked).query) == {"proc-id": [PROC_ID], "process-id": [PROC_ID],
                                               "from-nonce": ["-1"], "limit": ["1000"]}
    # What was read is cached (converted on read), so a narrower read is served locally.
    assert log.read(PROC_ID, 2, opts["cache"].store) is not None
    before = len(stub.requests)
    window = resolve(base, {"path": "schedule", "method": b"GET", "target": PROC_ID, "from": 1, "to": 2}, opts).value
    assert sorted(window["assignments"]) == ["1", "2"] and len(stub.requests) == before
    page = resolve(base, {"path": "schedule", "method": b"GET", "target": PROC_ID, "from": 0, "to": 1,
                          "accept": b"application/aos-2"}, opts).value
    assert [e["cursor"] for e in json.loads(page["body"])["edges"]] == [0, 1]
    # Only an ANS-104 signature can go to a legacy scheduler.
    httpsig = commit({"type": b"Message", "target": PROC_ID.encode(), "action": b"ping"}, wallet(1))
    refused = resolve(base, {"path": "schedule", "method": b"POST", "body": httpsig}, opts)
    assert refused.value == {"status": 422, "body": b"Process resides on legacy scheduler. Message must be signed "
                                                    b"with ANS-104."}
    tabm = ans104.commit({"Type": b"Message", "Action": b"ping", "target": PROC_ID.encode()},  # type: ignore[dict-item]
                         wallet(1))
    item = decode(ans104.to_wire(tabm), ans104.NAME)
    assert isinstance(item, dict)
    posted = resolve(base, {"path": "schedule", "method": b"POST", "body": item}, opts)
    assert posted.status == "ok" and posted.value["slot"] == 0  # the SU's answer, converted
    method, path, sent = stub.requests[-2]
    assert (method, path) == ("POST", f"/?proc-id={PROC_ID}")
    assert signers(decode(sent, ans104.NAME)) == [wallet(1).address]  # type: ignore[arg-type]

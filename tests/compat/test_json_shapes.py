"""Issue 18 item 4: `json@1.0` shapes, against a real node over HTTP.

`dev_codec_json:to/3` (HyperBEAM main): the message is converted to structured form; in bundle
mode (`bundle: true` in the request) every link is loaded (`hb_cache:ensure_all_loaded`) and
written inline; otherwise nested maps and lists are linkified to `key+link` IDs (which the
node has stored, so a client can fetch them). A nested message keeps its own `commitments`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from aonode_process import Node, post, signed
from oracle import FIXTURES

from aonode.codecs import message_id
from aonode.crypto import Wallet


@pytest.fixture(scope="module")
def process(node: Node, client: httpx.Client) -> str:
    """A process (run by `test-device@1.0`) with a nested map, spawned and given one message."""
    owner = Wallet.load(FIXTURES / "key-1.json") if (FIXTURES / "key-1.json").exists() else Wallet.generate()
    scheduler = Wallet.load(node.data_dir / "wallet.json").address
    proc = signed({"device": "process@1.0", "type": "Process", "execution-device": "test-device@1.0",
                   "scheduler": scheduler, "scheduler-device": "scheduler@1.0",
                   "settings": {"mode": "strict", "limits": {"depth": "2"}}}, owner)
    pid = message_id(proc, committers="all")
    spawned = post(client, {"path": "/~scheduler@1.0/schedule", "method": "POST", "body": proc})
    assert spawned.status_code == 200, spawned.text
    sent = post(client, {"path": f"/{pid}/schedule", "method": "POST",
                         "body": signed({"target": pid, "type": "Message", "x": "1"}, owner)})
    assert sent.status_code == 200, sent.text
    return pid


def _document(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    document = json.loads(response.content)
    assert isinstance(document, dict)
    return document


def test_a_bundle_loads_links_and_writes_them_inline(client: httpx.Client, process: str) -> None:
    inline = _document(client.get("/~json@1.0/serialize", headers={"proc+link": process, "bundle": "true"}))
    assert "proc+link" not in inline
    proc = inline["proc"]
    assert proc["settings"] == {"limits": {"depth": "2"}, "mode": "strict"}
    # The loaded message keeps its own commitments: its signature and the ID it gives.
    assert process in proc["commitments"]
    linked = _document(client.get("/~json@1.0/serialize", headers={"proc+link": process}))
    assert linked["proc+link"] == process and "proc" not in linked


def test_a_bundle_with_a_link_the_node_lacks_is_a_404(client: httpx.Client) -> None:
    missing = "A" * 43
    answer = client.get("/~json@1.0/serialize", headers={"proc+link": missing, "bundle": "true"})
    assert answer.status_code == 404, answer.text
    assert missing in answer.text


def test_now_nested_maps_inline_with_their_commitments_or_linked(client: httpx.Client, process: str) -> None:
    bundled = _document(client.get(f"/{process}/now/serialize~json@1.0?bundle=true"))
    assert process in bundled["process"]["commitments"]
    assert bundled["process"]["settings"]["limits"] == {"depth": "2"}
    assert bundled["results"] == {"assignment-slot": 1}
    # As the node's own JSON answer with accept-bundle, which aoconnect asks for.
    answer = _document(client.get(f"/{process}/now", headers={"accept": "application/json",
                                                              "accept-bundle": "true"}))
    assert process in answer["process"]["commitments"] and answer["commitments"]
    # Without a bundle, nested maps and lists are `+link` IDs the node can serve.
    linked = _document(client.get(f"/{process}/now/serialize~json@1.0"))
    assert linked["process+link"] == process
    for key, expected in (("results+link", ("assignment-slot", 1)), ("already-seen+link", ("body", [1, 0]))):
        fetched = _document(client.get(f"/{linked[key]}", headers={"require-codec": "application/json",
                                                                   "accept-bundle": "true"}))
        assert fetched[expected[0]] == expected[1], (key, fetched)


def test_a_bundled_json_reply_writes_links_inline(client: httpx.Client, process: str) -> None:
    """The node's own JSON answer with `accept-bundle` (as aoconnect asks) goes through the same
    codec: a result holding a link (here `message@1.0` echoing a `proc+link` request key) has
    the linked message inline; one the node lacks stays a link rather than failing the reply."""
    asked = {"accept": "application/json", "accept-bundle": "true"}
    inline = _document(client.get("/~message@1.0", headers={**asked, "proc+link": process}))
    assert "proc+link" not in inline and process in inline["proc"]["commitments"]
    assert inline["proc"]["settings"]["mode"] == "strict"
    missing = "B" * 43
    kept = _document(client.get("/~message@1.0", headers={**asked, "proc+link": missing}))
    assert kept["proc+link"] == missing
    linked = _document(client.get("/~message@1.0", headers={"accept": "application/json", "proc+link": process}))
    assert linked["proc+link"] == process

"""Generator of `legacy.json`: legacy (ao.TN.1) scheduler answers shaped as permaweb/ao
`servers/su` sends them (processes-compute.md §2.9, §2.13), for the conversion tests.

The items are real ANS-104 data items, signed by a fresh RSA-4096 wallet, written the way a
legacy SU and a GraphQL gateway present them: `{id, owner: {address, key}, data, tags:
[{name, value}], signature, anchor, target}`. The assignment hash chain follows the legacy
rule (`HC_n = b64url(SHA-256(decode(prev assignment id) || decode(HC_{n-1})))`). Run it with
`python tests/devices/scheduler_vectors/make_legacy.py` to write a new file; the committed
file is what the tests check, so their expectations hold for any run of this script.
"""

from __future__ import annotations

import json
from pathlib import Path

from aonode.codecs import DataItem
from aonode.crypto import Wallet, b64url_decode, b64url_encode, sha256

HERE = Path(__file__).parent


def item_json(item: DataItem, *, data_field: bool = True) -> dict[str, object]:
    out: dict[str, object] = {
        "id": b64url_encode(item.id),
        "owner": {"address": item.owner_address, "key": b64url_encode(item.owner)},
        "tags": [{"name": n.decode(), "value": v.decode()} for n, v in item.tags],
        "signature": b64url_encode(item.signature),
        "anchor": b64url_encode(item.anchor) if item.anchor else None,
        "target": b64url_encode(item.target) if item.target else "",
    }
    if data_field:
        out["data"] = item.data.decode()
    return out


def main() -> None:
    user = Wallet.generate()
    su = Wallet.generate()
    process = DataItem(tags=[("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Process"),
                             ("Module", "M" * 43), ("Scheduler", su.address)],
                       data=b"1984").sign(user)
    proc_id = b64url_encode(process.id)
    chain = b64url_encode(sha256(process.id))
    edges = []
    previous_assignment = None
    for nonce in range(0, 4):
        message = DataItem(target=process.id, anchor=bytes(range(32)) if nonce == 2 else b"",
                           tags=[("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Message"),
                                 ("Action", "Eval")],
                           data=f"return {nonce} + 1".encode()).sign(user)
        if previous_assignment is not None:
            chain = b64url_encode(sha256(previous_assignment.id + b64url_decode(chain)))
        assignment = DataItem(tags=[
            ("Process", proc_id), ("Epoch", "0"), ("Nonce", str(nonce)), ("Hash-Chain", chain),
            ("Block-Height", f"{1500000 + nonce:012d}"), ("Timestamp", str(1700000000000 + nonce)),
            ("Data-Protocol", "ao"), ("Type", "Assignment"), ("Variant", "ao.TN.1"),
            ("Message", b64url_encode(message.id)),
        ]).sign(su)
        previous_assignment = assignment
        node = {"message": item_json(message), "assignment": item_json(assignment, data_field=nonce != 1)}
        if nonce == 3:
            node["message"] = None  # an assignment of an existing transaction: the SU omits it
        edges.append({"node": node, "cursor": str(1700000000000 + nonce)})
    location = DataItem(tags=[("Type", "Scheduler-Location"), ("Url", "https://su.example"),
                              ("Time-To-Live", "3600000"), ("Variant", "ao.TN.1")]).sign(su)
    out = {
        "process": item_json(process),
        "process_id": proc_id,
        "su_address": su.address,
        "schedule": {"page_info": {"has_next_page": False}, "edges": edges},
        "latest": edges[2]["node"],
        "graphql_location": {"data": {"transactions": {"edges": [
            {"node": {**item_json(location, data_field=False), "data": {"size": "0"}}, "cursor": "c1"},
        ]}}},
    }
    (HERE / "legacy.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

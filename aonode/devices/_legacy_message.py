"""Messages in the legacy AO form (ao.TN.1/ao.N.1 JSON) and legacy results back as messages
(processes-compute.md §4.5-4.6): what a legacy module's `handle(msg, env)` receives and returns.

    message_json(msg, ...)   {Id, Owner, From, Tags, Target, Data, Anchor, Signature, Module,
                             Block-Height, Timestamp, Nonce, Epoch, Hash-Chain, Cron}
    env_json(process, ...)   {Process: {Id, Owner, Tags, ...}, Module: {Id, Tags}}
    results(raw, ...)        {raw, outbox, patches, data}: the result as a message
    dry_run_answer(results)  the same, with `raw` also under `results/raw`
    encode(value)            a message or env as the JSON a WASM module's `handle` reads
    response(text)           the legacy result in a module's `{"ok": true, "response": R}`

Tags are the message's original ANS-104 tags when it has them, else its keys in header case
(`block-height` → `Block-Height`). Unlike json-iface in the reference, the message carries the
legacy CU's `Timestamp`, `Nonce`, `Epoch`, `Hash-Chain` and `Cron` (AOS reads `msg.Timestamp`
for `os.time`), and the env has the legacy `Module` object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aonode.codecs import message_id, signers
from aonode.errors import AOError
from aonode.message import erlang_key_order, sequence_index
from aonode.text import as_text

__all__ = ["dry_run_answer", "encode", "env_json", "header_case", "message_json", "response", "results"]

# Keys that are fields of the legacy message, not tags.
_FIELDS = ("id", "anchor", "owner", "data", "target", "signature", "commitments", "priv", "path", "method")


def header_case(key: str) -> str:
    """`block-height` → `Block-Height`."""
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


def _ans104_commitment(msg: Mapping[str, Any]) -> Mapping[str, Any] | None:
    commitments = msg.get("commitments")
    if not isinstance(commitments, Mapping):
        return None
    for commitment in commitments.values():
        if not isinstance(commitment, Mapping):
            continue
        if as_text(commitment.get("commitment-device"), errors="replace", none="", bools=True) == "ans104@1.0":
            return commitment
    return None


def _key_tags(msg: Mapping[str, Any], skip: set[str]) -> list[dict[str, str]]:
    tags = []
    for key in erlang_key_order([k for k in msg if k not in _FIELDS and k.lower() not in skip]):
        value = msg[key]
        if isinstance(value, (bytes, str, int, float, bool)):
            tags.append({"name": header_case(key), "value": as_text(value, errors="replace", none="", bools=True)})
    return tags


def _tags(msg: Mapping[str, Any]) -> list[dict[str, str]]:
    """The original ANS-104 tags, in order, then every other key (e.g. one a dry run's URL
    added) in header case."""
    commitment = _ans104_commitment(msg)
    original = commitment.get("original-tags") if commitment is not None else None
    if isinstance(original, Mapping):
        original = [original[k] for k in sorted(original, key=sequence_index)]
    if not isinstance(original, list):
        return _key_tags(msg, set())
    tags = [{"name": as_text(t.get("name"), errors="replace", none="", bools=True),
             "value": as_text(t.get("value"), errors="replace", none="", bools=True)} for t in original
            if isinstance(t, Mapping)]
    return tags + _key_tags(msg, {t["name"].lower() for t in tags})


def _id(msg: Mapping[str, Any]) -> str:
    try:
        return message_id(dict(msg), committers="all")
    except AOError:
        return ""


def _signature(msg: Mapping[str, Any]) -> str:
    commitments = msg.get("commitments")
    if isinstance(commitments, Mapping):
        for commitment in commitments.values():
            if isinstance(commitment, Mapping) and commitment.get("signature") is not None:
                return as_text(commitment["signature"], errors="replace", none="", bools=True)
    return ""


def _core(msg: Mapping[str, Any]) -> dict[str, Any]:
    owner = (signers(dict(msg)) or [""])[0]
    return {
        "Id": _id(msg),
        "Anchor": as_text(msg.get("anchor"), errors="replace", none="", bools=True),
        "Owner": owner,
        "From": as_text(msg.get("from-process"), errors="replace", none="", bools=True) or owner,
        "Tags": _tags(msg),
        "Target": as_text(msg.get("target"), errors="replace", none="", bools=True),
        "Data": as_text(msg.get("data"), errors="replace", none="", bools=True),
        "Signature": _signature(msg),
    }


def message_json(msg: Mapping[str, Any], *, module: str, assignment: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The legacy form of `msg`, as scheduled by `assignment` (None: a dry run) on a process
    running `module`."""
    out = _core(msg)
    assigned = assignment or {}
    out.update({
        "Module": module,
        "Block-Height": int(assigned.get("block-height") or 0),
        "Timestamp": int(assigned.get("timestamp") or 0),
        "Nonce": int(assigned.get("slot") or 0),
        "Epoch": 0,
        "Hash-Chain": as_text(assigned.get("hash-chain"), errors="replace", none="", bools=True),
        "Cron": False,
    })
    if not out["Target"] and assignment is not None:
        out["Target"] = as_text(assigned.get("process"), errors="replace", none="", bools=True)
    return out


def env_json(process: Mapping[str, Any], process_id: str, module: Mapping[str, Any] | None, module_id: str
             ) -> dict[str, Any]:
    """The legacy env: the process (with its ID) and the module."""
    return {
        "Process": {**_core(process), "Id": process_id},
        # The module's tags, never its code (a WASM body as a tag made AOS parse MBs per message).
        "Module": {"Id": module_id,
                   "Tags": _tags({k: v for k, v in module.items() if k not in ("body", "data")}) if module else []},
    }


def _tag_map(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in tags.values() if isinstance(tags, Mapping) else tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and "name" in tag:
            out[as_text(tag["name"], errors="replace", none="", bools=True)] = tag.get("value", b"")
    return out


def _outbox_entry(message: Any, process_id: str, module_id: str) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        return {"data": message, "from-process": process_id, "from-image": module_id}
    plain = {k: v for k, v in message.items() if k not in ("from-process", "from-image", "anchor", "tags")}
    tags = message.get("Tags", message.get("tags"))
    return {**plain, **_tag_map(tags), "from-process": process_id.encode(), "from-image": module_id.encode()}


def _numbered(values: Any) -> dict[str, Any]:
    if isinstance(values, Mapping):
        values = [values[k] for k in sorted(values, key=sequence_index)]
    return {str(i): v for i, v in enumerate(values if isinstance(values, list) else [], 1)}


def results(raw: Mapping[str, Any], process_id: str, module_id: str) -> dict[str, Any]:
    """A legacy result `{Output, Messages, Spawns, Assignments, Error, Patches}` as the
    `results` message: `raw` (the result as it came), `outbox`, `patches` and `data`."""
    normalized = {
        "Output": raw.get("Output", {}),
        "Messages": list(_numbered(raw.get("Messages")).values()),
        "Spawns": list(_numbered(raw.get("Spawns")).values()),
        "Assignments": list(_numbered(raw.get("Assignments")).values()),
        **{k: v for k, v in raw.items() if k not in ("Output", "Messages", "Spawns", "Assignments")},
    }
    if raw.get("Error") is not None:
        return {"raw": normalized, "outbox": {}, "patches": {}, "data": raw["Error"]}
    output = raw.get("Output")
    if isinstance(output, Mapping) and "data" in output:
        data = output["data"]
    elif isinstance(output, (bytes, str)):
        data = output
    else:
        data = raw.get("Data", b"")
    outbox = {k: _outbox_entry(m, process_id, module_id) for k, m in _numbered(raw.get("Messages")).items()}
    patches = {k: _tag_map(p.get("Tags", p.get("tags"))) if isinstance(p, Mapping) else p
               for k, p in _numbered(raw.get("patches", raw.get("Patches"))).items()}
    return {"raw": normalized, "outbox": outbox, "patches": patches, "data": data}


def dry_run_answer(results: Mapping[str, Any]) -> dict[str, Any]:
    """A dry run's answer: the `results` message, whose `raw` aoconnect 0.0.98 reads, with
    `raw` also under `results/raw`, where 0.0.91-0.0.97 read it (their dry run asks the same
    path; clients-legacy-users.md §1.1). Only `raw` is repeated, not the outbox."""
    return {**results, "results": {"raw": results["raw"]}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def encode(value: Mapping[str, Any]) -> bytes:
    """A legacy message or env (`message_json`, `env_json`) as JSON text."""
    return json.dumps(_jsonable(value)).encode()


def response(text: bytes) -> dict[str, Any] | None:
    """R of a module's answer `{"ok": true, "response": R}`, its text as binaries; None when the
    answer is not JSON of that shape."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("ok") is not True or not isinstance(parsed.get("response"), dict):
        return None
    found: dict[str, Any] = _from_json(parsed["response"])
    return found

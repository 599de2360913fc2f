"""Uploads to a bundler (`hb_client:upload`, node-services.md §14.6).

A committed message is posted once per commitment device it carries:

    ans104@1.0    the serialized data item, `POST <bundler_ans104>/tx`,
                  `content-type: application/octet-stream`
    httpsig@1.0   the message as httpsig@1.0, `POST <bundler_httpsig>/tx`
                  (no `bundler_httpsig` configured: that upload is refused, as in the reference)

`uploads(msg, opts)` builds the requests (no I/O); `deliver(upload, opts)` sends one and says
whether the bundler accepted it. The durable outbox (`aonode.arweave.outbox`) stores each
upload before it is sent and keeps it until a bundler accepts it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aonode.codecs import ans104, encode, httpsig, message_id, with_only_committed
from aonode.core import options
from aonode.errors import BadMessage
from aonode.text import as_text

__all__ = ["Delivery", "Upload", "deliver", "uploads"]

_CODEC_OPTION = {ans104.NAME: "bundler_ans104", httpsig.NAME: "bundler_httpsig"}


@dataclass(frozen=True)
class Upload:
    """One request to a bundler: `POST <bundler>/tx` with `headers` and `body`.

    `key` names it durably (`<message id>.<codec>`): the same message uploaded twice is one
    upload."""

    key: str
    message_id: str
    codec: str
    bundler: str
    headers: dict[str, str]
    body: bytes

    def to_json(self) -> bytes:
        return json.dumps({"key": self.key, "message_id": self.message_id, "codec": self.codec,
                           "bundler": self.bundler, "headers": self.headers,
                           "body": base64.b64encode(self.body).decode()}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Upload:
        found = json.loads(data)
        return cls(found["key"], found["message_id"], found["codec"], found["bundler"], dict(found["headers"]),
                   base64.b64decode(found["body"]))


@dataclass(frozen=True)
class Delivery:
    """What a bundler said: `accepted` (2xx), its status and answer (or the network error)."""

    accepted: bool
    status: int
    answer: bytes


def _devices(msg: Mapping[str, Any]) -> list[str]:
    found = msg.get("commitments")
    if not isinstance(found, Mapping) or not found:
        raise BadMessage("Only committed messages can be uploaded: this one has no commitments.")
    devices = []
    for commitment in found.values():
        device = (as_text(commitment.get("commitment-device", ""), errors="surrogateescape")
                  if isinstance(commitment, Mapping) else "")
        if device in _CODEC_OPTION and device not in devices and "committer" in commitment:
            devices.append(device)
    if not devices:
        raise BadMessage("Only messages signed with ans104@1.0 or httpsig@1.0 can be uploaded to a bundler.")
    return devices


def uploads(msg: Mapping[str, Any], opts: Mapping[str, Any]) -> list[Upload]:
    """The bundler requests for a signed message, one per commitment device.

    Raises:
        BadMessage: the message carries no ans104@1.0 or httpsig@1.0 signature, or it is an
            httpsig message and no `bundler_httpsig` is configured.
    """
    out = []
    for device in _devices(msg):
        option = _CODEC_OPTION[device]
        bundler = options.get(opts, option, None)
        if not bundler:
            raise BadMessage(f"No {option} is configured: this node cannot upload {device} messages.")
        committed = with_only_committed(dict(msg))
        if device == ans104.NAME:
            body = encode(committed, ans104.NAME)
            assert isinstance(body, bytes)
            headers = {"content-type": "application/octet-stream"}
            uid = message_id(committed, committers="all")
        else:
            wire = encode(committed, httpsig.NAME, bundle=True)
            raw = wire.pop("body", b"")
            headers = {k: as_text(v, errors="surrogateescape") for k, v in wire.items()}
            body = raw if isinstance(raw, bytes) else as_text(raw, errors="surrogateescape").encode()
            uid = message_id(committed, committers="all")
        out.append(Upload(f"{uid}.{device.replace('@', '-')}", uid, device,
                          as_text(bundler, errors="surrogateescape").rstrip("/"), headers, body))
    return out


def deliver(upload: Upload, opts: Mapping[str, Any]) -> Delivery:
    """`POST <bundler>/tx`; accepted on a 2xx answer. Never raises for network failures.

    The bundler is an explicit URL, so no route applies (the reference posts to it directly
    too); the request is the stored bytes exactly, on the node's shared HTTP client with its
    `http_connect_timeout` and `http_request_send_timeout`."""
    import httpx

    from aonode.net.client import GATEWAY_TIMEOUT, shared_client

    connect = float(options.get(opts, "http_connect_timeout", 5000)) / 1000
    total = float(options.get(opts, "http_request_send_timeout", 60000)) / 1000
    url = f"{upload.bundler}/tx"
    try:
        response = shared_client(opts).post(url, headers=upload.headers, content=upload.body,
                                            timeout=httpx.Timeout(total, connect=min(connect, total)))
    except httpx.TimeoutException as exc:
        return Delivery(False, GATEWAY_TIMEOUT, f"POST {url}: timed out ({exc})".encode())
    except httpx.HTTPError as exc:
        return Delivery(False, 502, f"POST {url}: {type(exc).__name__}: {exc or 'connection failed'}".encode())
    return Delivery(200 <= response.status_code < 300, response.status_code, response.content)

"""A Python client for AO-Core nodes, speaking as `@permaweb/aoconnect` 0.0.98 does in mainnet mode.

    from aonode.client import Client
    from aonode.crypto import Wallet

    with Client("http://localhost:8734", Wallet.load("wallet.json")) as ao:
        module = ao.upload_module(open("aos_legacy.lua", "rb").read())
        pid = ao.spawn(module, tags={"Name": "demo"})
        slot = ao.message(pid, tags={"Action": "Eval"}, data="1 + 1")
        print(ao.result(pid, slot)["Output"])          # {'data': '2', ...}
        print(ao.dryrun(pid, tags={"Action": "Info"}))  # runs without changing the process

The verbs send the requests aoconnect sends (clients-legacy-users.md §1.2-1.4): every one is a
`POST` whose body is a signed ANS-104 data item (`Content-Type: application/ans104`,
`codec-device: ans104@1.0`), with the control fields (`accept-bundle`, `require-codec`, ...) and
the user's tags as item tags, in aoconnect's order:

    address      GET  /~meta@1.0/info/address                         text: the node's address
    spawn        POST /push                                           header `process`
    message      POST /<pid>~process@1.0/push                         JSON `slot`
    result       POST /<pid>~process@1.0/compute/results=<slot>       JSON `raw`
    results      POST /<pid>/slot/current, then
                 POST /<pid>/compute/results=<current>                text, then JSON `raw`
    dryrun       POST /<pid>~process@1.0/as=execution/compute&K=V...  JSON `raw`

Where this client differs from aoconnect, on purpose:

* dry-run tags are escaped in the path, and put in (no-op) double quotes where the node's path
  syntax needs it: around a value holding `/`, `&`, `?`, `(` or `)`, and when the segment
  `compute&K=V...` would otherwise be 32, 42 or 43 bytes long, which the node (as HyperBEAM)
  reads as an ID. aoconnect sends the tags verbatim, and such dry runs fail;
* `spawn` first asks the node for the module (``GET /<module>/id``), since a node schedules a
  process whatever its module and only fails at its first computation (``check_module=False``
  sends exactly aoconnect's requests);
* every answer is checked: aoconnect spawns with whatever text a failed `info/address`
  returned, and reads a result without `raw` as an empty one.

`upload_module` has no aoconnect counterpart: it stores a module on the node as a signed
`httpsig@1.0` message.

The module is split in two: the protocol (`build_item`, `sign_item`, the `*_request` builders
returning a `Request`, and the `parse_*` readers of answers) is pure and does no I/O; `Client`
sends the requests with `httpx`. Every failure is a `ClientError`, which carries the HTTP status
and the node's own message; a node that does not answer in time raises `NodeUnavailable`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import quote, unquote

import httpx

from aonode.codecs import DataItem, commit, encode, message_id
from aonode.crypto import Wallet, b64url_decode, b64url_encode
from aonode.errors import AOError
from aonode.hyper_aos import legacy_result

__all__ = [
    "ANS104_HEADERS",
    "DEFAULT_DATA",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "Client",
    "ClientError",
    "NodeUnavailable",
    "ProtocolError",
    "Request",
    "Tags",
    "address_request",
    "build_item",
    "dryrun_request",
    "message_request",
    "node_message",
    "parse_address",
    "parse_current_slot",
    "parse_process_id",
    "parse_result",
    "parse_slot",
    "result_request",
    "results_requests",
    "sign_item",
    "spawn_request",
]

DEFAULT_URL = "http://localhost:8734"
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a node: to connect, and between bytes of an answer."""
DEFAULT_DATA = "1984"
"""aoconnect's data when a call gives none."""

ANS104_HEADERS: Mapping[str, str] = {"Content-Type": "application/ans104", "codec-device": "ans104@1.0"}

Tags: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str] | Mapping[str, str]]
"""A call's tags: a mapping, (name, value) pairs, or aoconnect's ``[{"name": ..., "value": ...}]``.
As in aoconnect (`Object.fromEntries`), a repeated name keeps its first place and its last value."""

# ao-core-libs turns every field into a tag except these (compared in lower case).
_NOT_TAGS = frozenset({"target", "anchor", "data", "data-protocol", "variant", "dryrun", "type", "path", "method"})
# Tag names that would change the request itself in aoconnect (its URL, method, target, data or
# anchor) rather than add a tag; refused here.
_RESERVED = frozenset({"path", "method", "target", "anchor", "data"})
# Characters that give a dry-run path structure (hyperpath.py §7): a value holding one is quoted.
_PATH_SYNTAX = re.compile(r"[/&?()]")
_KEY_SYNTAX = re.compile(r'[/&?()"=+~\s]')
_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
_SLOT = re.compile(r"^-?[0-9]+$")
_MAX_MESSAGE = 500


# --- errors -----------------------------------------------------------------------------------


class ClientError(AOError):
    """The node refused a request or answered something this client cannot read.

    `status` is the HTTP status of the answer; `message` is what the node said (its error text,
    shortened), prefixed with the request. `body` holds the whole answer."""

    def __init__(self, message: str, *, status: int, method: str = "", url: str = "", body: bytes = b"") -> None:
        super().__init__(message, status=status)
        self.method = method
        self.url = url
        self.body = body


class NodeUnavailable(ClientError):
    """No answer: the node refused the connection or did not answer within the timeout (status 503,
    or 504 for a timeout)."""


class ProtocolError(ClientError):
    """A 2xx answer that lacks what the call needs (a `process` header, a `slot`, a `raw` result)."""


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request, before it is signed: the item's target, data and tags, or none of them
    for a plain `GET`."""

    method: str
    path: str
    target: str = ""
    data: bytes = b""
    tags: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_ans104(self) -> bool:
        return self.headers.get("Content-Type") == ANS104_HEADERS["Content-Type"]


def _js_key_order(keys: Iterable[str]) -> list[str]:
    """The order of a JavaScript object's keys: array indices ascending, then the others in
    insertion order (which a dict keeps, even when a key is set again)."""
    keys = list(keys)
    index = sorted((k for k in keys if k.isascii() and k.isdigit() and len(k) <= 10 and k == str(int(k))
                    and int(k) < 2**32 - 1), key=int)
    return index + [k for k in keys if k not in set(index)]


def _tag_dict(tags: Tags | None) -> dict[str, str]:
    """`Object.fromEntries(tags)`, refusing names that aoconnect would read as request fields."""
    pairs = tags.items() if isinstance(tags, Mapping) else (tags or ())
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, Mapping) and set(pair) == {"name", "value"}:
            name, value = pair["name"], pair["value"]
        elif isinstance(pair, tuple | list) and len(pair) == 2:
            name, value = pair
        else:
            raise TypeError(f"a tag must be a (name, value) pair or a {{name, value}} map, got {pair!r}")
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"tag names and values must be str, got {pair!r}")
        if not name:
            raise ValueError("a tag name cannot be empty")
        if name in _RESERVED:
            raise ValueError(f"{name!r} cannot be a tag name: it is a field of the request itself")
        out[name] = value
    return out


def _data(data: bytes | str | None, default: str = DEFAULT_DATA) -> bytes:
    if data is None:
        return default.encode()
    return data.encode() if isinstance(data, str) else bytes(data)


def _check_id(value: str, what: str) -> str:
    """`value` if it is a canonical 43-character base64url ID (32 bytes that encode back to it)."""
    if not isinstance(value, str) or not _ID.match(value) or b64url_encode(b64url_decode(value)) != value:
        raise ValueError(f"{what} must be an ID (43 base64url characters, the canonical form of 32 bytes), "
                         f"got {value!r}")
    return value


def _slot_text(slot: int | str) -> str:
    """A slot as it goes into the path: integers as decimal, text as given (the node judges it)."""
    if isinstance(slot, bool):
        raise TypeError("a slot is an integer")
    text = str(slot)
    if not text or any(c in text for c in "/?#&") or not text.isprintable():
        raise ValueError(f"not a slot: {slot!r}")
    return quote(text, safe="-")


def _ans104(path: str, fields: Mapping[str, str], *, target: str = "", data: bytes = b"") -> Request:
    """ao-core-libs' ANS-104 request: `fields` in order become tags, except the ones it keeps out,
    followed by `Data-Protocol`, `Type` and `Variant` (`fields`' `Type`/`Variant`, or the defaults)."""
    kind = fields.get("Type", "Message")
    variant = fields.get("Variant", "ao.N.1")
    tags = [(k, fields[k]) for k in _js_key_order(fields) if k.lower() not in _NOT_TAGS]
    tags += [("Data-Protocol", "ao"), ("Type", kind), ("Variant", variant)]
    return Request("POST", path, target=target, data=data, tags=tuple(tags), headers=dict(ANS104_HEADERS))


# aoconnect's parameter sets (`baseParams` after `path`/`method` are taken out by ao-core-libs).
_BASE = {"signing-format": "ans104", "accept-bundle": "true"}
_HTTP = {**_BASE, "accept-codec": "httpsig@1.0"}
_JSON = {**_BASE, "require-codec": "application/json"}
_AO_PROCESS = {"Type": "Process", "Data-Protocol": "ao", "Variant": "ao.N.1"}
_AO_MESSAGE = {"Type": "Message", "Data-Protocol": "ao", "Variant": "ao.N.1"}


def address_request() -> Request:
    """`GET /~meta@1.0/info/address`, unsigned: the node's (and scheduler's) address."""
    return Request("GET", "/~meta@1.0/info/address")


def spawn_request(module: str, scheduler: str, *, authority: str | None = None, tags: Tags | None = None,
                  data: bytes | str | None = None) -> Request:
    """`POST /push`: a `Type=Process` item with no target that runs `module` (`genesis-wasm@1.0`),
    scheduled by `scheduler` and trusting `authority` (default: the scheduler)."""
    fields = {
        "device": "process@1.0",
        "scheduler-device": "scheduler@1.0",
        "push-device": "push@1.0",
        "execution-device": "genesis-wasm@1.0",
        "Authority": authority or scheduler,
        "Scheduler": _check_id(scheduler, "the scheduler"),
        "Module": _check_id(module, "the module"),
        **_tag_dict(tags),
        **_AO_PROCESS,
        **_HTTP,
    }
    return _ans104("/push", fields, data=_data(data))


def message_request(process: str, *, tags: Tags | None = None, data: bytes | str | None = None) -> Request:
    """`POST /<pid>~process@1.0/push`: schedule a `Type=Message` item to the process and compute it."""
    _check_id(process, "the process")
    fields = {**_tag_dict(tags), **_AO_MESSAGE, **_JSON}
    return _ans104(f"/{process}~process@1.0/push", fields, target=process, data=_data(data))


def result_request(process: str, slot: int | str) -> Request:
    """`POST /<pid>~process@1.0/compute/results=<slot>`: the results of one slot."""
    _check_id(process, "the process")
    return _ans104(f"/{process}~process@1.0/compute/results={_slot_text(slot)}", dict(_JSON),
                   target=process, data=_data(None))


def results_requests(process: str, current: int | str | None = None) -> Request:
    """The two requests of `results`: without `current`, `POST /<pid>/slot/current`; with it,
    `POST /<pid>/compute/results=<current>`. Neither has a target or data."""
    _check_id(process, "the process")
    if current is None:
        return _ans104(f"/{process}/slot/current", dict(_HTTP))
    return _ans104(f"/{process}/compute/results={_slot_text(current)}", dict(_JSON))


def _path_value(text: str) -> str:
    """A dry-run tag value as the node must read it (before percent-encoding). The node decodes the
    whole path and then splits it, so escaping alone cannot protect `/`, `&`, `?`, `(` or `)`: a
    value holding them is put in double quotes, which the splitter respects and the node strips."""
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        raise ValueError(f"a dry-run tag value in parentheses would be read as a sub-path: {text!r}")
    if '"' in text:
        if text.startswith('"') or text.count('"') % 2 or _PATH_SYNTAX.search(text):
            raise ValueError("a dry-run tag value can only hold double quotes in pairs, not first, and "
                             f"without / & ? ( ): {text!r}")
        return text
    return f'"{text}"' if _PATH_SYNTAX.search(text) else text


# A path segment of 32, 42 or 43 bytes is an ID to the node, whatever it holds (HyperBEAM's `?IS_ID`).
_ID_LENGTHS = frozenset({32, 42, 43})


def _compute_segment(inline: list[tuple[str, str]]) -> str:
    """`compute&K=V...`, percent-encoded. When the decoded segment would be as long as an ID, values
    are put in (no-op) quotes until it is not."""
    def decoded() -> str:
        return "compute" + "".join(f"&{k}={v}" for k, v in inline)

    for i, (name, value) in enumerate(inline):
        if len(decoded().encode()) not in _ID_LENGTHS:
            break
        if '"' not in value:
            inline[i] = (name, f'"{value}"')
    if len(decoded().encode()) in _ID_LENGTHS:
        raise ValueError("the dry-run tags make a path segment the node would read as an ID; add or change a tag")
    return "compute" + "".join(f"&{quote(k, safe='')}={quote(v, safe='')}" for k, v in inline)


def dryrun_request(process: str, *, tags: Tags | None = None, data: bytes | str | None = None) -> Request:
    """`POST /<pid>~process@1.0/as=execution/compute&K=V...`: run a message without scheduling it.
    The tags travel in the path only (escaped), the data in the item."""
    _check_id(process, "the process")
    inline = []
    for name, value in _tag_dict(tags).items():
        if _KEY_SYNTAX.search(name):
            raise ValueError(f"a dry-run tag name cannot hold spaces or any of / & ? ( ) \" = + ~: {name!r}")
        inline.append((name, _path_value(value)))
    path = f"/{process}~process@1.0/as=execution/{_compute_segment(inline)}"
    return _ans104(path, dict(_JSON), target=process, data=_data(data))


# --- items ------------------------------------------------------------------------------------


def build_item(request: Request) -> DataItem:
    """The unsigned data item of an ANS-104 request (no anchor, as ao-core-libs sends it)."""
    target = b64url_decode(request.target) if request.target else b""
    return DataItem(tags=request.tags, target=target, data=request.data)


def sign_item(item: DataItem, wallet: Wallet) -> DataItem:
    """Sign `item` with `wallet` as Node's `crypto` does for aoconnect: RSA-PSS over SHA-256 with
    the longest salt the key allows (verifiers recover the salt, so any length verifies)."""
    unsigned = replace(item, owner=wallet.modulus, signature=b"")
    em_len = (wallet.key.key_size - 1 + 7) // 8
    signature = wallet.sign(unsigned.signature_data(), "sha256", salt_length=em_len - 32 - 2)
    signed = replace(unsigned, signature=signature)
    signed.verify()  # as ao-core-libs does before it sends an item
    return signed


# --- answers ----------------------------------------------------------------------------------


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def node_message(body: bytes, content_type: str = "") -> str:
    """The node's own words in an error answer: the `body`/`error`/`message` of a JSON answer, else
    the text of the body."""
    text = body.decode("utf-8", "replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, dict):
            for key in ("error", "message", "body", "reason", "details"):
                value = found.get(key)
                if isinstance(value, str) and value:
                    return _short(value)
    return _short(text) if text else "(no message)"


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"{what}: the answer is not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise ValueError(f"{what}: the answer is not a JSON object")
    return found


def parse_address(body: bytes) -> str:
    """The text of `~meta@1.0/info/address`: one 43-character ID."""
    text = body.decode("utf-8", "replace").strip()
    if not _ID.match(text):
        raise ValueError(f"the node's address is not an ID: {_short(text)!r}")
    return text


def parse_process_id(headers: Mapping[str, str]) -> str:
    """The new process's ID from the `process` header of a spawn answer (URL-decoded, as HyperBEAM
    may encode IDs in headers)."""
    found = unquote(str(headers.get("process") or ""))
    if not _ID.match(found):
        raise ValueError(f"the spawn answer has no process ID in a `process` header (got {_short(found)!r})")
    return found


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _SLOT.match(value.strip()):
        return int(value)
    return None


def parse_slot(body: bytes) -> int:
    """The `slot` of a message answer (JSON)."""
    slot = _integer(_json(body, "message").get("slot"))
    if slot is None:
        raise ValueError("the message answer has no integer `slot`")
    return slot


def parse_current_slot(body: bytes) -> int:
    """The text answer of `slot/current`."""
    slot = _integer(body.decode("utf-8", "replace").strip())
    if slot is None:
        raise ValueError(f"slot/current is not an integer: {_short(body.decode('utf-8', 'replace'))!r}")
    return slot


def parse_result(body: bytes) -> dict[str, Any]:
    """The legacy result of a compute or dry-run answer, with aoconnect's defaults: `Output` {},
    `Messages`, `Spawns` and `Assignments` [], and `Error` (None when there was none).

    It is the answer's `raw` (what aoconnect 0.0.98 reads), else its `results/raw` (what 0.0.93
    reads; a whole process state has it there), else one made of its `results` (a process
    whose execution device gives no legacy result, e.g. `stack@1.0` over `lua@5.3a`)."""
    answer = _json(body, "result")
    raw = answer.get("raw")
    results = answer.get("results")
    if not isinstance(raw, dict) and isinstance(results, dict):
        raw = results.get("raw")
        if not isinstance(raw, dict):
            raw = legacy_result(results)
    if not isinstance(raw, dict):
        raise ValueError("the answer has no `raw` result")
    return {"Output": {}, "Messages": [], "Assignments": [], "Spawns": [], "Error": None,
            **{k: v for k, v in raw.items() if v is not None}}


# --- the client -------------------------------------------------------------------------------


class Client:
    """A connection to one node, signing with one wallet.

    Args:
        url: the node, e.g. ``http://localhost:8734``.
        wallet: the Arweave wallet that signs every request (`Wallet.load(path)`).
        timeout: seconds to wait to connect and for each read; a node slower than that raises
            `NodeUnavailable` (status 504).
        scheduler: the scheduler address for `spawn`; by default the node's own, asked once.
        transport: an `httpx` transport (tests; e.g. an ASGI app in this process).

    Raises (every method):
        ClientError: the node answered with a status outside 2xx (the node's message and status
            are in the error), or `ProtocolError`: a 2xx answer without what the call needs.
        NodeUnavailable: no answer in time, or no connection.
        ValueError: an argument that cannot become a request (an ID that is not one, a reserved
            tag name); nothing is sent.
    """

    def __init__(self, url: str, wallet: Wallet, *, timeout: float = DEFAULT_TIMEOUT, scheduler: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.wallet = wallet
        self.timeout = timeout
        self._scheduler = scheduler
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- I/O -----------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
              content: bytes | None = None) -> httpx.Response:
        """One request, with transport failures as `NodeUnavailable`."""
        where = f"{method} {path}"
        try:
            return self._http.request(method, path, headers=headers, content=content)
        except httpx.TimeoutException as exc:
            raise NodeUnavailable(f"{where}: no answer from {self.url} within {self.timeout:g} s",
                                  status=504, method=method, url=self.url + path) from exc
        except httpx.TransportError as exc:
            raise NodeUnavailable(f"{where}: cannot reach {self.url}: {exc}", status=503, method=method,
                                  url=self.url + path) from exc

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        raise ClientError(
            f"{response.request.method} {response.request.url.raw_path.decode('ascii', 'replace')}: "
            f"{response.status_code} {node_message(response.content, response.headers.get('content-type', ''))}"
            + (f" ({response.headers['reason']})" if response.headers.get("reason") else ""),
            status=response.status_code, method=response.request.method, url=str(response.request.url),
            body=response.content)

    def send(self, request: Request) -> httpx.Response:
        """Send a `Request` (signing its item with the client's wallet) and return the 2xx answer."""
        content: bytes | None = None
        if request.is_ans104:
            content = sign_item(build_item(request), self.wallet).serialize()
        return self._checked(self._send(request.method, request.path, headers=request.headers, content=content))

    @staticmethod
    def _read(response: httpx.Response, parse: Any, *args: Any) -> Any:
        """`parse(*args)`, with a malformed answer as `ProtocolError`."""
        try:
            return parse(*args)
        except ValueError as exc:
            raise ProtocolError(f"{response.request.method} {response.request.url.path}: {exc}",
                                status=response.status_code, method=response.request.method,
                                url=str(response.request.url), body=response.content) from None

    # -- the verbs ------------------------------------------------------------------------------

    def address(self) -> str:
        """The node's address (its wallet's), which is also its scheduler's."""
        response = self.send(address_request())
        address: str = self._read(response, parse_address, response.content)
        return address

    def upload_module(self, source: bytes | str, content_type: str = "application/lua") -> str:
        """Store a module on the node and return its ID (what `spawn` takes as `module`).

        The module is a signed `httpsig@1.0` message ``{content-type, body: source}``; the node
        stores a signed request it verified, under the ID of all its commitments. The upload is
        confirmed by reading the module's `content-type` back by that ID.

        Raises:
            ClientError: the node refused the module, or does not keep it (it may not store
                signed requests: `store_all_signed`).
        """
        body = source.encode() if isinstance(source, str) else bytes(source)
        module = commit({"content-type": content_type, "body": body}, self.wallet, bundle=True)
        module_id = message_id(module, committers="all")
        wire = encode(module, "httpsig@1.0", bundle=True)
        content = wire.pop("body", b"")
        headers = {k: v.decode("latin-1") for k, v in wire.items()}
        self._checked(self._send("POST", "/content-type", headers=headers, content=content))
        stored = self._send("GET", f"/{module_id}/content-type")
        if not stored.is_success or stored.content.decode("utf-8", "replace").strip() != content_type:
            raise ClientError(
                f"the node took the module but does not serve it as {module_id} "
                f"({stored.status_code} {node_message(stored.content)}); does it store signed requests?",
                status=stored.status_code if not stored.is_success else 502, method="GET",
                url=str(stored.request.url), body=stored.content)
        return module_id

    def scheduler(self) -> str:
        """The scheduler `spawn` uses: the one given to the client, else the node's address."""
        if self._scheduler is None:
            self._scheduler = self.address()
        return self._scheduler

    def spawn(self, module: str, *, tags: Tags | None = None, data: bytes | str | None = None,
              scheduler: str | None = None, authority: str | None = None, check_module: bool = True) -> str:
        """Start a legacy (`genesis-wasm@1.0`) process running `module`; return its ID.

        Args:
            module: the module's ID (`upload_module`).
            tags: extra tags of the process message (e.g. ``{"Name": "demo"}``).
            data: the process message's data (default ``"1984"``).
            scheduler: the scheduler's address (default: the client's, else the node's).
            authority: the address whose messages the process trusts (default: the scheduler).
            check_module: first ask the node for the module (``GET /<module>/id``) and fail if it
                has none. A node schedules a process whatever its module, and only its first
                computation would say the module is missing. With ``False`` the requests are
                exactly aoconnect's.

        Raises:
            ClientError: status 404 when the node does not have the module.
        """
        _check_id(module, "the module")
        if check_module:
            self._require_module(module)
        request = spawn_request(module, scheduler or self.scheduler(), authority=authority, tags=tags, data=data)
        response = self.send(request)
        process: str = self._read(response, parse_process_id, response.headers)
        return process

    def _require_module(self, module: str) -> None:
        found = self._send("GET", f"/{module}/id")
        if found.status_code == 404:
            raise ClientError(f"module {module} is not on the node {self.url} "
                              f"({node_message(found.content)}): upload it first",
                              status=404, method="GET", url=str(found.request.url), body=found.content)

    def message(self, process: str, *, tags: Tags | None = None, data: bytes | str | None = None) -> int:
        """Send a message to `process` (scheduled, then computed) and return its slot."""
        response = self.send(message_request(process, tags=tags, data=data))
        slot: int = self._read(response, parse_slot, response.content)
        return slot

    def result(self, process: str, slot: int | str) -> dict[str, Any]:
        """The legacy result of one slot: ``{Output, Messages, Spawns, Assignments, Error, ...}``."""
        response = self.send(result_request(process, slot))
        result: dict[str, Any] = self._read(response, parse_result, response.content)
        return result

    def current_slot(self, process: str) -> int:
        """The process's latest slot."""
        response = self.send(results_requests(process))
        slot: int = self._read(response, parse_current_slot, response.content)
        return slot

    def results(self, process: str) -> list[tuple[int, dict[str, Any]]]:
        """The latest result, as aoconnect's `results` gives it: ``[(current slot, result)]``."""
        current = self.current_slot(process)
        response = self.send(results_requests(process, current))
        result: dict[str, Any] = self._read(response, parse_result, response.content)
        return [(current, result)]

    def dryrun(self, process: str, *, tags: Tags | None = None, data: bytes | str | None = None) -> dict[str, Any]:
        """Run a message against the process's latest state without scheduling it: its legacy result.
        The process does not change."""
        response = self.send(dryrun_request(process, tags=tags, data=data))
        result: dict[str, Any] = self._read(response, parse_result, response.content)
        return result

    def request(self, path: str, fields: Mapping[str, Any] | None = None, *, method: str = "GET",
                sign: bool = True, check: bool = True) -> httpx.Response:
        """A generic call, as aoconnect's `request`: `fields` as an `httpsig@1.0` message (headers
        and, for long or nested values, a multipart body), signed by the wallet unless
        ``sign=False``, sent with `method` to `path`. With ``fields["signing-format"] ==
        "ans104"`` the fields become the tags of a `POST`ed ANS-104 item instead (`target`, `data`
        and `anchor`-less, as ao-core-libs builds it; values are turned into text).

        Returns the answer; unless ``check=False`` a status outside 2xx raises `ClientError`.
        """
        fields = dict(fields or {})
        if not path.startswith("/"):
            path = "/" + path
        if str(fields.get("signing-format", "")).lower() == "ans104":
            target = str(fields.pop("target", ""))
            data = _data(fields.pop("data", None), default="")
            text = {str(k): v if isinstance(v, str) else v.decode() if isinstance(v, bytes) else json.dumps(v)
                    for k, v in fields.items()}
            req = _ans104(path, text, target=_check_id(target, "the target") if target else "", data=data)
            item = build_item(req)
            content = sign_item(item, self.wallet).serialize() if sign else item.serialize()
            response = self._send("POST", path, headers=req.headers, content=content)
        else:
            message = commit(fields, self.wallet, bundle=True) if sign else fields
            wire = encode(message, "httpsig@1.0", bundle=True)
            content = wire.pop("body", b"")
            headers = {k: v.decode("latin-1") for k, v in wire.items()}
            response = self._send(method.upper(), path, headers=headers, content=content or None)
        return self._checked(response) if check else response

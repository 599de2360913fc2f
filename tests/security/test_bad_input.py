"""A generated run of bad input against a running node (issue 17, done-means 2).

Thousands of malformed requests, made from a fixed seed: paths, headers, httpsig signatures,
multipart bodies, ANS-104 items and JSON, nesting and key counts at and beyond the limits. The
node must answer every one with valid HTTP: never a 5xx, never a dropped connection, never
slower than 5 s; every 4xx says why in its body; afterwards it still serves, and its memory
stayed below a bound.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aonode_process import Node, running

from aonode.codecs import ans104, commit, encode, to_tabm
from aonode.crypto import Wallet

SEED = 20261207
COUNT = 3200
SLOWEST = 5.0  # seconds for any one answer
RSS_BOUND = 1024 * 1024 * 1024  # bytes the node may use after the run


@dataclass
class Bad:
    """One generated request."""

    kind: str
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_.~!$&'()*+,;=:@%/?#[] \"<>\\^`{|}"


def _text(rng: random.Random, n: int, alphabet: str = ALPHABET) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _paths(rng: random.Random) -> Bad:
    pieces = [
        lambda: "/" + _text(rng, rng.randint(0, 40)),
        lambda: "/~" + _text(rng, rng.randint(1, 12)) + "@1.0/" + _text(rng, rng.randint(0, 12)),
        lambda: "/~message@1.0&" + _text(rng, rng.randint(1, 30)) + "/" + _text(rng, 5),
        lambda: "/~message@1.0&a+" + rng.choice(["integer", "float", "list", "map", "atom", "bogus", ""])
        + "=" + _text(rng, rng.randint(0, 12)) + "/a",
        lambda: "/" + "(" * rng.randint(1, 30) + "~message@1.0" + ")" * rng.randint(0, 30),
        lambda: "/" + "%" + _text(rng, 2, "0123456789abcdefgxyz%"),
        lambda: "/" + "/".join(_text(rng, 3) for _ in range(rng.randint(50, 400))),
        lambda: rng.choice(["//", "/?a=1", "/?", "/#", "/..", "/./.", "/%00", "/%ff%fe", "/~/", "/~@/"]),
        lambda: "/" + "a" * rng.randint(4000, 9000),
    ]
    target = rng.choice(pieces)()
    return Bad("path", rng.choice(["GET", "POST", "PUT", "DELETE"]), target)


def _headers(rng: random.Random) -> Bad:
    names = ["signature", "signature-input", "content-digest", "ao-types", "ao-ids", "body-keys",
             "codec-device", "content-type", "accept", "accept-bundle", "require-codec", "path",
             "ao-peer-port", "x-" + _text(rng, 5, "abcdef"), "commitments", "device", "priv"]
    headers = [(rng.choice(names), _text(rng, rng.randint(0, 80), ALPHABET.replace("\\", "")).strip())
               for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.1:
        headers += [(f"x-many-{i}", "v") for i in range(rng.randint(100, 2000))]
    return Bad("headers", rng.choice(["GET", "POST"]), "/~message@1.0/" + _text(rng, 4, "abcdef"), headers)


def _signed_wire(rng: random.Random, wallet: Wallet) -> tuple[dict[str, str], bytes]:
    msg = {"path": "/greeting", "greeting": _text(rng, 8, "abcdef"), "n": rng.randint(0, 10**6)}
    if rng.random() < 0.5:
        msg["nested"] = {"inner": _text(rng, 6, "abcdef")}
    wire = encode(commit(msg, wallet, bundle=rng.random() < 0.5), "httpsig@1.0", bundle=True)
    body = wire.pop("body", b"")
    return {k: v.decode("latin-1") for k, v in wire.items()}, body


def _httpsig(rng: random.Random, wallet: Wallet) -> Bad:
    headers, body = _signed_wire(rng, wallet)
    name = rng.choice(sorted(headers))
    value = headers[name]
    mutation = rng.randrange(6)
    if mutation == 0 and value:
        i = rng.randrange(len(value))
        headers[name] = value[:i] + rng.choice("A=:;,()\"x ") + value[i + 1:]
    elif mutation == 1:
        del headers[name]
    elif mutation == 2:
        headers["signature-input"] = headers.get("signature-input", "") + rng.choice(
            [';committer="x"', ";alg=1", ';keyid="publickey:"', ', x=()', ";tag", '("@path")'])
    elif mutation == 3 and body:
        cut = bytearray(body)
        cut[rng.randrange(len(cut))] ^= 0xFF
        body = bytes(cut)
    elif mutation == 4:
        headers["greeting"] = "changed"
    else:
        body = body[: rng.randrange(len(body) + 1)]
    return Bad("httpsig", "POST", "/greeting", list(headers.items()), body)


def _multipart(rng: random.Random) -> Bad:
    boundary = _text(rng, rng.randint(1, 20), "abcdefgh0123456789")
    parts = []
    for i in range(rng.choice([1, 3, 10, 500, 3000])):
        disposition = rng.choice([f'form-data;name="k{i}"', "form-data", f"inline;name=\"{i}\"", "", "x"])
        parts.append(f"--{boundary}\r\ncontent-disposition: {disposition}\r\n\r\nvalue{i}\r\n")
    body = "".join(parts) + (f"--{boundary}--" if rng.random() < 0.7 else "")
    if rng.random() < 0.2:
        body = body[: rng.randrange(len(body) + 1)]
    content_type = f'multipart/form-data; boundary="{boundary}"' if rng.random() < 0.8 else "multipart/form-data"
    return Bad("multipart", "POST", "/k1", [("content-type", content_type)], body.encode())


def _ans104(rng: random.Random, wallet: Wallet) -> Bad:
    tabm = to_tabm({"path": "/k", "k": _text(rng, 6, "abcdef")}, bundle=True)
    assert isinstance(tabm, dict)
    item = bytearray(ans104.to_wire(ans104.commit(tabm, wallet)))
    mutation = rng.randrange(5)
    if mutation == 0:
        item[rng.randrange(len(item))] ^= 0xFF
    elif mutation == 1:
        item = item[: rng.randrange(len(item))]
    elif mutation == 2:
        item = bytearray(rng.randbytes(rng.randint(0, 3000)))
    elif mutation == 3:
        item[0:2] = rng.randrange(65536).to_bytes(2, "little")
    else:
        item += rng.randbytes(rng.randint(1, 100))
    return Bad("ans104", "POST", "/k", [("codec-device", "ans104@1.0")], bytes(item))


def _nested(depth: int) -> bytes:
    """A JSON object `depth` levels deep (as text: Python's encoder recurses)."""
    return b'{"a":' * depth + b'"x"' + b"}" * depth


def _json(rng: random.Random) -> Bad:
    choice = rng.randrange(8)
    if choice == 0:
        body = _nested(rng.choice([10, 999, 1000, 1001, 5000, 45000]))
    elif choice == 1:
        body = json.dumps({f"k{i}": "v" for i in range(rng.choice([10, 1000, 10000, 16000]))}).encode()
    elif choice == 2:
        body = ("[" * rng.randint(1, 60000)).encode()
    elif choice == 3:
        body = rng.randbytes(rng.randint(0, 500))
    elif choice == 4:
        body = json.dumps({"path": "/k", "k": 10 ** rng.randint(10, 400)}).encode()
    elif choice == 5:
        body = json.dumps({"commitments": {_text(rng, 43, "abcdef"): {"committer": "x", "signature": "y"}},
                           "k": "v"}).encode()
    elif choice == 6:
        body = json.dumps({"ao-types": _text(rng, 30), "k": [1, {"a": None}, True, 1.5]}).encode()
    else:
        body = json.dumps({"k": {"body": {"data": [_text(rng, 4) for _ in range(200)]}}}).encode()
    path = rng.choice(["/k", "/~message@1.0/k", "/~json@1.0/serialize"])
    return Bad("json", "POST", path, [("content-type", "application/json")], body)


def generate(wallet: Wallet) -> Iterator[Bad]:
    rng = random.Random(SEED)
    makers: list[Callable[[], Bad]] = [
        lambda: _paths(rng), lambda: _headers(rng), lambda: _httpsig(rng, wallet), lambda: _multipart(rng),
        lambda: _ans104(rng, wallet), lambda: _json(rng),
    ]
    for i in range(COUNT):
        yield makers[i % len(makers)]()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("bad-input")) as started:
        yield started


def test_generated_bad_input(node: Node) -> None:
    wallet = Wallet.generate()
    failures: list[str] = []
    kinds: dict[str, int] = {}
    with httpx.Client(base_url=node.url, timeout=SLOWEST + 5) as client:
        for bad in generate(wallet):
            kinds[bad.kind] = kinds.get(bad.kind, 0) + 1
            started = time.monotonic()
            what = f"{bad.kind} {bad.method} {bad.target[:80]!r}"
            try:
                response = client.request(bad.method, bad.target, headers=bad.headers, content=bad.body)
            except (httpx.InvalidURL, httpx.LocalProtocolError):
                continue  # httpx would not send it (not HTTP): nothing reached the node
            except httpx.HTTPError as exc:
                failures.append(f"{what}: no HTTP answer ({type(exc).__name__}: {exc})")
                continue
            took = time.monotonic() - started
            if response.status_code >= 500:
                failures.append(f"{what}: {response.status_code} {response.text[:200]!r}")
            elif response.status_code >= 400 and not response.content.strip():
                failures.append(f"{what}: {response.status_code} with an empty body")
            if took > SLOWEST:
                failures.append(f"{what}: answered in {took:.1f} s")
        assert client.get("/~meta@1.0/info/address").status_code == 200
    assert sum(kinds.values()) >= 3000, kinds
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
    assert _rss(node.process.pid) < RSS_BOUND

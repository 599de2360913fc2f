"""Cross-check fresh random data items and bundles with arbundles (npm), both ways.

arbundles (`@dha-team/arbundles`, the version aoconnect uses) is installed with
npm into ``<repo>/.cache/npm`` (git-ignored: only ``node_modules`` lands
there) on first use. One node process per run receives aonode's items and
returns its own; `js/arbundles_interop.js` says what it does. One RSA key is
generated per run and used on both sides.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aonode.codecs._bundle import BundleLayout, decode_bundle, encode_bundle, verify_bundle
from aonode.codecs._dataitem import DataItem, ItemKey, parse_item
from aonode.crypto import Wallet, b64url_encode
from aonode.crypto._ed25519 import Ed25519Key
from aonode.crypto._secp256k1 import Secp256k1Key

ARBUNDLES = "@dha-team/arbundles"
ARBUNDLES_VERSION = "1.0.4"
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "npm"
MODULES = CACHE / "node_modules"
SCRIPT = Path(__file__).resolve().parent / "js" / "arbundles_interop.js"
NPM_TIMEOUT = 300  # seconds; a cold install takes about 10 s
NODE_TIMEOUT = 120

TYPES = (1, 2, 3, 4)
ITEMS_PER_TYPE = 2


def _installed() -> bool:
    package = MODULES / "@dha-team" / "arbundles" / "package.json"
    try:
        return bool(json.loads(package.read_text())["version"] == ARBUNDLES_VERSION)
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="module")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to cross-check with arbundles")
    if not _installed():
        CACHE.mkdir(parents=True, exist_ok=True)
        command = [
            npm, "install", "--prefix", str(CACHE), "--no-save", "--no-package-lock",
            "--no-audit", "--no-fund", "--ignore-scripts", f"{ARBUNDLES}@{ARBUNDLES_VERSION}",
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=NPM_TIMEOUT)
        except subprocess.CalledProcessError as exc:
            tail = exc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            pytest.skip(f"npm could not install {ARBUNDLES}@{ARBUNDLES_VERSION}: {tail}")
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install of {ARBUNDLES} took more than {NPM_TIMEOUT} s")
        if not _installed():
            pytest.skip(f"npm did not install {ARBUNDLES}@{ARBUNDLES_VERSION}")
    return MODULES


@dataclass
class Run:
    keys: dict[int, ItemKey]
    specs: list[dict[str, Any]]
    ours: list[DataItem]
    our_bundle: bytes
    reply: dict[str, Any]


def _text(rng: random.Random, lo: int, hi: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ .:/é你好"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _spec(rng: random.Random, signature_type: int) -> dict[str, Any]:
    return {
        "signature_type": signature_type,
        "tags": [[_text(rng, 1, 20), _text(rng, 0, 40)] for _ in range(rng.randint(0, 6))],
        "data": base64.b64encode(rng.randbytes(rng.randint(0, 300))).decode(),
        "target": b64url_encode(rng.randbytes(32)) if rng.random() < 0.5 else None,
        "anchor": "".join(rng.choice("0123456789abcdef") for _ in range(32))
        if rng.random() < 0.5 else None,
    }


def _item(spec: dict[str, Any]) -> DataItem:
    return DataItem(
        signature_type=spec["signature_type"],
        tags=[(n, v) for n, v in spec["tags"]],
        data=base64.b64decode(spec["data"]),
        target=base64.urlsafe_b64decode(spec["target"] + "=") if spec["target"] else b"",
        anchor=spec["anchor"].encode() if spec["anchor"] else b"",
    )


@pytest.fixture(scope="module")
def run(node_modules: Path) -> Run:
    rng = random.Random(os.urandom(16))
    ed = Ed25519Key.generate()
    keys: dict[int, ItemKey] = {1: Wallet.generate(), 2: ed, 3: Secp256k1Key.generate(), 4: ed}
    specs = [_spec(rng, t) for t in TYPES for _ in range(ITEMS_PER_TYPE)]
    ours = [
        _item(s).sign(keys[s["signature_type"]], signature_type=s["signature_type"])
        for s in specs
    ]
    our_bundle = encode_bundle(ours, BundleLayout.STANDARD)
    wallet = keys[1]
    assert isinstance(wallet, Wallet)
    secp = keys[3]
    assert isinstance(secp, Secp256k1Key)
    request = {
        "keys": {
            "jwk": wallet.to_jwk(),
            "ed25519_seed_hex": ed.seed.hex(),
            "ed25519_public_hex": ed.public_bytes.hex(),
            "ethereum_secret_hex": secp.secret.hex(),
        },
        "specs": specs,
        "python_items": [base64.b64encode(i.serialize()).decode() for i in ours],
        "python_bundle": base64.b64encode(our_bundle).decode(),
    }
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(SCRIPT), str(node_modules)],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=NODE_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return Run(keys, specs, ours, our_bundle, json.loads(done.stdout))


def _public(key: ItemKey) -> bytes:
    return key.modulus if isinstance(key, Wallet) else key.public_bytes


@pytest.mark.parametrize("index", range(len(TYPES) * ITEMS_PER_TYPE))
def test_js_items_verify_here_with_the_same_id(run: Run, index: int) -> None:
    spec = run.specs[index]
    js = run.reply["js_items"][index]
    item = parse_item(base64.b64decode(js["raw"]))
    assert item.serialize() == base64.b64decode(js["raw"])
    item.verify()
    item.verify(arbundles=True)
    assert b64url_encode(item.id) == js["id"]
    assert item.signature_type == spec["signature_type"]
    assert item.owner == _public(run.keys[spec["signature_type"]])
    # Same fields as the item made here from the same spec; only the signature differs
    # (RSA-PSS and the two random salts; Ed25519 and secp256k1 are deterministic).
    ours = _item(spec)
    assert (item.tags, item.data, item.target, item.anchor) == (
        ours.tags, ours.data, ours.target, ours.anchor
    )
    assert item.raw_tags == ours.raw_tags
    mine = run.ours[index]
    assert item.signature_data() == mine.signature_data()
    if spec["signature_type"] != 1:
        assert item.signature == mine.signature
        assert item.serialize() == mine.serialize()


@pytest.mark.parametrize("index", range(len(TYPES) * ITEMS_PER_TYPE))
def test_our_items_verify_in_js_with_the_same_id(run: Run, index: int) -> None:
    mine = run.ours[index]
    seen = run.reply["python_items"][index]
    assert seen["valid"] is True
    assert seen["id"] == b64url_encode(mine.id)
    assert seen["signature_type"] == mine.signature_type
    assert base64.b64decode(seen["owner"]) == mine.owner
    assert base64.b64decode(seen["target"]) == mine.target
    assert base64.b64decode(seen["anchor"]) == mine.anchor
    assert base64.b64decode(seen["data"]) == mine.data
    assert [(n.encode(), v.encode()) for n, v in seen["tags"]] == list(mine.tags)


def test_our_standard_bundle_reads_in_js(run: Run) -> None:
    seen = run.reply["python_bundle"]
    assert seen["valid"] is True
    assert seen["ids"] == [b64url_encode(i.id) for i in run.ours]
    assert seen["sizes"] == [len(i.serialize()) for i in run.ours]


def test_js_bundle_reads_here(run: Run) -> None:
    raw = base64.b64decode(run.reply["js_bundle"]["raw"])
    parsed = decode_bundle(raw)
    assert parsed.layout is BundleLayout.STANDARD
    assert parsed.serialize() == raw
    assert [b64url_encode(e.id) for e in parsed.entries] == run.reply["js_bundle"]["ids"]
    assert [b64url_encode(i.id) for i in parsed.items] == [j["id"] for j in run.reply["js_items"]]
    verify_bundle(raw)

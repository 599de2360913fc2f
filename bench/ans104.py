"""How fast aonode parses and verifies ANS-104 data items.

Prints items/s for parse + verify of a typical RSA item (key-1, five tags, a
short body, like the messages aoconnect sends), next to the bare RSA-PSS
verification of the same signature with `cryptography` (public key built
once, message hash precomputed), and the ratio: the share of the bare
verify rate aonode keeps after parsing, deep hashing and key loading. The
other signature types are printed for reference.

Usage: python bench/ans104.py [seconds per measurement, default 1.0]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from aonode.codecs._dataitem import DataItem, parse_item
from aonode.crypto import Wallet
from aonode.crypto._ed25519 import Ed25519Key
from aonode.crypto._secp256k1 import Secp256k1Key

KEY_1 = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "key-1.json"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn`, measured for about `seconds`."""
    fn()  # warm up
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        calls += 20
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def sample(signature_type: int) -> DataItem:
    return DataItem(
        signature_type=signature_type,
        target=bytes(range(32)),
        tags=(
            (b"Action", b"Eval"),
            (b"Data-Protocol", b"ao"),
            (b"Type", b"Message"),
            (b"Variant", b"ao.TN.1"),
            (b"Content-Type", b"text/plain"),
        ),
        data=b"Send({ Target = ao.id, Data = 'ping' })",
    )


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    wallet = Wallet.load(KEY_1) if KEY_1.is_file() else Wallet.generate()
    item = sample(1).sign(wallet)
    raw = item.serialize()
    message = item.signature_data()

    public = rsa.RSAPublicNumbers(65537, int.from_bytes(item.owner, "big")).public_key()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)

    def bare() -> None:
        public.verify(item.signature, message, pss, hashes.SHA256())

    def ours(data: bytes = raw) -> None:
        parse_item(data).verify()

    bare_rate = rate(bare, seconds)
    our_rate = rate(ours, seconds)
    print(f"ANS-104 type 1 (RSA-4096), {len(raw)}-byte item, {seconds:.1f} s per measurement")
    print(f"  bare RSA-PSS verify (cryptography): {bare_rate:10.0f} /s")
    print(f"  aonode parse + verify:              {our_rate:10.0f} items/s")
    print(f"  ratio aonode / bare:                {our_rate / bare_rate:10.2f}")
    parse_rate = rate(lambda: parse_item(raw), seconds)
    print(f"  parse only:                         {parse_rate:10.0f} /s")

    ed = Ed25519Key.generate()
    others = {
        "type 2 (Ed25519)": sample(2).sign(ed).serialize(),
        "type 3 (Ethereum)": sample(3).sign(Secp256k1Key.generate()).serialize(),
        "type 4 (Solana hex)": sample(4).sign(ed, signature_type=4).serialize(),
    }
    for name, data in others.items():
        other_rate = rate(partial(ours, data), seconds)
        print(f"  {name + ' parse + verify:':34}  {other_rate:10.0f} items/s")


if __name__ == "__main__":
    main()

"""Commit+verify throughput of a 10-key message against bare RSA-4096 PSS sign+verify.

Both sides sign with the same key and verify what they signed, in the same run.
aonode's side does the whole job: TABM conversion, signature base, RSA-PSS-SHA512
signature, the default HMAC commitment, and verification of both. The ratio
(aonode / bare) says how much the codec adds over the cryptography itself;
the goal is at least 0.80 (the codec adds at most 20%).

    .venv/bin/python bench/codecs.py [--seconds N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from aonode.codecs import commit, verify
from aonode.crypto import Wallet

MESSAGE = {f"key-{i}": f"value number {i}" for i in range(8)} | {"count": 42, "ratio": 0.5}


def rate(fn: Callable[[], None], seconds: float) -> float:
    fn()
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        done += 1
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    wallet = Wallet.generate()
    pss = padding.PSS(padding.MGF1(hashes.SHA512()), 64)
    public = wallet.key.public_key()
    payload = b"\n".join(f'"{k}": {v}'.encode() for k, v in MESSAGE.items())

    def bare() -> None:
        signature = wallet.key.sign(payload, pss, hashes.SHA512())
        public.verify(signature, payload, padding.PSS(padding.MGF1(hashes.SHA512()), padding.PSS.AUTO),
                      hashes.SHA512())

    def codec() -> None:
        verify(commit(MESSAGE, wallet))

    bare_rate = rate(bare, args.seconds)
    codec_rate = rate(codec, args.seconds)
    print(f"bare RSA-4096 PSS sign+verify : {bare_rate:8.1f} /s")
    print(f"aonode commit+verify (10 keys): {codec_rate:8.1f} /s")
    print(f"ratio aonode/bare             : {codec_rate / bare_rate:8.3f}  (goal >= 0.80)")


if __name__ == "__main__":
    main()

"""A legacy AO process from Python with `aonode.client`: upload a Lua module, spawn a process,
message it, read the results and dry-run it (the same calls as aoconnect.mjs).

    make run                                     # a node on http://localhost:8734 (another terminal)
    .venv/bin/python examples/python_flow.py     # wallet: examples/wallet.json, made if missing

Options: --node URL (default http://localhost:8734), --wallet PATH (a JWK; `aonode wallet new PATH`
makes one), --module FILE (a Lua module with `handle(msg, env)`; default examples/process.lua,
which counts `Action=Count` messages and evaluates `Action=Eval` from its owner).

The same from the shell:

    aonode process upload examples/process.lua --wallet w.json         # prints the module ID
    aonode process spawn --module ID --tag Name=example --wallet w.json # prints the process ID
    aonode process message PID --tag Action=Count --wallet w.json      # prints the slot
    aonode process result PID SLOT --wallet w.json                     # prints the result (JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aonode.client import DEFAULT_URL, Client, ClientError
from aonode.crypto import Wallet

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Upload a Lua module to a node, spawn a legacy process, message it, read its results "
                    "and dry-run it.")
    parser.add_argument("--node", default=DEFAULT_URL, help=f"the node's URL (default {DEFAULT_URL})")
    parser.add_argument("--wallet", type=Path, default=HERE / "wallet.json",
                        help="wallet JWK file (default examples/wallet.json, created if missing)")
    parser.add_argument("--module", type=Path, default=HERE / "process.lua",
                        help="Lua module file (default examples/process.lua)")
    args = parser.parse_args()

    if not args.wallet.exists():
        Wallet.generate().save(args.wallet)
        print(f"created a wallet at {args.wallet}")
    wallet = Wallet.load(args.wallet)

    try:
        with Client(args.node, wallet, timeout=30) as ao:
            print("node", ao.address())
            module = ao.upload_module(args.module.read_bytes())
            print("module", module)
            pid = ao.spawn(module, tags={"Name": "python-example"})
            print("process", pid)

            for _ in range(3):
                slot = ao.message(pid, tags={"Action": "Count"})
                print("slot", slot, ao.result(pid, slot)["Output"].get("data"))

            slot = ao.message(pid, tags={"Action": "Eval"}, data="Count * 14")
            result = ao.result(pid, slot)
            print("eval", json.dumps(result, indent=2))

            [(latest, _)] = ao.results(pid)
            print("latest slot", latest)

            dry = ao.dryrun(pid, tags={"Action": "Count"})
            print("dryrun (state unchanged)", dry["Output"].get("data"))
            print("still", ao.dryrun(pid, tags={"Action": "Eval"}, data="Count")["Output"].get("data"))
    except ClientError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m aonode.ledger [--price N] [ADDRESS=AMOUNT ...]`: print the JSON node options
that charge through the packaged token ledger (`aonode serve --config ledger.json`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aonode.ledger import ledger_options


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aonode.ledger", description=__doc__)
    parser.add_argument("--price", type=int, default=1, help="price of one message of a request")
    parser.add_argument("--admin", help="who may charge (default: the node itself)")
    parser.add_argument("balances", nargs="*", metavar="ADDRESS=AMOUNT", help="opening balances")
    args = parser.parse_args(argv)
    balances = {}
    for item in args.balances:
        address, _, amount = item.partition("=")
        balances[address] = int(amount)
    print(json.dumps(_jsonable(ledger_options(balances, args.admin, args.price)), indent=2))


if __name__ == "__main__":
    main()

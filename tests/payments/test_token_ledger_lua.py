"""The Lua token ledger (`aonode/ledger/token.lua`) called directly through `lua@5.3a`, without a
node: transfers and their errors, sub-ledger registration, credit-notices and routed transfers,
charges by the admin only and once per request ID. (Over HTTP, as a node process, the other
payment tests run it; there the scheduler has verified every signature before the ledger sees
a message, so a commitment's `committer` is its signer.)"""

from __future__ import annotations

from typing import Any

import pytest

from aonode.core import resolve
from aonode.ledger import TOKEN, lua_module
from aonode.store import MemoryStore, MessageCache

ADMIN, ALICE, BOB, SUB = "A" * 43, "B" * 43, "C" * 43, "D" * 43


def _signed_by(address: str, **keys: Any) -> dict[str, Any]:
    return {**keys, "commitments": {"x" * 43: {"committer": address.encode(), "type": b"rsa-pss-sha512"}}}


class Ledger:
    """A ledger's state, carried from call to call as a process carries it from slot to slot."""

    def __init__(self) -> None:
        self.opts = {"cache": MessageCache(MemoryStore())}
        self.state: Any = {"device": b"lua@5.3a", "module": lua_module(TOKEN), "admin": ADMIN.encode(),
                           "balance": {ALICE: b"100", ADMIN: 1_000}}
        self.send("init", {})

    def send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = resolve(self.state, {"path": path, "body": body}, self.opts)
        assert result.ok, result.value
        self.state = result.value
        outcome = self.state.get("results")
        return outcome if isinstance(outcome, dict) else {}

    def balance(self, address: str) -> int:
        return int(self.state["balance"].get(address, 0))


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def test_opening_balances_are_integers(ledger: Ledger) -> None:
    assert (ledger.balance(ALICE), ledger.balance(ADMIN)) == (100, 1_000)


def test_transfer_and_its_errors(ledger: Ledger) -> None:
    assert ledger.send("transfer", _signed_by(ALICE, recipient=BOB, quantity=30))["status"] == b"ok"
    assert (ledger.balance(ALICE), ledger.balance(BOB)) == (70, 30)
    # By action, as aos sends it.
    by_action = _signed_by(BOB, action=b"Transfer", recipient=ALICE, quantity=b"5")
    assert ledger.send("compute", by_action)["status"] == b"ok"
    assert (ledger.balance(ALICE), ledger.balance(BOB)) == (75, 25)
    errors = {
        b"Fund source or quantity not found in request.": _signed_by(ALICE, recipient=BOB),
        b"Invalid quantity value.": _signed_by(ALICE, recipient=BOB, quantity=b"1.5"),
        b"Quantity to deduct is negative.": _signed_by(ALICE, recipient=BOB, quantity=-1),
        b"Source balance not found.": _signed_by(SUB, recipient=BOB, quantity=1),
        b"Insufficient funds.": _signed_by(ALICE, recipient=BOB, quantity=76),
    }
    for error, message in errors.items():
        assert ledger.send("transfer", message) == {"status": b"error", "error": error}
    assert (ledger.balance(ALICE), ledger.balance(BOB)) == (75, 25)
    # An unsigned transfer has no source.
    assert ledger.send("transfer", {"recipient": BOB, "quantity": 1})["status"] == b"error"


def test_sub_ledgers(ledger: Ledger) -> None:
    assert ledger.send("register", _signed_by(ALICE, ledger=SUB))["status"] == b"error"
    assert ledger.send("transfer", _signed_by(ALICE, recipient=BOB, quantity=10, route=SUB))["status"] == b"error"
    assert ledger.balance(ALICE) == 100
    assert ledger.send("register", _signed_by(ADMIN, ledger=SUB))["status"] == b"ok"
    routed = ledger.send("transfer", _signed_by(ALICE, recipient=BOB, quantity=10, route=SUB))
    assert routed["status"] == b"ok"
    notice = routed["outbox"]["1"]
    assert (notice["target"], notice["action"], notice["recipient"], notice["quantity"]) == (
        SUB.encode(), b"Credit-Notice", BOB.encode(), 10)
    # The sub-ledger holds the tokens for Bob; Bob holds nothing here.
    assert (ledger.balance(ALICE), ledger.balance(SUB), ledger.balance(BOB)) == (90, 10, 0)
    # A credit-notice from the registered ledger credits its recipient; from another, nothing.
    assert ledger.send("credit-notice", {"from-process": SUB, "recipient": BOB, "quantity": 4})["status"] == b"ok"
    assert ledger.send("credit-notice", {"from-process": ALICE, "recipient": BOB, "quantity": 4})["status"] == b"error"
    assert ledger.balance(BOB) == 4


def test_charges(ledger: Ledger) -> None:
    assert ledger.send("charge", _signed_by(ALICE, account=BOB, recipient=ALICE, quantity=5))["status"] == b"error"
    charge = _signed_by(ADMIN, account=ALICE, recipient=ADMIN, quantity=30, **{"request-id": "R" * 43})
    assert ledger.send("charge", charge)["status"] == b"ok"
    assert ledger.send("charge", charge) == {"status": b"ok", "duplicate": True}
    # The record of charges is the VM's, not a key of the state that grows with every charge.
    assert "charged" not in ledger.state
    assert ledger.send("charged", {"request-id": "R" * 43})["charged"] is True
    assert ledger.send("charged", {"request-id": "Q" * 43})["charged"] is False
    assert (ledger.balance(ALICE), ledger.balance(ADMIN)) == (70, 1_030)
    # The node charges for work done: a charge may take a balance below zero.
    assert ledger.send("charge", _signed_by(ADMIN, account=ALICE, recipient=ADMIN, quantity=100))["status"] == b"ok"
    assert ledger.balance(ALICE) == -30
    assert ledger.send("charge", _signed_by(ADMIN, account=ALICE, quantity=-5))["status"] == b"error"
    assert ledger.send("charge", _signed_by(ADMIN, quantity=5))["error"] == b"Quantity or account not found in request."


def test_a_state_stored_with_its_charges_as_a_key_keeps_them(ledger: Ledger) -> None:
    # A ledger state stored before the record moved into the VM carries it as `charged`.
    ledger.state = {**ledger.state, "charged": {"O" * 43: 30}}
    charge = _signed_by(ADMIN, account=ALICE, recipient=ADMIN, quantity=30, **{"request-id": "O" * 43})
    assert ledger.send("charge", charge) == {"status": b"ok", "duplicate": True}
    assert ledger.balance(ALICE) == 100 and "charged" not in ledger.state

"""What p4@1.0 counts as spent before a ledger shows it: reservations, per ledger.

A request p4 admits holds its price (a reservation) until the ledger's balance includes its
charge. For a ledger that is exact at once (simple-pay: the charge is a store transaction) that
is when the charge returns. For a ledger that is a process (the Lua token ledger), a charge is
a scheduled slot, and a balance read from the newest computed state includes it only once that
slot is computed: the reservation is then tagged with its slot and kept until a state at or
after that slot has been seen (`Book.observe`).

A balance read from a state after slot C is exact, counting the reservations not in it, when
every slot scheduled after C is a charge of this book: those only take from their own accounts,
and each still holds its price here. A state at or after every slot whose reservation was let
go (`Book.settled`) includes all of those charges. So `Book.admit` checks

    balance(C) - (A's reservations untagged or tagged after C) >= price

and answers `stale` for a state older than `settled`, `unknown slots` when the slots after C are
not all known charges: the ledger then computes first. Reservations are in memory: after a
restart nothing is known, so the first reads compute (which is always exact).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass
from typing import Any

__all__ = ["Admission", "Book", "book_for"]

_tokens = itertools.count(1)


@dataclass(frozen=True)
class Admission:
    """What `Book.admit` decided: `admitted` (with the reservation's `token`), `refused` (the
    account cannot pay), `stale` (the balance was read from a state older than one already
    seen) or `unknown slots` (slots after it are not all charges reserved here); read the
    ledger again, computed, for the last two."""

    outcome: str
    token: int = 0


@dataclass
class _Hold:
    account: str
    price: int
    slot: int | None = None


class Book:
    """The reservations on one ledger of one node (all its request threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[int, _Hold] = {}
        self._by_slot: dict[int, int] = {}
        self.settled = -2  # no state seen yet (a process's first state is after slot -1)
        # Whether the ledger answers balances from computed slots (then they are read without
        # the account's lock: `admit` checks and reserves atomically).
        self.slotted = False
        self._catching_up = False
        self._again = False

    def admit(self, account: str, balance: int, price: int, computed: int | None = None,
              latest: int | None = None, fresh: bool = False) -> Admission:
        """Reserve `price` of `account` if what it can spend covers it, atomically with the
        check, so that concurrent admissions cannot all pass a check only one could pay for.

        Args:
            balance: the account's balance, read from the ledger.
            computed: the slot the balance's state is after (None: an exact balance, in which
                every reservation here is still to be paid).
            latest: the last slot the ledger had scheduled when it was read.
            fresh: the ledger computed every slot before it was read (so slots after
                `computed` were scheduled while it was read, not before).
        """
        with self._lock:
            if computed is not None:
                if computed < self.settled:
                    return Admission("stale")
                if not fresh and (latest is None or
                                  not all(s in self._by_slot for s in range(computed + 1, latest + 1))):
                    return Admission("unknown slots")
                self._observe(computed)
            pending = sum(h.price for h in self._holds.values()
                          if h.account == account and (computed is None or h.slot is None or h.slot > computed))
            if balance - pending < price:
                return Admission("refused")
            token = next(_tokens)
            self._holds[token] = _Hold(account, price)
            return Admission("admitted", token)

    def release(self, token: int) -> None:
        """Let a reservation go (its charge is in the ledger's exact balance, or was not made)."""
        with self._lock:
            found = self._holds.pop(token, None)
            if found is not None and found.slot is not None:
                self._by_slot.pop(found.slot, None)

    def tag(self, token: int, slot: int) -> None:
        """The reservation's charge was scheduled at `slot`: keep it until a state after it is
        seen (or let it go at once, when one has been)."""
        with self._lock:
            found = self._holds.get(token)
            if found is None:
                return
            if slot <= self.settled:
                del self._holds[token]
                return
            found.slot = slot
            self._by_slot[slot] = token

    def observe(self, slot: int) -> None:
        """A state of the ledger after `slot` was read: the charges up to it are in its balances."""
        with self._lock:
            self._observe(slot)

    def _observe(self, slot: int) -> None:
        if slot <= self.settled:
            return
        self.settled = slot
        for charged in [s for s in self._by_slot if s <= slot]:
            self._holds.pop(self._by_slot.pop(charged), None)

    def total(self, account: str) -> int:
        """Everything `account` holds (for tests)."""
        with self._lock:
            return sum(h.price for h in self._holds.values() if h.account == account)

    def start_catch_up(self) -> bool:
        """Whether the caller is to start the ledger's background computation (False: one is
        running, and will run once more)."""
        with self._lock:
            if self._catching_up:
                self._again = True
                return False
            self._catching_up = True
            return True

    def catch_up_failed(self) -> None:
        """The background computation did not start: the next charge starts one."""
        with self._lock:
            self._catching_up = self._again = False

    def catch_up_done(self) -> bool:
        """Whether the background computation may stop (False: run once more)."""
        with self._lock:
            if self._again:
                self._again = False
                return False
            self._catching_up = False
            return True


_BOOKS: weakref.WeakKeyDictionary[Any, dict[str, Book]] = weakref.WeakKeyDictionary()
_UNCACHED: dict[str, Book] = {}  # the books of a node without a message cache
_BOOKS_LOCK = threading.Lock()


def book_for(cache: Any, ledger: str) -> Book:
    """The book of `ledger` on the node whose message cache is `cache` (a node's store names
    its ledger process's log: two nodes in one Python process keep two books)."""
    with _BOOKS_LOCK:
        books = _BOOKS.setdefault(cache, {}) if cache is not None else _UNCACHED
        found = books.get(ledger)
        if found is None:
            found = books[ledger] = Book()
        return found

"""p4@1.0's reservations (`aonode/devices/_p4_reservations.py`): what an account can spend
when its balance is read from a ledger's computed state, with the charges scheduled after that
state still held (docs/payments.md, "The overdraw rule")."""

from __future__ import annotations

import threading

from aonode.devices._p4_reservations import Book

A, B = "alice", "bob"


def test_an_exact_balance_counts_every_reservation() -> None:
    book = Book()
    first = book.admit(A, 10, 6)
    assert first.outcome == "admitted"
    assert book.admit(A, 10, 6).outcome == "refused"  # 10 - 6 held < 6
    assert book.admit(B, 10, 6).outcome == "admitted"  # another account's holds do not count
    book.release(first.token)
    assert book.admit(A, 4, 4).outcome == "admitted"


def test_a_charge_is_held_until_a_state_after_its_slot_is_seen() -> None:
    book = Book()
    held = book.admit(A, 10, 6, computed=4, latest=4)
    book.tag(held.token, 5)  # its charge took slot 5
    # A state after slot 4 does not include the charge: it is still held.
    assert book.admit(A, 10, 6, computed=4, latest=5).outcome == "refused"
    # A state after slot 5 includes it: the balance read shows it, and the hold goes.
    assert book.admit(A, 4, 4, computed=5, latest=5).outcome == "admitted"
    assert book.total(A) == 4


def test_a_state_older_than_one_seen_is_read_again() -> None:
    book = Book()
    held = book.admit(A, 10, 6, computed=4, latest=4)
    book.tag(held.token, 5)
    book.observe(5)  # the hold goes: states from now on include the charge
    # A balance read from the state after slot 4 shows neither the charge nor its hold.
    assert book.admit(A, 10, 6, computed=4, latest=5).outcome == "stale"


def test_slots_that_are_not_charges_reserved_here_need_a_computed_read() -> None:
    book = Book()
    held = book.admit(A, 10, 1, computed=4, latest=4)
    book.tag(held.token, 6)
    # Slot 5 is someone's transfer, perhaps out of A's account: the state after 4 says nothing.
    assert book.admit(A, 10, 1, computed=4, latest=6).outcome == "unknown slots"
    # Read after computing every slot: slots scheduled meanwhile are concurrent, not missed.
    assert book.admit(A, 10, 1, computed=6, latest=7, fresh=True).outcome == "admitted"


def test_a_charge_tagged_after_its_slot_was_seen_is_let_go() -> None:
    book = Book()
    held = book.admit(A, 10, 3, computed=1, latest=1)
    book.observe(7)
    book.tag(held.token, 7)  # the state after 7 already includes it
    assert book.total(A) == 0


def test_concurrent_admissions_cannot_overdraw() -> None:
    book = Book()
    admitted: list[int] = []

    def admit() -> None:
        found = book.admit(A, 100, 7, computed=0, latest=0)
        if found.outcome == "admitted":
            admitted.append(found.token)

    threads = [threading.Thread(target=admit) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 100 // 7


def test_a_read_that_does_not_say_the_last_slot_needs_a_computed_read() -> None:
    book = Book()
    assert book.admit(A, 10, 1, computed=4, latest=None).outcome == "unknown slots"
    assert book.admit(A, 10, 1, computed=4, latest=None, fresh=True).outcome == "admitted"

"""The index a key of a numbered map stands for (a Lua sequence, a `committed` list, a
legacy result's `Messages`: maps keyed "1", "2", ...)."""

from __future__ import annotations

__all__ = ["sequence_index"]

# Longer keys are no index any list here could have; `int` of thousands of digits also raises.
_MAX_DIGITS = 18


def sequence_index(key: object) -> int:
    """The number an ASCII decimal key (text or bytes) spells, else 0, so that sorting by it
    puts other keys first, in the order they came. It never raises, whatever a client or
    script wrote (`"①"` passes `str.isdigit`, and `int` refuses numbers of thousands of
    digits)."""
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)
    if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text)
    return 0

"""The one exception tree of aonode. Every error carries an HTTP-style status.

    AOError (500)                 base; never raised directly
    ├── BadMessage (400)          input that cannot be a valid message
    │   ├── DecodeError (400)     bytes a codec cannot decode (names the codec and the fault)
    │   └── EncodeError (400)     a message a codec cannot express
    ├── InvalidSignature (400)    a commitment that does not verify (says nothing of which check)
    ├── Unauthorized (401)        an operation that needs a signer it did not get
    ├── Forbidden (403)           a signer that is not allowed to do this
    ├── NotFound (404)            a key, message or device that does not exist
    ├── Conflict (409)            a one-shot request sent again (a replayed signed change)
    └── Unsupported (422)         a well-formed request for something aonode does not do

Foreign errors (from cryptography, lmdb, wasmtime, lupa) never escape a public
function: they are caught at the boundary and re-raised as one of these with
`raise X(...) from exc`.

An error's text reaches clients as the body of the answer: name keys and IDs with `shown`,
which writes bytes as text, never as a Python repr (`b'abc'`).
"""

from __future__ import annotations

from http import HTTPStatus

__all__ = [
    "AOError",
    "BadMessage",
    "Conflict",
    "DecodeError",
    "EncodeError",
    "Forbidden",
    "InvalidSignature",
    "NotFound",
    "Unauthorized",
    "Unsupported",
    "shown",
]


def shown(value: object, limit: int = 200) -> str:
    """`value` as readable text for an error message: bytes decoded as UTF-8 (undecodable
    bytes and control characters as `\\xNN`), cut to `limit` characters."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        try:
            text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    else:
        text = str(value)
    text = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


class AOError(Exception):
    """Base of every aonode error; `status` is the HTTP status a node answers with."""

    status: int = 500

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        if message is None:
            message = HTTPStatus(self.status).phrase
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class BadMessage(AOError):
    """Raised when input cannot form a valid message."""

    status = 400


class DecodeError(BadMessage):
    """Raised when a codec cannot decode its input; the text names the codec and the fault."""


class EncodeError(BadMessage):
    """Raised when a message holds something a codec cannot express."""


class InvalidSignature(AOError):
    """Raised when a commitment fails to verify. Deliberately says nothing of which check failed."""

    status = 400

    def __init__(self, message: str | None = "signature did not verify", **kw: int) -> None:
        super().__init__(message, **kw)


class Unauthorized(AOError):
    """Raised when an operation needs a signed request and did not get one."""

    status = 401


class Forbidden(AOError):
    """Raised when the signer of a request is not allowed to do what it asks."""

    status = 403


class NotFound(AOError):
    """Raised when a key, message, device or process does not exist."""

    status = 404


class Conflict(AOError):
    """Raised when a request may take effect once and already has (a replayed signed change)."""

    status = 409


class Unsupported(AOError):
    """Raised for a well-formed request that aonode does not implement."""

    status = 422

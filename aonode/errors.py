"""The one exception tree of aonode. Every error carries an HTTP-style status.

Every public exception class in the package derives from `AOError`; this module holds the
base classes, and the classes defined elsewhere appear here too, with the module that defines
each and its default status (an instance may carry another: `GatewayError` is 504 for a slow
gateway). `tests/test_errors_tree.py` imports every module and fails when a public exception is
missing from this tree, sits under the wrong parent, or does not derive from `AOError`.

    AOError (500)                          aonode.errors                    base; never raised directly
    ├── BadMessage (400)                   aonode.errors                    input that cannot be a valid message
    │   ├── DecodeError (400)              aonode.errors                    bytes a codec cannot decode
    │   ├── EncodeError (400)              aonode.errors                    a message a codec cannot express
    │   ├── Invalid (400)                  aonode.core._option_values       an option value its converter refuses
    │   ├── DeviceNotLoadable (400)        aonode.core.devices              a device this node cannot load
    │   ├── ConfigError (400)              aonode.core.options              a bad config file, env var or option
    │   ├── IntervalError (400)            aonode.devices.cron              a cron interval that does not parse
    │   ├── FieldError (400)               aonode.graphql._executor         a GraphQL resolver's refusal
    │   ├── RequestError (400)             aonode.graphql._executor         a GraphQL query that cannot run
    │   │   └── QueryTimeout (503)         aonode.graphql._executor         a GraphQL query past its deadline
    │   ├── SyntaxError_ (400)             aonode.graphql._parser           text that is not a GraphQL document
    │   └── ModuleError (400)              aonode.runtime.lua               Lua source that fails to compile or run
    ├── Conflict (409)                     aonode.errors                    a one-shot request sent again
    ├── Forbidden (403)                    aonode.errors                    a signer not allowed to do this
    ├── InvalidSignature (400)             aonode.errors                    a commitment that does not verify
    ├── NotFound (404)                     aonode.errors                    no such key, message or device
    ├── Unauthorized (401)                 aonode.errors                    needs a signer it did not get
    ├── Unsupported (422)                  aonode.errors                    a request aonode does not implement
    ├── GatewayError (502)                 aonode.arweave.gateway           a gateway failed (502) or was slow (504)
    ├── UnverifiedItem (422)               aonode.arweave.gateway           a gateway item that does not verify
    ├── ClientError (500)                  aonode.client                    the Python client's refusals
    │   ├── NodeUnavailable (500)          aonode.client                    no answer from the node
    │   └── ProtocolError (500)            aonode.client                    a 2xx answer lacking what is needed
    ├── Busy (503)                         aonode.devices._process_worker   a process locked by another compute
    ├── LeaseHeld (503)                    aonode.devices._scheduler_lease  another node schedules the process
    ├── GatewayUnavailable (502)           aonode.devices._scheduler_remote no gateway to locate a scheduler
    ├── TooManyTasks (503)                 aonode.devices.cron              cron_max_tasks tasks run already
    ├── StackFailed (500)                  aonode.devices.stack             a device in a stack returned an error
    ├── RouteError (502)                   aonode.net.client                no usable route
    ├── SnapshotError (500)                aonode.runtime.lua               a VM state that cannot be saved/restored
    ├── WasmError (422)                    aonode.runtime.wasm              a module that cannot load
    ├── WasmTrap (500)                     aonode.runtime.wasm              a call that trapped
    ├── StoreError (500)                   aonode.store._base               a store that cannot do what was asked
    ├── AttestationError (403)             aonode.tee.errors                attestation evidence that does not convince
    │   ├── CertificateChainInvalid (403)  aonode.tee.errors                ARK -> ASK -> VCEK does not verify
    │   ├── DebugEnabled (403)             aonode.tee.errors                guest debugging is on
    │   ├── MeasurementMismatch (403)      aonode.tee.errors                launch digest is not the report's
    │   ├── MeasurementUnavailable (422)   aonode.tee.errors                no OVMF layout to recompute it
    │   ├── MissingNodeMessage (400)       aonode.tee.errors                no node-message(-id)
    │   ├── NonceMismatch (400)            aonode.tee.errors                nonce is not address + message ID
    │   ├── ReportMalformed (400)          aonode.tee.errors                not an ABI report / valid JSON
    │   ├── ReportNotBound (403)           aonode.tee.errors                report_data lacks the nonce
    │   ├── ReportSignatureInvalid (403)   aonode.tee.errors                the VCEK did not sign this report
    │   ├── SignerMismatch (403)           aonode.tee.errors                not signed by the address it names
    │   ├── UnsupportedProduct (422)       aonode.tee.errors                no pinned ARK for this CPU
    │   ├── UntrustedSoftware (403)        aonode.tee.errors                hashes match no snp_trusted entry
    │   ├── VcekUnavailable (502)          aonode.tee.errors                AMD's KDS gave no certificate
    │   └── WrongProduct (403)             aonode.tee.errors                another product's certificates
    └── NotSnpGuest (503)                  aonode.tee.errors                this machine is no SEV-SNP guest

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

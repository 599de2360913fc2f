"""The SEV-SNP attestation report (AMD SEV-SNP ABI, report version 2 and later; 1184 bytes),
in its binary form and in the reference's JSON form (node-services.md §6.1).

The reference carries a report as the JSON serialisation of the `sev` crate's
`AttestationReport`: scalars as numbers, byte arrays as arrays of integers, TCB versions as
`{bootloader, tee, _reserved, snp, microcode}` and the signature as `{r, s, _reserved}`.
`from_json` and `to_json` convert between that and the 1184 bytes the firmware signs;
`Report` reads the fields the verifier needs from the bytes.

Pure functions, no I/O. Malformed input raises `ReportMalformed` (400).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aonode.tee.errors import ReportMalformed

__all__ = ["REPORT_SIZE", "SIGNED_SIZE", "Report", "Tcb", "from_json", "parse_json", "product_of", "to_json"]

REPORT_SIZE = 0x4A0
"""Bytes in a report."""
SIGNED_SIZE = 0x2A0
"""The signature covers bytes 0 .. 0x29F."""
DEBUG_POLICY_BIT = 19

# (JSON key, offset, size, kind): kind is "u8"/"u32"/"u64" (little-endian), "bytes" or "tcb".
_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("version", 0x000, 4, "u32"),
    ("guest_svn", 0x004, 4, "u32"),
    ("policy", 0x008, 8, "u64"),
    ("family_id", 0x010, 16, "bytes"),
    ("image_id", 0x020, 16, "bytes"),
    ("vmpl", 0x030, 4, "u32"),
    ("sig_algo", 0x034, 4, "u32"),
    ("current_tcb", 0x038, 8, "tcb"),
    ("plat_info", 0x040, 8, "u64"),
    ("_author_key_en", 0x048, 4, "u32"),
    ("_reserved_0", 0x04C, 4, "u32"),
    ("report_data", 0x050, 64, "bytes"),
    ("measurement", 0x090, 48, "bytes"),
    ("host_data", 0x0C0, 32, "bytes"),
    ("id_key_digest", 0x0E0, 48, "bytes"),
    ("author_key_digest", 0x110, 48, "bytes"),
    ("report_id", 0x140, 32, "bytes"),
    ("report_id_ma", 0x160, 32, "bytes"),
    ("reported_tcb", 0x180, 8, "tcb"),
    ("_reserved_1", 0x188, 24, "bytes"),
    ("chip_id", 0x1A0, 64, "bytes"),
    ("committed_tcb", 0x1E0, 8, "tcb"),
    ("current_build", 0x1E8, 1, "u8"),
    ("current_minor", 0x1E9, 1, "u8"),
    ("current_major", 0x1EA, 1, "u8"),
    ("_reserved_2", 0x1EB, 1, "u8"),
    ("committed_build", 0x1EC, 1, "u8"),
    ("committed_minor", 0x1ED, 1, "u8"),
    ("committed_major", 0x1EE, 1, "u8"),
    ("_reserved_3", 0x1EF, 1, "u8"),
    ("launch_tcb", 0x1F0, 8, "tcb"),
    ("_reserved_4", 0x1F8, 168, "bytes"),
)
_SIGNATURE = 0x2A0
_SIG_PARTS = (("r", 0x2A0, 72), ("s", 0x2E8, 72), ("_reserved", 0x330, 368))
_INTS = {"u8": "<B", "u32": "<I", "u64": "<Q"}
_JUST_INT = {int}
# Report v3 names three bytes of `_reserved_1` (the CPUID family, model and stepping).
_CPUID_KEYS = (("cpuid_fam_id", 0x188), ("cpuid_mod_id", 0x189), ("cpuid_step", 0x18A))


@dataclass(frozen=True)
class Tcb:
    """A TCB version: the security patch levels of the four firmware parts."""

    bootloader: int
    tee: int
    snp: int
    microcode: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> Tcb:
        return cls(bootloader=raw[0], tee=raw[1], snp=raw[6], microcode=raw[7])


def _byte_array(value: Any, size: int, where: str) -> bytes:
    if not isinstance(value, list) or len(value) != size:
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
        raise ReportMalformed(f"{where} must be an array of {size} bytes, got {got}")
    # `bytes` checks the range; the type check runs in C (bools and floats are not bytes).
    if not set(map(type, value)) <= {int}:
        raise ReportMalformed(f"{where} must hold integers 0..255")
    try:
        return bytes(value)
    except ValueError as exc:
        raise ReportMalformed(f"{where} must hold integers 0..255") from exc


def _int(value: Any, fmt: str, where: str) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReportMalformed(f"{where} must be an integer, got {type(value).__name__}")
    try:
        return struct.pack(fmt, value)
    except struct.error as exc:
        raise ReportMalformed(f"{where} is out of range: {value}") from exc


def _tcb(value: Any, where: str) -> bytes:
    if not isinstance(value, Mapping):
        raise ReportMalformed(f"{where} must be an object {{bootloader, tee, _reserved, snp, microcode}}")
    parts = [value.get("bootloader", 0), value.get("tee", 0), *value.get("_reserved", (0, 0, 0, 0)),
             value.get("snp", 0), value.get("microcode", 0)]
    if len(parts) != 8 or not set(map(type, parts)) <= {int}:
        raise ReportMalformed(f"{where} must hold integers (and `_reserved` 4 of them)")
    try:
        return bytes(parts)
    except ValueError as exc:
        raise ReportMalformed(f"{where} values must be 0..255") from exc


def parse_json(text: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """The report JSON as an object (text is parsed).

    Raises:
        ReportMalformed: not JSON, or not a JSON object.
    """
    if isinstance(text, Mapping):
        return text if isinstance(text, dict) else dict(text)
    try:
        found = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportMalformed(f"the report is not JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise ReportMalformed("the report JSON is not an object")
    return found


def from_json(report: str | bytes | Mapping[str, Any]) -> bytes:
    """The 1184 report bytes of a report in the reference's JSON form.

    Missing fields are zero, as in the reference's NIF (so `snp-measurement.json`, which has
    no signature, still converts); present fields must have exactly their size.

    Raises:
        ReportMalformed: not JSON, a field of the wrong type or size.
    """
    obj = parse_json(report)
    out = bytearray(REPORT_SIZE)
    for key, offset, size, kind in _FIELDS:
        value = obj.get(key)
        if value is None:
            continue
        if kind == "bytes":
            # The common case in one C-level step; anything odd goes through the checks.
            if type(value) is list and len(value) == size and set(map(type, value)) == _JUST_INT:
                try:
                    out[offset:offset + size] = bytes(value)
                    continue
                except ValueError:
                    pass
            raw = _byte_array(value, size, key)
        elif kind == "tcb":
            raw = _tcb(value, key)
        else:
            raw = _int(value, _INTS[kind], key)
        out[offset:offset + size] = raw
    for key, offset in _CPUID_KEYS:
        if key in obj:
            out[offset:offset + 1] = _int(obj[key], "<B", key)
    signature = obj.get("signature")
    if signature is not None:
        if not isinstance(signature, Mapping):
            raise ReportMalformed("signature must be an object {r, s, _reserved}")
        for key, offset, size in _SIG_PARTS:
            if key in signature:
                out[offset:offset + size] = _byte_array(signature[key], size, f"signature.{key}")
    return bytes(out)


def to_json(raw: bytes) -> dict[str, Any]:
    """The reference's JSON form of 1184 report bytes (key order as the `sev` crate's).

    Raises:
        ReportMalformed: `raw` is not exactly 1184 bytes.
    """
    if len(raw) != REPORT_SIZE:
        raise ReportMalformed(f"a report is {REPORT_SIZE} bytes, got {len(raw)}")
    obj: dict[str, Any] = {}
    for key, offset, size, kind in _FIELDS:
        chunk = raw[offset:offset + size]
        if kind == "bytes":
            obj[key] = list(chunk)
        elif kind == "tcb":
            obj[key] = {"bootloader": chunk[0], "tee": chunk[1], "_reserved": list(chunk[2:6]),
                        "snp": chunk[6], "microcode": chunk[7]}
        else:
            obj[key] = struct.unpack(_INTS[kind], chunk)[0]
    obj["signature"] = {key: list(raw[offset:offset + size]) for key, offset, size in _SIG_PARTS}
    return obj


# CPUID family and model ranges -> the product name AMD's KDS files certificates under.
_PRODUCTS: tuple[tuple[int, range, str], ...] = (
    (0x19, range(0x00, 0x10), "Milan"),
    (0x19, range(0x10, 0x20), "Genoa"),
    (0x19, range(0xA0, 0xB0), "Genoa"),  # Bergamo and Siena use Genoa's keys
    (0x1A, range(0x00, 0x20), "Turin"),
)


def product_of(family: int, model: int) -> str | None:
    """The KDS product name of a CPU family and model, or None when unknown."""
    for fam, models, name in _PRODUCTS:
        if family == fam and model in models:
            return name
    return None


class Report:
    """A view over 1184 report bytes.

    Raises (constructor):
        ReportMalformed: not exactly 1184 bytes.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != REPORT_SIZE:
            raise ReportMalformed(f"a report is {REPORT_SIZE} bytes, got {len(raw)} (truncated or padded)")
        self.raw = bytes(raw)

    @classmethod
    def from_json(cls, report: str | bytes | Mapping[str, Any]) -> Report:
        return cls(from_json(report))

    def _u32(self, offset: int) -> int:
        value: int = struct.unpack_from("<I", self.raw, offset)[0]
        return value

    @property
    def version(self) -> int:
        return self._u32(0x000)

    @property
    def policy(self) -> int:
        value: int = struct.unpack_from("<Q", self.raw, 0x008)[0]
        return value

    @property
    def debug_allowed(self) -> bool:
        """Policy bit 19: the hypervisor may debug (read and change) the guest."""
        return bool(self.policy >> DEBUG_POLICY_BIT & 1)

    @property
    def vmpl(self) -> int:
        return self._u32(0x030)

    @property
    def sig_algo(self) -> int:
        return self._u32(0x034)

    @property
    def report_data(self) -> bytes:
        return self.raw[0x050:0x090]

    @property
    def measurement(self) -> bytes:
        return self.raw[0x090:0x0C0]

    @property
    def chip_id(self) -> bytes:
        return self.raw[0x1A0:0x1E0]

    @property
    def current_tcb(self) -> Tcb:
        return Tcb.from_bytes(self.raw[0x038:0x040])

    @property
    def reported_tcb(self) -> Tcb:
        """The TCB the VCEK is derived from (what the KDS is asked for)."""
        return Tcb.from_bytes(self.raw[0x180:0x188])

    @property
    def cpuid(self) -> tuple[int, int, int] | None:
        """(family, model, stepping) for report version 3 and later; None for version 2."""
        if self.version < 3:
            return None
        return self.raw[0x188], self.raw[0x189], self.raw[0x18A]

    @property
    def product(self) -> str | None:
        """The KDS product read from the report's CPUID fields; None when it has none."""
        found = self.cpuid
        return product_of(found[0], found[1]) if found is not None else None

    @property
    def signed_part(self) -> bytes:
        return self.raw[:SIGNED_SIZE]

    @property
    def signature_rs(self) -> tuple[int, int]:
        """The ECDSA (r, s): the first 48 bytes of each 72-byte field, little-endian."""
        r = int.from_bytes(self.raw[0x2A0:0x2A0 + 48], "little")
        s = int.from_bytes(self.raw[0x2E8:0x2E8 + 48], "little")
        return r, s

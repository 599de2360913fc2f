"""The expected launch measurement of an SEV-SNP guest, recomputed from its local hashes
(node-services.md §6.4), with the `sev-snp-measure` package.

A launch digest folds in, page by page: the OVMF firmware (given as its precomputed digest,
`firmware`), the pages OVMF's SEV metadata lays out (zero, secrets, CPUID and the kernel-hashes
page holding the SHA-256s of `kernel`, `initrd` and `append`), and one VMSA page per vCPU
(built from `vcpu_type`, `vmm_type` and `guest_features`).

The metadata sections, the SEV-ES reset EIP and the hashes table's address come from the OVMF
binary. aonode does not ship one (the reference's `test/OVMF-1.55.fd` is not available), so they
are **configuration**: the `snp_ovmf` option is either `{"file": <path of the OVMF .fd>}` or
the layout itself:

    {"sections": [{"gpa": .., "size": .., "type": ..}, ...],   type: 1 SEC_MEM, 2 SECRETS,
     "sev_es_reset_eip": .., "sev_hashes_table_gpa": ..}          3 CPUID, 4 SVSM_CAA, 0x10 KERNEL_HASHES

Pure computation (a file is read only when the option names one); results are memoised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sevsnpmeasure import guest as _guest  # type: ignore[import-untyped]
from sevsnpmeasure.gctx import GCTX  # type: ignore[import-untyped]
from sevsnpmeasure.ovmf import OVMF, OvmfSevMetadataSectionDesc, SectionType  # type: ignore[import-untyped]
from sevsnpmeasure.sev_hashes import SevHashes  # type: ignore[import-untyped]
from sevsnpmeasure.sev_mode import SevMode  # type: ignore[import-untyped]
from sevsnpmeasure.vcpu_types import CPU_SIGS, cpu_sig  # type: ignore[import-untyped]
from sevsnpmeasure.vmm_types import VMMType  # type: ignore[import-untyped]
from sevsnpmeasure.vmsa import VMSA  # type: ignore[import-untyped]

from aonode._memo import Memo
from aonode.tee.errors import MeasurementUnavailable, UntrustedSoftware

__all__ = ["MEASURED_KEYS", "OvmfLayout", "launch_digest", "layout_from_option"]

MEASURED_KEYS = ("vcpus", "vcpu_type", "vmm_type", "guest_features", "firmware", "kernel", "initrd", "append")
"""The local hashes a launch digest depends on."""

_EPYC = cpu_sig(23, 1, 2)
_ROME = cpu_sig(23, 49, 0)
_MILAN = cpu_sig(25, 1, 1)
_GENOA = cpu_sig(25, 17, 0)
# The reference's numeric `vcpu_type` (its Rust CpuType; 2 is not a valid value there).
_VCPU_TYPES: Mapping[int, int] = {
    0: _EPYC, 1: _EPYC, 3: _EPYC, 4: _EPYC, 5: _EPYC,
    6: _ROME, 7: _ROME, 8: _ROME, 9: _ROME,
    10: _MILAN, 11: _MILAN, 12: _MILAN,
    13: _GENOA, 14: _GENOA,
}
# The reference's numeric `vmm_type`: 1 QEMU, 2 EC2 (its 3 is KRUN, which the package lacks).
_VMM_TYPES: Mapping[int, Any] = {1: VMMType.QEMU, 2: VMMType.ec2}


def _num(value: Any, what: str) -> int:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        if isinstance(value, str):
            return int(value, 0)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    except ValueError:
        pass
    raise MeasurementUnavailable(f"{what} must be an integer, got {value!r}")


@dataclass(frozen=True)
class OvmfLayout:
    """What the launch digest needs of an OVMF binary besides its digest (duck-types
    `sevsnpmeasure.ovmf.OVMF` for the package's metadata walk)."""

    sections: tuple[tuple[int, int, int], ...]
    reset_eip: int
    hashes_table_gpa: int

    def metadata_items(self) -> list[Any]:
        return [OvmfSevMetadataSectionDesc(gpa=g, size=s, section_type_int=t) for g, s, t in self.sections]

    def has_metadata_section(self, section_type: Any) -> bool:
        return any(SectionType(t) == section_type for _, _, t in self.sections)

    def sev_hashes_table_gpa(self) -> int:
        return self.hashes_table_gpa

    def sev_es_reset_eip(self) -> int:
        return self.reset_eip


_LAYOUTS: Memo[str, OvmfLayout] = Memo(64)
# (option value, result): the value is kept, so its id cannot be reused by another object.
_LAST_LAYOUT: list[tuple[Any, OvmfLayout] | None] = [None]


def layout_from_option(value: Any) -> OvmfLayout:
    """The OVMF layout the `snp_ovmf` option describes (see the module docstring); memoised
    by the option's value (a file is read once per path).

    Raises:
        MeasurementUnavailable: the option is missing or malformed, or the file unreadable.
    """
    last = _LAST_LAYOUT[0]  # one tuple, read and replaced whole: safe across threads
    if last is not None and last[0] is value:  # a node passes the same option object every time
        return last[1]
    found = _LAYOUTS.get_or_compute(repr(value), lambda: _layout(value))
    _LAST_LAYOUT[0] = (value, found)
    return found


def _layout(value: Any) -> OvmfLayout:
    if not isinstance(value, Mapping) or not value:
        raise MeasurementUnavailable("no OVMF layout is configured (option snp_ovmf): the launch measurement "
                                     "cannot be recomputed, so no report can be accepted")
    if "file" in value:
        path = value["file"]
        try:
            ovmf = OVMF(path.decode() if isinstance(path, bytes) else str(path))
            sections = tuple((d.gpa, d.size, d.section_type_int) for d in ovmf.metadata_items())
            return OvmfLayout(sections, ovmf.sev_es_reset_eip(), ovmf.sev_hashes_table_gpa()
                              if ovmf.is_sev_hashes_table_supported() else 0)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise MeasurementUnavailable(f"snp_ovmf file {path!r} cannot be read as OVMF: {exc}") from exc
    raw = value.get("sections")
    if not isinstance(raw, list) or not raw:
        raise MeasurementUnavailable("snp_ovmf.sections must be a non-empty list of {gpa, size, type}")
    found: list[tuple[int, int, int]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise MeasurementUnavailable(f"snp_ovmf.sections[{i}] must be a map {{gpa, size, type}}")
        kind = _num(item.get("type"), f"snp_ovmf.sections[{i}].type")
        if kind not in {t.value for t in SectionType}:
            raise MeasurementUnavailable(f"snp_ovmf.sections[{i}].type {kind} is no OVMF SEV metadata type")
        found.append((_num(item.get("gpa"), f"snp_ovmf.sections[{i}].gpa"),
                         _num(item.get("size"), f"snp_ovmf.sections[{i}].size"), kind))
    return OvmfLayout(tuple(found), _num(value.get("sev_es_reset_eip"), "snp_ovmf.sev_es_reset_eip"),
                      _num(value.get("sev_hashes_table_gpa", 0), "snp_ovmf.sev_hashes_table_gpa"))


def _hex(value: Any, size: int, key: str) -> bytes:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        raw = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise UntrustedSoftware(f"local hash {key} must be {size} bytes in hex")
    return raw


def _vcpu_sig(value: Any) -> int:
    if isinstance(value, (bytes, str)):
        name = value.decode() if isinstance(value, bytes) else value
        if name in CPU_SIGS:
            return int(CPU_SIGS[name])
    number = _num(value, "vcpu_type") if not isinstance(value, (bytes, str)) or str(value).isdigit() else -1
    if number not in _VCPU_TYPES:
        raise UntrustedSoftware(f"vcpu_type {value!r} is no known vCPU type")
    return _VCPU_TYPES[number]


_DIGESTS: Memo[tuple[Any, ...], bytes] = Memo(256)


def launch_digest(local_hashes: Mapping[str, Any], layout: OvmfLayout) -> bytes:
    """The 48-byte launch digest a guest with these local hashes has under `layout`.

    Raises:
        UntrustedSoftware: a local hash is missing or malformed (the software is not described).
    """
    missing = [k for k in MEASURED_KEYS if k not in local_hashes]
    if missing:
        raise UntrustedSoftware(f"local-hashes lacks {', '.join(missing)}")
    firmware = _hex(local_hashes["firmware"], 48, "firmware")
    kernel = _hex(local_hashes["kernel"], 32, "kernel")
    initrd = _hex(local_hashes["initrd"], 32, "initrd")
    append = _hex(local_hashes["append"], 32, "append")
    try:
        vcpus = _num(local_hashes["vcpus"], "vcpus")
        features = _num(local_hashes["guest_features"], "guest_features")
        vmm_number = _num(local_hashes["vmm_type"], "vmm_type")
    except MeasurementUnavailable as exc:
        raise UntrustedSoftware(exc.message) from exc
    if not 1 <= vcpus <= 512:
        raise UntrustedSoftware(f"vcpus {vcpus} is out of range")
    vmm = _VMM_TYPES.get(vmm_number)
    if vmm is None:
        raise UntrustedSoftware(f"vmm_type {vmm_number} is neither 1 (QEMU) nor 2 (EC2)")
    signature = _vcpu_sig(local_hashes["vcpu_type"])
    key = (layout, firmware, kernel, initrd, append, vcpus, features, vmm_number, signature)
    return _DIGESTS.get_or_compute(key, lambda: _compute(layout, firmware, kernel, initrd, append, vcpus,
                                                         features, vmm, signature))


def _compute(layout: OvmfLayout, firmware: bytes, kernel: bytes, initrd: bytes, append: bytes, vcpus: int,
             features: int, vmm: Any, signature: int) -> bytes:
    gctx = GCTX(seed=firmware)
    hashes = SevHashes.__new__(SevHashes)  # the package reads files; the hashes are given here
    hashes.kernel_hash, hashes.initrd_hash, hashes.cmdline_hash = kernel, initrd, append
    try:
        _guest.snp_update_metadata_pages(gctx, layout, hashes, vmm)
        vmsa = VMSA(SevMode.SEV_SNP, layout.reset_eip, signature, features, vmm)
        for page in vmsa.pages(vcpus):
            gctx.update_vmsa_page(page)
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise MeasurementUnavailable(f"the OVMF layout cannot measure this guest: {exc}") from exc
    digest: bytes = gctx.ld()
    return digest

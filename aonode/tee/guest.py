"""Getting an attestation report from the SEV-SNP firmware of the guest this node runs in.

Two kernel interfaces, tried in order:

* configfs-tsm (Linux 6.7+): make a directory under `/sys/kernel/config/tsm/report`, write
  the 64 bytes of report data to `inblob` (and the VMPL to `privlevel`), read the report
  from `outblob`, remove the directory.
* `/dev/sev-guest`: the `SNP_GET_REPORT` ioctl with a `snp_report_req` (report data, VMPL);
  the firmware's `MSG_REPORT_RSP` holds a status, the report size and the report at byte 32.

`report_source` picks the source named by the `snp_report_source` option: `kernel` (the
default, the two interfaces above) or `module:function`, a callable
`(report_data: bytes, vmpl: int, opts) -> bytes` (a test plays the firmware with a test key this
way; the verifier is not told and checks everything as usual). Elsewhere `NotSnpGuest` (503).
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aonode.core import options
from aonode.errors import AOError, BadMessage
from aonode.tee.errors import NotSnpGuest, ReportMalformed
from aonode.tee.report import REPORT_SIZE

__all__ = ["ReportSource", "kernel_report", "report_source"]

ReportSource = Callable[[bytes, int, Mapping[str, Any]], bytes]

TSM_REPORT_DIR = "/sys/kernel/config/tsm/report"
SEV_GUEST_DEVICE = "/dev/sev-guest"


class _Request(ctypes.Structure):  # struct snp_guest_request_ioctl
    _fields_ = [("msg_version", ctypes.c_uint8), ("req_data", ctypes.c_uint64),
                ("resp_data", ctypes.c_uint64), ("exitinfo2", ctypes.c_uint64)]


class _ReportReq(ctypes.Structure):  # struct snp_report_req
    _fields_ = [("user_data", ctypes.c_uint8 * 64), ("vmpl", ctypes.c_uint32), ("rsvd", ctypes.c_uint8 * 28)]


class _ReportResp(ctypes.Structure):  # struct snp_report_resp
    _fields_ = [("data", ctypes.c_uint8 * 4000)]


# _IOWR('S', 0x0, struct snp_guest_request_ioctl)
SNP_GET_REPORT = (3 << 30) | (ctypes.sizeof(_Request) << 16) | (ord("S") << 8) | 0x0


def _from_tsm(report_data: bytes, vmpl: int, root: str) -> bytes:
    entry = Path(tempfile.mkdtemp(prefix="aonode-", dir=root))
    try:
        (entry / "inblob").write_bytes(report_data)
        if (entry / "privlevel").exists():
            (entry / "privlevel").write_text(str(vmpl))
        provider = (entry / "provider").read_text().strip() if (entry / "provider").exists() else "sev_guest"
        if provider != "sev_guest":
            raise NotSnpGuest(f"this guest's TSM provider is {provider!r}, not SEV-SNP")
        return (entry / "outblob").read_bytes()[:REPORT_SIZE]
    finally:
        try:
            entry.rmdir()
        except OSError:
            pass


def _from_ioctl(report_data: bytes, vmpl: int, device: str) -> bytes:
    req, resp = _ReportReq(), _ReportResp()
    ctypes.memmove(req.user_data, report_data, 64)
    req.vmpl = vmpl
    ioc = _Request(msg_version=1, req_data=ctypes.addressof(req), resp_data=ctypes.addressof(resp))
    fd = os.open(device, os.O_RDWR)
    try:
        fcntl.ioctl(fd, SNP_GET_REPORT, ioc)
    except OSError as exc:
        raise NotSnpGuest(f"SNP_GET_REPORT failed: {exc} (firmware error {ioc.exitinfo2:#x})") from exc
    finally:
        os.close(fd)
    raw = bytes(resp.data)
    status, size = int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:8], "little")
    if status != 0:
        raise NotSnpGuest(f"the SEV-SNP firmware refused the report request (status {status:#x})")
    if size < REPORT_SIZE:
        raise ReportMalformed(f"the firmware returned a {size}-byte report")
    return raw[32:32 + REPORT_SIZE]


def kernel_report(report_data: bytes, vmpl: int, opts: Mapping[str, Any] | None = None) -> bytes:
    """A report from this guest's SEV-SNP firmware with `report_data` in it.

    Raises:
        NotSnpGuest: neither configfs-tsm nor `/dev/sev-guest` is available (503).
    """
    if len(report_data) != 64:
        raise BadMessage("report data is 64 bytes")
    if os.path.isdir(TSM_REPORT_DIR):
        try:
            return _from_tsm(report_data, vmpl, TSM_REPORT_DIR)
        except OSError:
            pass  # configfs present but unusable: try the device
    if os.path.exists(SEV_GUEST_DEVICE):
        return _from_ioctl(report_data, vmpl, SEV_GUEST_DEVICE)
    raise NotSnpGuest("not an SEV-SNP guest: neither /sys/kernel/config/tsm/report nor /dev/sev-guest exists")


def report_source(opts: Mapping[str, Any]) -> ReportSource:
    """The report source the `snp_report_source` option names (default `kernel`).

    Raises:
        AOError: the option names a callable that cannot be imported (500: a broken node config).
    """
    name = options.get(opts, "snp_report_source", "kernel") or "kernel"
    name = name.decode() if isinstance(name, bytes) else str(name)
    if name == "kernel":
        return kernel_report
    module, _, attribute = name.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise AOError(f"snp_report_source {name!r} cannot be loaded: {exc}", status=503) from exc
    if not callable(found):
        raise AOError(f"snp_report_source {name!r} is not callable", status=503)
    source: ReportSource = found
    return source

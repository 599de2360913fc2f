"""The durable outbox of bundler uploads: nothing a client was told is queued is lost.

    <dir>/pending/<key>.json     waiting for a bundler (written and fsynced before anyone is told)
    <dir>/rejected/<key>.json    a bundler refused it with a 4xx: kept, with the reason, never retried
    <dir>/locks/<n>.lock         flock stripes: one attempt at a time per upload, across workers

`submit(upload)` stores the upload and tries it once at once; what the bundler did not accept
stays pending. A worker thread (one per outbox directory and process) retries pending uploads
every `arweave_outbox_retry` ms, doubling the wait after a round in which nothing got through,
up to 60 s, until the bundler accepts each (2xx) or refuses it (4xx other than 408/429, moved
to `rejected/`). An upload is named by its message ID and codec, so submitting the same
message again while it waits is one upload, not two. Every failure is logged with the bundler
and its answer.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aonode.arweave.upload import Delivery, Upload, deliver

__all__ = ["Outbox", "outbox_for"]

log = logging.getLogger("aonode.arweave")

_MAX_WAIT = 60.0
_RETRYABLE_4XX = (408, 425, 429)
_CLAIM_STRIPES = 1024  # an unrelated upload shares a stripe (and waits) 1 time in 1024


@dataclass
class _Status:
    delivered: int = 0
    failures: int = 0
    last_error: str = ""


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    """The uploads of one outbox directory; see the module docstring."""

    def __init__(self, directory: Path, opts: Mapping[str, Any]) -> None:
        self.directory = directory
        self.pending_dir = directory / "pending"
        self.rejected_dir = directory / "rejected"
        self.locks_dir = directory / "locks"
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        self.opts = dict(opts)
        self.status = _Status()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def retry_seconds(self) -> float:
        from aonode.core import options

        return max(0.05, float(options.get(self.opts, "arweave_outbox_retry", 2000)) / 1000)

    def pending(self) -> list[str]:
        """The keys of the uploads waiting for a bundler."""
        return sorted(p.stem for p in self.pending_dir.glob("*.json"))

    def rejected(self) -> list[str]:
        return sorted(p.stem for p in self.rejected_dir.glob("*.json"))

    def submit(self, upload: Upload) -> Delivery:
        """Store `upload` durably, try it once, and say what the bundler did. Unless it was
        accepted or refused, it stays pending and the worker retries it."""
        path = self.pending_dir / f"{upload.key}.json"
        # Stored and tried under the upload's claim: no retry worker (of any process on this
        # outbox) takes it before its submitter has heard the bundler's first answer.
        with self._claim(upload.key, wait=True):
            if not path.exists():
                _write_durably(path, upload.to_json())
            delivery = self._attempt(path, upload)
        self.start()
        return delivery

    def _attempt(self, path: Path, upload: Upload) -> Delivery:
        """One delivery of the pending upload at `path`; the caller holds its claim."""
        delivery = deliver(upload, self.opts)
        if delivery.accepted:
            path.unlink(missing_ok=True)
            self.status.delivered += 1
            log.info("outbox: %s accepted by %s", upload.key, upload.bundler)
        elif 400 <= delivery.status < 500 and delivery.status not in _RETRYABLE_4XX:
            reason = delivery.answer.decode("utf-8", "replace")[:500]
            _write_durably(self.rejected_dir / path.name, upload.to_json()[:-1] + b', "reason": '
                           + _json_text(f"{delivery.status} {reason}") + b"}")
            path.unlink(missing_ok=True)
            log.error("outbox: %s refused by %s: %s %s", upload.key, upload.bundler, delivery.status, reason)
        else:
            self.status.failures += 1
            self.status.last_error = delivery.answer.decode("utf-8", "replace")[:500]
            log.warning("outbox: %s not delivered to %s (%s): %s; will retry", upload.key, upload.bundler,
                        delivery.status, self.status.last_error)
        return delivery

    @contextmanager
    def _claim(self, key: str, *, wait: bool) -> Iterator[bool]:
        """Hold the lock of upload `key` (yields True), or yield False when `wait` is false and
        another thread or process holds it. flock on one of a fixed set of stripe files: held per
        open file, so it excludes this process's threads as well as other workers."""
        stripe = int.from_bytes(hashlib.sha256(key.encode()).digest()[:2], "big") % _CLAIM_STRIPES
        fd = os.open(self.locks_dir / f"{stripe}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def retry_now(self) -> None:
        """Wake the worker for a round at once."""
        self._wake.set()

    def round(self) -> int:
        """Try every pending upload once; how many were delivered."""
        delivered = 0
        for path in sorted(self.pending_dir.glob("*.json")):
            with self._claim(path.stem, wait=False) as claimed:
                if not claimed:
                    continue  # its submitter is trying it now
                try:
                    upload = Upload.from_json(path.read_bytes())
                except FileNotFoundError:
                    continue  # delivered meanwhile
                except (OSError, ValueError, KeyError) as exc:
                    log.error("outbox: %s is unreadable (%s); moved to rejected/", path.name, exc)
                    os.replace(path, self.rejected_dir / path.name)
                    continue
                if self._attempt(path, upload).accepted:
                    delivered += 1
        return delivered

    def start(self) -> None:
        """Start the retry worker (once per outbox)."""
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._run, name=f"arweave-outbox:{self.directory}", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        wait = self.retry_seconds()
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            try:
                if not self.pending():
                    wait = self.retry_seconds()
                    continue
                wait = self.retry_seconds() if self.round() else min(wait * 2, _MAX_WAIT)
            except Exception:  # the worker must outlive any one bad round
                log.exception("outbox: a retry round failed")
                wait = min(wait * 2, _MAX_WAIT)


def _json_text(text: str) -> bytes:
    return json.dumps(text).encode()


_OUTBOXES: dict[str, Outbox] = {}
_OUTBOXES_LOCK = threading.Lock()


def outbox_for(opts: Mapping[str, Any]) -> Outbox:
    """The node's outbox: `arweave_outbox` if set, else `<data_dir>/outbox`; one per directory
    and process, its worker started."""
    from aonode.core import options

    configured = options.get(opts, "arweave_outbox", None)
    directory = Path(str(configured) if configured else Path(str(options.get(opts, "data_dir"))) / "outbox")
    key = os.path.realpath(directory)
    with _OUTBOXES_LOCK:
        found = _OUTBOXES.get(key)
        if found is None:
            found = _OUTBOXES[key] = Outbox(directory, opts)
    found.start()
    return found

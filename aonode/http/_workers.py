"""Every core of one machine: N worker processes serving one listening socket (issue 20).

A Python process runs its node code on one core at a time (the GIL), so `aonode serve
--workers N` forks N processes that each run a whole node (`serve_one`) on the same port: the
parent reserves the address before forking (so a port in use fails at once), and each worker
listens on a socket of its own with `SO_REUSEPORT`, over which the kernel spreads new
connections evenly (by a hash of the connection's addresses). Each worker opens its own stores after
the fork (an LMDB environment must not cross a fork), and they share the data on disk: LMDB is
safe for several processes, and the scheduler's slot is made inside one LMDB write
transaction, which is exclusive across processes, so slots stay gapless and single-writer
whichever worker takes a message (`_scheduler_log`; over Redis, the scheduler lease does it).
What a worker keeps in memory (live process states, memos, in-flight requests) is its own.
A worker whose parent dies (even by SIGKILL) is sent SIGTERM by the kernel (Linux), so no
worker is left behind.

The parent only supervises: SIGTERM or SIGINT is passed to every worker, which stops
gracefully as a single node does; once the workers are gone (or `grace` seconds later, when
it kills those left) it exits with the first failing worker's status, or 0. A worker that
dies while the node runs (a crash, the OOM killer) is started again, unless it exits by itself
within `STARTUP_FAILURE` seconds of its start (a bad configuration: every worker would): then the
node stops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

__all__ = ["STARTUP_FAILURE", "bind", "run_workers"]

log = logging.getLogger("aonode")

STARTUP_FAILURE = 5.0
"""A worker that exits within this many seconds of starting is a start-up failure."""

BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """Reserve `host:port` for the workers: a socket bound with `SO_REUSEPORT` but not listening,
    so an address in use fails here, before any worker starts. (Only listening sockets take
    connections, so this one takes none.)

    Raises:
        OSError: the address cannot be bound (in use, or not local).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host == "localhost":
        host, family = "127.0.0.1", socket.AF_INET
    # SO_REUSEPORT lets any process of this user bind a port another one listens on with it
    # (another aonode, say), and share its connections: first make sure nothing listens there.
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        if port == 0:
            port = probe.getsockname()[1]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _listener(reserved: socket.socket) -> socket.socket:
    """A worker's own listening socket on the reserved address: the kernel spreads new
    connections over the workers' sockets evenly. (One socket shared by all would let the
    worker that wakes first accept every connection waiting, keep-alive ones included, and do
    all the work.)"""
    # The protocol must be named: asyncio sets TCP_NODELAY only on accepted sockets whose
    # `proto` is IPPROTO_TCP, and without it every kept-alive answer whose head and body are
    # written apart waited ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(reserved.family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(reserved.getsockname())
    sock.listen(BACKLOG)
    return sock


def _die_with_parent() -> None:
    """Ask Linux to send this worker SIGTERM when the supervising parent dies (even by SIGKILL),
    so no worker is left serving the port alone. Elsewhere, nothing happens."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def _status(wait_status: int) -> int:
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return 128 + os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else 1


def run_workers(count: int, sock: socket.socket, serve_one: Callable[[socket.socket], int], grace: float) -> int:
    """Fork `count` workers, each running `serve_one(listening)` on a listening socket of its own
    at the address `sock` reserved (`bind`): a node serving until it is told to stop, returning
    the worker's exit status. Then supervise them.

    Returns:
        The exit status for the node: 0 after a clean stop, else the first failure's.
    """
    if count < 1:
        raise ValueError(f"workers must be at least 1, got {count}")
    workers: dict[int, float] = {}  # pid -> start time
    parent = os.getpid()
    stopping = False
    failure = 0

    def start() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with_parent()
                if os.getppid() != parent:  # the parent died before the request took effect
                    os._exit(1)
                listening = _listener(sock)
                sock.close()
                code = serve_one(listening)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", os.getpid())
            finally:
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os._exit(code)
        workers[pid] = time.monotonic()

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping %d workers", len(workers))
        stopping = True
        for pid in list(workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(count):
            start()
        log.info("%d workers serving on one socket: %s", count, " ".join(map(str, workers)))
        deadline: float | None = None
        while workers:
            if stopping and deadline is None:
                deadline = time.monotonic() + grace
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if deadline is not None and time.monotonic() > deadline:
                    for left in list(workers):
                        log.warning("worker %d did not stop within %g s; killing it", left, grace)
                        try:
                            os.kill(left, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    deadline = time.monotonic() + grace
                time.sleep(0.1)
                continue
            started = workers.pop(pid, None)
            if started is None:
                continue
            code = _status(wait_status)
            if stopping:
                failure = failure or code
                continue
            # A worker that exits by itself soon after starting has a bad configuration (every
            # worker would fail the same way); one killed by a signal (SIGKILL, the OOM killer)
            # does not, however soon.
            if time.monotonic() - started < STARTUP_FAILURE and not os.WIFSIGNALED(wait_status):
                log.error("worker %d exited with %d while starting; stopping the node", pid, code)
                failure = code or 1
                stop(signal.SIGTERM, None)
                continue
            log.warning("worker %d exited with %d; starting another", pid, code)
            start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return failure

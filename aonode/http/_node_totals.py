"""Totals of a node run as several worker processes (`aonode serve --workers N`).

Each worker has its own Prometheus counters, and `/metrics` is answered by whichever worker took
the connection. So that the dashboard sees the node, every worker writes its own numbers to
`<data_dir>/workers/<pid>.json` once a second (replaced atomically), and `/metrics` adds the
node's totals over the workers that are alive:

    aonode_node_workers                   worker processes reporting
    aonode_node_requests_total            HTTP requests answered by all of them
    aonode_node_executions_total          slots computed by all of them
    aonode_node_requests_in_flight        requests being processed by all of them
    aonode_node_start_time_seconds        when the first of them started

A file whose process has exited is ignored (and removed). With one worker nothing is written:
the totals are that worker's own numbers.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["FOLDER", "Totals", "render"]

FOLDER = "workers"
PERIOD = 1.0

Snapshot = dict[str, float]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's (a reused pid): not ours, but not ours to judge
        return True
    return True


def render(snapshots: list[Snapshot]) -> bytes:
    """The node-total series for these worker snapshots, in the text exposition format."""
    started = min((s.get("started", 0.0) for s in snapshots if s.get("started")), default=0.0)
    lines = [
        "# HELP aonode_node_workers Worker processes of this node that report.",
        "# TYPE aonode_node_workers gauge",
        f"aonode_node_workers {len(snapshots)}",
        "# HELP aonode_node_requests_total HTTP requests answered by every worker of this node.",
        "# TYPE aonode_node_requests_total counter",
        f"aonode_node_requests_total {sum(s.get('requests', 0.0) for s in snapshots)}",
        "# HELP aonode_node_executions_total Slots computed by every worker of this node.",
        "# TYPE aonode_node_executions_total counter",
        f"aonode_node_executions_total {sum(s.get('executions', 0.0) for s in snapshots)}",
        "# HELP aonode_node_requests_in_flight Requests being processed by every worker of this node.",
        "# TYPE aonode_node_requests_in_flight gauge",
        f"aonode_node_requests_in_flight {sum(s.get('inflight', 0.0) for s in snapshots)}",
        "# HELP aonode_node_start_time_seconds When the first worker of this node started.",
        "# TYPE aonode_node_start_time_seconds gauge",
        f"aonode_node_start_time_seconds {started}",
    ]
    return ("\n".join(lines) + "\n").encode()


class Totals:
    """This worker's side: publish its snapshot, and read every live worker's.

    Args:
        folder: `<data_dir>/workers`, shared by the workers of one node.
        snapshot: this worker's numbers now.
        publish: write them every `PERIOD` seconds (False: one worker, nothing to share).
    """

    def __init__(self, folder: Path, snapshot: Callable[[], Snapshot], *, publish: bool) -> None:
        self._folder = folder
        self._snapshot = snapshot
        self._publish = publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._own = folder / f"{os.getpid()}.json"

    def start(self) -> None:
        if not self._publish or self._thread is not None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        self._write()
        self._thread = threading.Thread(target=self._run, name="aonode-node-totals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._publish:
            self._own.unlink(missing_ok=True)

    def _write(self) -> None:
        partial = self._own.with_suffix(".tmp")
        partial.write_text(json.dumps(self._snapshot()))
        os.replace(partial, self._own)

    def _run(self) -> None:
        while not self._stop.wait(PERIOD):
            try:
                self._write()
            except OSError:  # a full disk must not stop the worker; the totals are only late
                continue

    def snapshots(self) -> list[Snapshot]:
        """Every live worker's latest numbers, this worker's as of now."""
        own = self._snapshot()
        if not self._publish:
            return [own]
        found = [own]
        for path in self._folder.glob("*.json"):
            if path == self._own or not path.stem.isdigit():
                continue
            if not _alive(int(path.stem)):
                path.unlink(missing_ok=True)
                continue
            try:
                found.append({k: float(v) for k, v in json.loads(path.read_text()).items()})
            except (OSError, ValueError, AttributeError):
                continue  # being replaced, or not ours
        return found

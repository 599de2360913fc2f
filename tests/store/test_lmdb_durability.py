"""A write reported done survives SIGKILL: a child process writes messages to an LMDB store and
prints each ID once `cache.write` returns; it is killed mid-stream; a new process reads them all
and can still write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

WRITER = r"""
import itertools, sys
from aonode.store import LMDBStore, cache
store = LMDBStore(sys.argv[1], capacity=64 * 1024 * 1024)
for i in itertools.count():  # until killed, most likely inside a write transaction
    uid = cache.write({"n": i, "body": b"x" * 100, "child": {"i": i, "list": [i, b"y"]}}, store)
    print(uid, i, flush=True)
"""

READER = r"""
import json, sys
from aonode.codecs import message_id
from aonode.store import LMDBStore, cache
store = LMDBStore(sys.argv[1], capacity=64 * 1024 * 1024)
out = []
for line in sys.stdin:
    uid, n = line.split()
    msg = cache.read(uid, store)
    out.append([uid, message_id(msg, "none") if msg is not None else None, msg["n"] if msg else None, int(n)])
# The killed writer held LMDB's writer lock: a new writer must still get it.
after = cache.write({"after": b"kill"}, store)
assert cache.read(after, store) == {"after": b"kill"}
print(json.dumps(out))
"""


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "lmdb"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                              env=_env())
    assert writer.stdout is not None
    lines = []
    try:
        while len(lines) < 8:  # kill it while it is still writing
            line = writer.stdout.readline()
            assert line, "the writer died before writing"
            lines.append(line)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    reader = subprocess.run([sys.executable, "-c", READER, str(db)], input="".join(lines), capture_output=True,
                            text=True, env=_env(), timeout=60, check=True)
    results = json.loads(reader.stdout)
    assert len(results) == len(lines)
    for uid, read_id, n, written_n in results:
        assert read_id == uid and n == written_n

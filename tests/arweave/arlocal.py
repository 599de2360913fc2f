"""arlocal, a local Arweave gateway from npm, for tests that need a real gateway and bundler.

Shared by the gateway tests (tests/arweave) and the permaweb tests (tests/permaweb):

    from arweave.arlocal import ArLocal, arlocal_module   # a module-scoped fixture

`install()` installs the packages of `tests/arweave/package.json` (arlocal 1.1.66, arweave,
arbundles) from the committed lock file, with the two steps arlocal needs here: the
`overrides` entry pins `avsc` to 5.7.9 (arbundles 0.6 names a GitHub URL for it), and, since
the install runs without scripts, `sqlite3`'s native addon is built with node-gyp against the
system Node's headers. Each step is printed.

`ArLocal.start()` runs `arlocal_harness.mjs serve`: arlocal on a free loopback port plus a
bundler front (POST /tx takes one ANS-104 item and wraps it in a bundle, as bundlers do) on
another. `publish()` signs and bundles items with `arweave`/`arbundles` (never aonode's code)
and mines them. `routes()` is the route table a node uses to reach both: arlocal serves data at
`/<id>`, so `/raw/<id>` reaches it through a route that rewrites the path, as an operator
would configure any gateway.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
HARNESS = HERE / "arlocal_harness.mjs"
SQLITE_ADDON = Path("node_modules/sqlite3/build/Release/node_sqlite3.node")


def _say(text: str) -> None:
    print(f"[arlocal] {text}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node_headers_dir() -> str:
    """The prefix whose include/node holds the running Node's headers (Debian: /usr)."""
    node = shutil.which("node")
    assert node is not None
    prefix = Path(os.path.realpath(node)).parent.parent
    for candidate in (prefix, Path("/usr"), Path("/usr/local")):
        if (candidate / "include" / "node" / "node.h").exists():
            return str(candidate)
    pytest.fail(f"no Node headers (include/node/node.h) under {prefix}, /usr or /usr/local: install Node's "
                "development headers (Debian: libnode-dev) so sqlite3's addon can be built")


def install() -> Path:
    """Install the npm packages once (under a file lock: tests may run in parallel) and return
    the node_modules folder."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run arlocal; install Node.js 20 or newer")
    with open(Path(tempfile.gettempdir()) / "aonode-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = HERE / "node_modules" / ".package-lock.json"
        if not marker.exists() or marker.stat().st_mtime < (HERE / "package-lock.json").stat().st_mtime:
            _say("npm ci --ignore-scripts (arlocal 1.1.66, arweave, arbundles; avsc overridden to 5.7.9)")
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE,
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr
        if not (HERE / SQLITE_ADDON).exists():
            nodedir = _node_headers_dir()
            gyp = HERE / "node_modules" / ".bin" / "node-gyp"
            _say(f"building sqlite3's addon: {gyp} rebuild --nodedir={nodedir} (about a minute, once)")
            done = subprocess.run([str(gyp), "rebuild", f"--nodedir={nodedir}"], cwd=HERE / "node_modules" / "sqlite3",
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
            assert (HERE / SQLITE_ADDON).exists(), "node-gyp finished without node_sqlite3.node"
    return HERE / "node_modules"


def install_aoconnect() -> Path:
    """tests/clients' npm packages (@permaweb/aoconnect), installed as its conftest does; their
    node_modules folder."""
    clients = HERE.parent / "clients"
    with open(Path(tempfile.gettempdir()) / "aonode-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = clients / "node_modules" / ".package-lock.json"
        if not marker.exists() or marker.stat().st_mtime < (clients / "package-lock.json").stat().st_mtime:
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=clients,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr
    return clients / "node_modules"


def _node(args: Sequence[str], *, stdin: str | None = None, timeout: float = 120) -> str:
    done = subprocess.run(["node", str(HARNESS), *args], cwd=HERE, input=stdin, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"arlocal_harness {args[0]} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def tag_list(tags: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    pairs = tags.items() if isinstance(tags, Mapping) else tags
    return [{"name": name, "value": value} for name, value in pairs]


@dataclass
class Published:
    """What `publish` put on arlocal: item IDs in order, their signed bytes, and the bundles."""

    ids: list[str]
    raw_ids: list[str]
    bundles: list[str]
    items: list[bytes]


@dataclass
class ArLocal:
    """A running arlocal and bundler front on loopback; `stop()`/`start()` keep the ports and data."""

    workdir: Path
    port: int = field(default_factory=_free_port)
    bundler_port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bundler_url(self) -> str:
        return f"http://127.0.0.1:{self.bundler_port}"

    @property
    def db(self) -> Path:
        return self.workdir / "db"

    @property
    def wallet(self) -> Path:
        """The funded wallet that signs bundles (and test items unless told otherwise)."""
        return self.workdir / "wallet.json"

    @property
    def log(self) -> Path:
        return self.workdir / "arlocal.log"

    def start(self) -> ArLocal:
        install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.wallet.exists():
            _say(f"generating the bundler wallet {self.wallet}")
            _node(["wallet", str(self.wallet)])
        _say(f"starting arlocal on {self.url} (bundler front {self.bundler_url}, db {self.db})")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["node", str(HARNESS), "serve", str(self.port), str(self.bundler_port), str(self.db), str(self.wallet)],
                # arlocal writes a logs/ folder in its working directory: keep it with the data.
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"arlocal exited with {self.process.returncode}:\n{self.log.read_text()}")
            if '"ready":true' in self.log.read_text(errors="replace"):
                try:
                    httpx.get(self.url + "/info", timeout=2).raise_for_status()
                    return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"arlocal did not start in 60 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # Marks the restart in the log so `start()` waits for the next "ready" line.
        text = self.log.read_text(errors="replace").replace('"ready":true', '"ready":"was"')
        self.log.write_text(text)

    def publish(self, items: Sequence[Mapping[str, Any]] = (), *, raw: Sequence[bytes] = (),
                broken: Sequence[Mapping[str, Any]] = (), wallet: Path | None = None) -> Published:
        """Sign each of `items` ({"data": bytes, "tags": {name: value} or pairs, "target"?: b64url})
        with `wallet` (the bundler wallet by default), bundle them in one L1 transaction and mine it.
        Each of `raw` (already signed item bytes, valid or not) goes in a bundle of its own:
        arlocal leaves a whole bundle unmined when one of its items does not verify. Each of
        `broken` (as `items`) is signed, then a byte of its data is changed: its ID comes last in
        `raw_ids`."""
        def entry(it: Mapping[str, Any]) -> dict[str, Any]:
            return {"data": base64.b64encode(bytes(it.get("data", b""))).decode(), "tags": tag_list(it.get("tags", {})),
                    **({"target": it["target"]} if "target" in it else {})}

        spec = {"items": [entry(it) for it in items], "raw": [base64.b64encode(r).decode() for r in raw],
                "broken": [entry(it) for it in broken]}
        args = ["publish", self.url, str(wallet or self.wallet), self.bundler_url + "/mine"]
        out = json.loads(_node(args, stdin=json.dumps(spec)))
        return Published(out["ids"], out["raw_ids"], out["bundles"], [base64.b64decode(b) for b in out["raw"]])

    def verify(self, item_id: str) -> dict[str, Any]:
        """arbundles' verdict on the item as arlocal reports it: {"id", "found", "valid", "tags"}
        (rebuilt from GraphQL fields and `/<id>` data)."""
        found: dict[str, Any] = json.loads(_node(["verify", self.url, item_id]))
        return found

    def mine(self) -> None:
        # Through the harness, which runs one mine at a time (see arlocal_harness.mjs).
        httpx.get(self.bundler_url + "/mine", timeout=30).raise_for_status()

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """POST a GraphQL query to arlocal and return its `data`."""
        answer = httpx.post(self.url + "/graphql", json={"query": query, "variables": dict(variables or {})},
                            timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    def requests(self, method: str, path: str) -> int:
        """How many `method path` requests arlocal has answered (from its request log)."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if "-->" in line and f" {method} {path} " in line)

    def data(self, item_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/{item_id}", timeout=30)

    def routes(self) -> list[dict[str, Any]]:
        """Routes that send a node's gateway requests to this arlocal: GraphQL as is, `/raw/<id>`
        rewritten to arlocal's `/<id>`, `/arweave/...` to arlocal's root (the reference's `/arweave`
        route shape)."""
        return [
            {"template": "/graphql", "nodes": [{"prefix": self.url}]},
            {"template": "/raw", "node": {"match": "^/raw", "with": self.url}},
            {"template": "/arweave", "node": {"match": "^/arweave", "with": self.url}},
        ]


@pytest.fixture(scope="module")
def arlocal_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArLocal]:
    """One arlocal per test module (import this fixture into a conftest or test module)."""
    running = ArLocal(tmp_path_factory.mktemp("arlocal")).start()
    try:
        yield running
    finally:
        running.stop()

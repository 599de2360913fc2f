"""Real services for the tests: `redis-server` alone and a 3-master Redis Cluster made with
`redis-cli --cluster create`, on free loopback ports, stopped (and their files removed with the
test's temporary directory) afterwards.

The programs come from Debian (`tests/install-services`, run by `make test`, installs them when
missing). A test module takes one with a module-scoped fixture:

    @pytest.fixture(scope="module")
    def redis_url(tmp_path_factory):
        with services.redis_server(tmp_path_factory.mktemp("redis")) as server:
            yield server.url
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

__all__ = ["RedisServer", "free_port", "redis_cluster", "redis_server"]

START_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port free on loopback right now (and its cluster bus port, +10000, below 65536)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 < 65536:
            return port


def _need(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise RuntimeError(f"{program} is not installed; run tests/install-services (make test does)")
    return found


@dataclass
class RedisServer:
    """One running redis-server."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def kill(self) -> None:
        """SIGKILL: what a crash or a power cut does to the server process."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Start the server again on the same port and directory (after `kill` or `stop`)."""
        self.stop()
        self.process = _spawn(self.args, self.directory)
        _wait_ready(self)


def _spawn(args: list[str], directory: Path) -> subprocess.Popen[bytes]:
    log = (directory / "redis.log").open("ab")
    with log:
        return subprocess.Popen(args, cwd=directory, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(server: RedisServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            log = (server.directory / "redis.log").read_text(errors="replace")
            raise RuntimeError(f"redis-server exited with {server.process.returncode}:\n{log}")
        try:
            with server.client() as client:
                if client.ping():
                    return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _start(directory: Path, *, appendfsync: str = "everysec", cluster: bool = False) -> RedisServer:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [_need("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no",
            "--dir", str(directory), "--appendonly", "yes", "--appendfsync", appendfsync,
            "--save", "", "--daemonize", "no", "--logfile", ""]
    if cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                 "--cluster-node-timeout", "2000"]
    server = RedisServer(port, directory, _spawn(args, directory), args)
    try:
        _wait_ready(server)
    except BaseException:
        server.kill()
        raise
    return server


@contextlib.contextmanager
def redis_server(directory: Path, *, appendfsync: str = "everysec") -> Iterator[RedisServer]:
    """A redis-server on a free loopback port with its files in `directory`, AOF on."""
    server = _start(directory, appendfsync=appendfsync)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class RedisCluster:
    """A running Redis Cluster of masters (no replicas)."""

    masters: list[RedisServer]

    @property
    def url(self) -> str:
        """A startup node as a URL; the client learns the rest of the cluster from it."""
        return self.masters[0].url

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.masters]

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.masters[0].port)


@contextlib.contextmanager
def redis_cluster(directory: Path, masters: int = 3, *, appendfsync: str = "everysec") -> Iterator[RedisCluster]:
    """A Redis Cluster of `masters` masters made with `redis-cli --cluster create`."""
    started: list[RedisServer] = []
    try:
        for n in range(masters):
            started.append(_start(directory / f"m{n}", appendfsync=appendfsync, cluster=True))
        subprocess.run([_need("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{m.port}" for m in started),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # every master must agree the cluster is whole before a client can use it
            states = []
            for m in started:
                with m.client() as c:
                    info = c.execute_command("CLUSTER", "INFO")
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    states.append("cluster_state:ok" in text)
            if all(states):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        yield RedisCluster(started)
    finally:
        for m in started:
            m.stop()

"""`aonode process console PID` and `aonode console` through a pseudo-terminal (issue 23,
done-means 2): the console is the real command, in its own session with the pty as its
controlling terminal, so Ctrl-C is the terminal's SIGINT as in a shell. The process is a legacy
one (tests/clients/aos_legacy.lua) on a real node, spawned with the Python client."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aonode_process import Node, running
from console_helpers import AOS_LEGACY

from aonode.client import Client
from aonode.crypto import Wallet

WAIT = 60.0


class Terminal:
    """A command run on a pseudo-terminal: type lines, wait for text."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.seen = ""

    def expect(self, text: str, timeout: float = WAIT) -> str:
        """Read until `text` has appeared (after what earlier calls consumed); return what came before it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the command ended before {text!r}; it showed:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        before, _, self.seen = self.seen.partition(text)
        return before

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def interrupt(self) -> None:
        # As a person would, a moment after the prompt: a SIGINT that lands after readline printed
        # the prompt but before it waits in select() is only seen at the next key (CPython's
        # readline checks for signals when select() is interrupted), which is what stalled this
        # test on a loaded machine.
        time.sleep(0.5)
        os.write(self.fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the console

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 65536) if select.select([self.fd], [], [], 0.1)[0] else None
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the console did not exit")


def aonode_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "aonode.cli", *args]


def console_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HB_", "AONODE_"))}
    env.update({"PYTHONUNBUFFERED": "1", "TERM": "dumb"})
    return env


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("repl") / "node") as started:
        yield started


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory) -> tuple[Wallet, Path]:
    wallet = Wallet.generate()
    path = tmp_path_factory.mktemp("owner") / "wallet.json"
    wallet.save(path)
    return wallet, path


@pytest.fixture(scope="module")
def pid(node: Node, owner: tuple[Wallet, Path]) -> str:
    with Client(node.url, owner[0], timeout=60) as client:
        return client.spawn(client.upload_module(AOS_LEGACY), tags={"Name": "console-test"})


def test_process_console_eval_print_dry_run_history_and_ctrl_c(node: Node, owner: tuple[Wallet, Path],
                                                               pid: str) -> None:
    # `localhost:PORT` without a scheme, as a user types it.
    # A process ID can begin with `-`: it goes after `--`, as the CLI's help says.
    term = Terminal(aonode_argv("process", "console", "--wallet", str(owner[1]),
                                "--node", f"localhost:{node.port}", "--poll", "0.3", "--", pid), console_env())
    banner = term.expect("aos> ")
    assert pid in banner and f"http://localhost:{node.port}" in banner
    term.type("X = 41")
    term.expect("aos> ")
    term.type("return X + 1")
    assert term.expect("aos> ").strip().endswith("42")
    term.type('print("hello from the process")')
    assert "hello from the process" in term.expect("aos> ")
    term.type("? X = 7 return X")  # a dry run: computed, not scheduled
    assert "(dry run) 7" in term.expect("aos> ")
    term.type("return X")
    assert term.expect("aos> ").strip().endswith("41")  # the dry run changed nothing
    term.type("error('boom')")
    failed = term.expect("aos> ")
    assert "error:" in failed and "boom" in failed
    # A message someone else sends: its printed result shows up by itself.
    with Client(node.url, Wallet.generate(), timeout=60) as other:
        other.message(pid, tags={"Action": "Credit", "Quantity": "5"})
    term.expect("Balance: 5")
    term.type(".history")
    listed = term.expect("aos> ")
    assert "X = 41" in listed and "? X = 7 return X" in listed
    term.interrupt()
    term.expect("Bye.")
    assert term.wait() == 0


def test_process_console_reads_the_node_from_aonode_url(node: Node, owner: tuple[Wallet, Path], pid: str) -> None:
    env = {**console_env(), "AONODE_URL": f"127.0.0.1:{node.port}"}
    term = Terminal(aonode_argv("process", "console", "--wallet", str(owner[1]), "--poll", "0", "--", pid), env)
    assert f"http://127.0.0.1:{node.port}" in term.expect("aos> ")
    term.type("return 6 * 7")
    assert term.expect("aos> ").strip().endswith("42")
    term.type(".exit")
    assert term.wait() == 0


def test_node_console_sends_requests_and_leaves_on_ctrl_c(node: Node) -> None:
    env = {**console_env(), "AONODE_URL": f"localhost:{node.port}"}
    term = Terminal(aonode_argv("console"), env)
    term.expect("aonode> ")
    term.type("/~meta@1.0/info/address")
    answer = term.expect("aonode> ")
    assert "200 OK" in answer
    assert Wallet.load(node.data_dir / "wallet.json").address in answer
    term.type("/~message@1.0&greeting=hi")  # a bodiless message, shown as text
    assert "greeting: hi" in term.expect("aonode> ")
    term.type("/no-such-thing")
    assert "404" in term.expect("aonode> ")
    term.interrupt()
    term.expect("Bye.")
    assert term.wait() == 0

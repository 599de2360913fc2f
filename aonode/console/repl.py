"""Interactive consoles of the command line, in the spirit of `aos`.

    aonode process console PID     lines are Lua, sent to the process as `Action=Eval` messages
    aonode console                 lines are requests to the node: `[METHOD] /path [body]`

In the process console:

    <code>          an Eval message: scheduled, computed, its output (or error) printed
    ? <code>        a dry run of the same Eval: computed, never scheduled
    .history        the lines entered so far (the arrow keys recall them too)
    .help           this summary
    .exit, Ctrl-C, Ctrl-D   leave

Results of messages others send to the process are printed as they arrive: a watcher asks the
node for the process's current slot every `poll` seconds and prints the output of each new
slot this console did not send.

The consoles talk to the node only through `aonode.client.Client` (the verbs aoconnect uses)
and plain HTTP requests; the I/O streams are parameters, so they run under a pseudo-terminal
in the tests exactly as in a shell.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from aonode.client import Client
from aonode.errors import AOError

__all__ = ["DRY_PREFIX", "NodeConsole", "ProcessConsole", "output_text"]

DRY_PREFIX = "?"
PROMPT = "aos> "
NODE_PROMPT = "aonode> "
_HELP = """Lines are Lua, sent to the process as Eval messages.
  ? <code>     dry run: computed, never scheduled
  .history     the lines entered so far
  .help        this summary
  .exit        leave (or Ctrl-C, Ctrl-D)"""
_NODE_HELP = """Lines are requests: [METHOD] /path [body]   e.g.  /~meta@1.0/info/address
  .history     the lines entered so far
  .help        this summary
  .exit        leave (or Ctrl-C, Ctrl-D)"""


def output_text(result: dict[str, Any]) -> str:
    """What a result says to a person: its error, else its printed output (aos's `Output.data`)."""
    error = result.get("Error")
    if error not in (None, "", {}):
        return f"error: {error}"
    output = result.get("Output")
    if isinstance(output, dict):
        data = output.get("data", "")
        return data if isinstance(data, str) else str(data)
    return "" if output is None else str(output)


class _Lines:
    """Reads lines with `input()` (readline's editing and history when the stream is the terminal)
    or from any text stream, and keeps the history."""

    def __init__(self, stdin: TextIO | None, stdout: TextIO) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self.history: list[str] = []
        if stdin is None:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (arrow keys and history for input())

    def read(self, prompt: str) -> str | None:
        """The next line without its newline; None at the end of input."""
        if self._stdin is None:
            try:
                line = input(prompt)
            except EOFError:
                return None
        else:
            self._stdout.write(prompt)
            self._stdout.flush()
            raw = self._stdin.readline()
            if not raw:
                return None
            line = raw.rstrip("\n")
        if line.strip():
            self.history.append(line)
        return line


class ProcessConsole:
    """An interactive console for one process on one node.

    Args:
        client: the client (its wallet signs every message).
        pid: the process.
        stdout: where results and prints go.
        stdin: where lines come from; None reads the terminal with `input()` (readline).
        poll: seconds between the watcher's looks at the process (0: no watcher).
    """

    def __init__(self, client: Client, pid: str, stdout: TextIO, stdin: TextIO | None = None,
                 poll: float = 1.0) -> None:
        self.client = client
        self.pid = pid
        self.out = stdout
        self.lines = _Lines(stdin, stdout)
        self.poll = poll
        self._mine: set[int] = set()
        self._seen = -1
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def eval(self, code: str) -> str:
        """Send `code` as an Eval and return what its result says."""
        slot = self.client.message(self.pid, tags={"Action": "Eval"}, data=code)
        with self._lock:
            self._mine.add(slot)
        return output_text(self.client.result(self.pid, slot))

    def dryrun(self, code: str) -> str:
        """Run `code` as an Eval without scheduling it."""
        return output_text(self.client.dryrun(self.pid, tags={"Action": "Eval"}, data=code))

    def handle(self, line: str) -> bool:
        """Act on one line; False when the console should end."""
        text = line.strip()
        if not text:
            return True
        if text in (".exit", ".quit"):
            return False
        if text == ".help":
            self.say(_HELP)
        elif text == ".history":
            self.say("\n".join(f"{i:4}  {h}" for i, h in enumerate(self.lines.history[:-1], 1)))
        elif text.startswith(DRY_PREFIX):
            self.say("(dry run) " + self.dryrun(text[len(DRY_PREFIX):].strip()))
        else:
            self.say(self.eval(line))
        return True

    def _watch(self) -> None:
        """Print the output of slots other senders add to the process, as they arrive."""
        while not self._stop.wait(self.poll):
            try:
                current = self.client.current_slot(self.pid)
                if self._seen < 0:
                    self._seen = current
                    continue
                for slot in range(self._seen + 1, current + 1):
                    with self._lock:
                        mine = slot in self._mine
                    if not mine:
                        said = output_text(self.client.result(self.pid, slot))
                        if said:
                            self.say(f"\n[slot {slot}] {said}")
                self._seen = max(self._seen, current)
            except AOError:
                continue

    def run(self) -> int:
        """The read-eval-print loop; returns the exit status (0)."""
        self.say(f"Process {self.pid} on {self.client.url}. Type .help for help, Ctrl-C to leave.")
        watcher = None
        if self.poll > 0:
            self._seen = self.client.current_slot(self.pid)
            watcher = threading.Thread(target=self._watch, name="aonode-console-watch", daemon=True)
            watcher.start()
        try:
            return _loop(self.lines, PROMPT, self.handle, self.say)
        finally:
            self._stop.set()


class NodeConsole:
    """An interactive console for a node: each line is a request, the reply is printed as text."""

    def __init__(self, url: str, stdout: TextIO, stdin: TextIO | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.out = stdout
        self.lines = _Lines(stdin, stdout)
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"accept": "text/plain", "user-agent": "aonode-console"})

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def handle(self, line: str) -> bool:
        text = line.strip()
        if not text:
            return True
        if text in (".exit", ".quit"):
            return False
        if text == ".help":
            self.say(_NODE_HELP)
            return True
        if text == ".history":
            self.say("\n".join(f"{i:4}  {h}" for i, h in enumerate(self.lines.history[:-1], 1)))
            return True
        method, _, rest = text.partition(" ")
        if method.upper() in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD") and rest:
            path, _, body = rest.strip().partition(" ")
        else:
            method, path, body = "GET", text, ""
        if not path.startswith("/"):
            path = "/" + path
        try:
            reply = self._http.request(method.upper(), path, content=body.encode() if body else None)
        except httpx.HTTPError as exc:
            self.say(f"no answer from {self.url}: {exc}")
            return True
        self.say(f"{reply.status_code} {reply.reason_phrase}")
        if reply.content:
            self.say(reply.text.rstrip("\n"))
        return True

    def run(self) -> int:
        self.say(f"Node {self.url}. Type .help for help, Ctrl-C to leave.")
        try:
            return _loop(self.lines, NODE_PROMPT, self.handle, self.say)
        finally:
            self._http.close()


def _loop(lines: _Lines, prompt: str, handle: Callable[[str], bool], say: Callable[[str], None]) -> int:
    # Ctrl-C is how a user leaves, even when the console was started from a shell that ignores
    # SIGINT for what it runs (a background job, nohup): Python then installs no handler.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            line = lines.read(prompt)
            if line is None:
                say("")
                return 0
            try:
                if not handle(line):
                    return 0
            except AOError as exc:
                say(f"error: {exc.message}")
            except ValueError as exc:
                say(f"error: {exc}")
    except KeyboardInterrupt:
        say("\nBye.")
        return 0

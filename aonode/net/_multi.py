"""Multirequest: one message sent to several nodes of a route (`hb_http_multi`,
node-services.md §14.3).

Settings come from the route, each overridden by the message's `multirequest-<name>` key:

    responses          how many admissible answers are wanted (default 1)
    stop-after         stop once that many arrived (default true; otherwise every node is
                       asked, in parallel mode, and the first `responses` answers are kept)
    parallel           ask all nodes at once (default false: one after another, in order)
    admissible         a message resolved against each answer (`path` default
                       `is-admissible`); the answer counts only when it resolves to true
    admissible-status  `All` (default), a status, a list of statuses or `"200, 201"`
    timeout            (aonode) ms a parallel multirequest waits, at most and by default twice
                       `http_request_send_timeout` plus `http_connect_timeout`

An answer is admissible when it succeeded (`ok`, or `created` for a 201: the reference takes
only `ok`), its HTTP status is allowed, and `admissible` (when given) says true. With
`responses` 1 the first admissible answer is the result; otherwise `Result("ok", [answer, ...])`
in the order they arrived, fewer when the nodes (or the time) ran out first. None admissible
gives `Result("error", {"status": 502, "body": ...})` naming each node's outcome.

Fixed defects of the reference (docs/compat.md): parallel mode returns `Result`s like serial
mode, and it waits at most `multirequest-timeout` ms (default: twice
`http_request_send_timeout` plus `http_connect_timeout`) instead of forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aonode.core import options
from aonode.core.routes import Target
from aonode.core.terms import Result
from aonode.message import normalize_key
from aonode.text import key_text

__all__ = ["PREFIX", "Settings", "is_admissible", "run", "settings", "strip"]

PREFIX = "multirequest-"
BAD_GATEWAY = 502

Send = Callable[[Target], Result]
Check = Callable[[Mapping[str, Any], Any], bool]


def _truthy(value: Any) -> bool:
    return value is True or key_text(value, errors="surrogateescape", floats=True).strip().lower() == "true"


class Settings:
    """The multirequest settings of one request."""

    def __init__(self, responses: int, stop_after: bool, parallel: bool, admissible: Any,
                 statuses: frozenset[int] | None, timeout_s: float) -> None:
        self.responses = responses
        self.stop_after = stop_after
        self.parallel = parallel
        self.admissible = admissible
        self.statuses = statuses
        self.timeout_s = timeout_s


def _statuses(value: Any) -> frozenset[int] | None:
    """The allowed HTTP statuses, or None for `All`.

    Raises:
        ValueError: a status that is not an integer.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = key_text(value, errors="surrogateescape", floats=True).split(",")
    texts = [key_text(item, errors="surrogateescape", floats=True).strip() for item in items]
    if any(text.lower() == "all" for text in texts):
        return None
    return frozenset(int(text) for text in texts if text)


def settings(route: Mapping[str, Any], message: Mapping[str, Any], opts: Mapping[str, Any]) -> Settings:
    """The settings for `message` sent by `route` (message keys win).

    Raises:
        ValueError: `responses` is not a positive integer or a status is not an integer.
    """
    def pick(name: str, default: Any) -> Any:
        if PREFIX + name in message:
            return message[PREFIX + name]
        return route.get(name, default)

    try:
        responses = int(key_text(pick("responses", 1), errors="surrogateescape", floats=True))
    except ValueError as exc:
        raise ValueError("multirequest: responses must be an integer") from exc
    if responses < 1:
        raise ValueError(f"multirequest: responses must be at least 1, not {responses}")
    try:
        statuses = _statuses(pick("admissible-status", "All"))
    except ValueError as exc:
        raise ValueError("multirequest: admissible-status must be All or HTTP statuses") from exc
    send_s = float(options.get(opts, "http_request_send_timeout", 60000)) / 1000.0
    connect_s = float(options.get(opts, "http_connect_timeout", 5000)) / 1000.0
    timeout = pick("timeout", None)
    longest = 2 * send_s + connect_s  # what one exchange may take; a message cannot ask for more
    try:
        if timeout is None:
            timeout_s = longest
        else:
            timeout_s = min(float(key_text(timeout, errors="surrogateescape", floats=True)) / 1000.0, longest)
    except ValueError as exc:
        raise ValueError("multirequest: timeout must be a number of milliseconds") from exc
    if timeout_s != timeout_s:  # NaN
        timeout_s = longest
    return Settings(responses, _truthy(pick("stop-after", True)), _truthy(pick("parallel", False)),
                    pick("admissible", None), statuses, max(timeout_s, 0.001))


def strip(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message without `multirequest-*` keys, unless it is signed (they are then part of it)."""
    if message.get("commitments"):
        return dict(message)
    return {k: v for k, v in message.items() if not normalize_key(k).startswith(PREFIX)}


def _status_of(result: Result) -> int:
    value = result.value
    if isinstance(value, Mapping):
        try:
            return int(key_text(value.get("status", 200), errors="surrogateescape", floats=True))
        except ValueError:
            return 200
    return 200


def is_admissible(result: Result, config: Settings, check: Check) -> bool:
    """Whether `result` counts: `ok` or `created` (a status below 400), an allowed status, and
    `admissible` (if any) says true."""
    if result.status not in ("ok", "created"):
        return False
    if config.statuses is not None and _status_of(result) not in config.statuses:
        return False
    if config.admissible is None:
        return True
    return isinstance(result.value, Mapping) and check(result.value, config.admissible)


def _outcome(results: Sequence[Result], failures: list[str], wanted: int) -> Result:
    if not results:
        detail = "; ".join(failures) or "no node answered"
        return Result("error", {"status": BAD_GATEWAY, "body": f"no viable responses: {detail}".encode()})
    if wanted == 1:
        return results[0]
    return Result("ok", [r.value for r in results])


def _describe(target: Target, result: Result) -> str:
    value = result.value
    status = value.get("status") if isinstance(value, Mapping) else None
    return f"{target.uri}: {result.status} {status if status is not None else ''}".rstrip()


def run(targets: Sequence[Target], config: Settings, send: Send, check: Check) -> Result:
    """Send to `targets` as `config` says, with `send(target)` doing one exchange and
    `check(answer, admissible)` judging an answer; see the module docstring for the result."""
    if config.parallel:
        return _parallel(targets, config, send, check)
    kept: list[Result] = []
    failures: list[str] = []
    deadline = time.monotonic() + config.timeout_s * max(len(targets), 1)
    for target in targets:
        if time.monotonic() > deadline:
            failures.append(f"{target.uri}: not asked (multirequest time exhausted)")
            continue
        result = send(target)
        if is_admissible(result, config, check):
            kept.append(result)
            if len(kept) >= config.responses:
                break
        else:
            failures.append(_describe(target, result))
    return _outcome(kept, failures, config.responses)


def _parallel(targets: Sequence[Target], config: Settings, send: Send, check: Check) -> Result:
    lock = threading.Lock()
    done = threading.Condition(lock)
    kept: list[Result] = []
    failures: list[str] = []
    finished = [0]

    def one(target: Target) -> None:
        try:
            result = send(target)
            good = is_admissible(result, config, check)
        except Exception as exc:  # a worker thread has no caller to raise to: report it as this node's failure
            result, good = Result("error", {"status": BAD_GATEWAY, "body": str(exc).encode()}), False
        with done:
            if good:
                kept.append(result)
            else:
                failures.append(_describe(target, result))
            finished[0] += 1
            done.notify_all()

    for target in targets:
        threading.Thread(target=one, args=(target,), name="multirequest", daemon=True).start()
    deadline = time.monotonic() + config.timeout_s
    with done:
        while finished[0] < len(targets):
            if config.stop_after and len(kept) >= config.responses:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                failures.append(f"{len(targets) - finished[0]} node(s) did not answer in "
                                f"{config.timeout_s:.3f}s")
                break
            done.wait(left)
        return _outcome(list(kept[:config.responses]), list(failures), config.responses)

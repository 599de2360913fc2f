"""Hooks: messages the node resolves at fixed points of its life (`dev_hook`,
resolution-paths-cache-node.md §11.3).

The node's `on` option maps a hook name (`request`, `response`, `step`, `start`) to a handler
message or a list of them. `on(name, request, opts)` runs the handlers in order, each one's
`ok` result feeding the next; any other status stops the chain and is returned. Every
handler sees the hook's `request`: a handler whose `ok` result is a message without one (the
reference's `router@1.0` `preprocess` answers `{body}` alone) passes the `request` it was given
on, so a later handler (`p4@1.0` pricing the request before any work is done) still has it
(node-services.md §17.3). A handler
that raises an `AOError` stops it with that error's status (a request a hook cannot read is
the client's 4xx, not the node's 500); any other exception is a `failure` (500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aonode.core.terms import Result
from aonode.errors import AOError

__all__ = ["handlers", "on", "step"]


def handlers(name: str, opts: Mapping[str, Any]) -> list[Any]:
    """The handlers registered for hook `name`."""
    on = opts.get("on")
    found = on.get(name) if isinstance(on, Mapping) else None
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _execute(name: str, handler: Any, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    from aonode.core.resolver import resolve

    if callable(handler):
        returned = handler(request, opts)
        return returned if isinstance(returned, Result) else Result("ok", returned)
    if not isinstance(handler, Mapping):
        return Result("failure", f"Handler for hook `{name}` is not a message.".encode())
    found = handler.get("hook")
    hook: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    step_request = {
        **request,
        "path": handler.get("path", name),
        "method": handler.get("method", b"GET"),
    }
    try:
        result = resolve(handler, step_request, {**opts, "hashpath": "ignore"})
    except AOError as exc:  # a typed fault keeps its status: a request a hook finds malformed is a 4xx
        return Result("error", {"status": exc.status, "body": exc.message.encode()})
    except Exception as exc:  # a broken hook must not take the node down
        return Result("failure", f"Handler for hook `{name}` raised an exception: {exc}".encode())
    mode = hook.get("result", b"return")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode == "ignore":
        return Result("ok", request)
    if mode == "error" and result.status == "ok":
        return Result("error", result.value)
    return result


def on(name: str, request: Mapping[str, Any], opts: Mapping[str, Any]) -> Result:
    """Run the `name` hook's handlers over `request`; `Result("ok", request)` when none exist."""
    current: Any = request
    for handler in handlers(name, opts):
        result = _execute(name, handler, current, opts)
        if result.status != "ok":
            return result
        current = _keeping_request(current, result.value)
    return Result("ok", current)


def _keeping_request(given: Any, returned: Any) -> Any:
    """`returned`, with the `request` of `given` when `returned` is a message that dropped it."""
    if (isinstance(given, Mapping) and "request" in given and isinstance(returned, Mapping)
            and "request" not in returned):
        return {**returned, "request": given["request"]}
    return returned


def step(base: Any, request: Any, result: Result, opts: Mapping[str, Any]) -> Result:
    """The `step` hook around one resolution step: handlers may replace its status and body."""
    step_handlers = handlers("step", opts)
    on_opts = opts.get("on")
    inner_opts = opts
    if isinstance(on_opts, Mapping):
        # The handlers' own steps must not fire the step hook again.
        inner_opts = {**opts, "on": {k: v for k, v in on_opts.items() if k != "step"}}
    current: Any = {"base": base, "request": request, "status": result.status, "body": result.value}
    for handler in step_handlers:
        out = _execute("step", handler, current, inner_opts)
        if out.status != "ok":
            return out
        current = out.value
    if isinstance(current, Mapping) and "status" in current and "body" in current:
        status = current["status"]
        return Result(status.decode() if isinstance(status, bytes) else str(status), current["body"])
    return Result("failure", b"Step hook returned an unexpected result.")

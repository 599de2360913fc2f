"""Port of the reference's `hb_ao_test_vectors` (resolution-paths-cache-node.md §14.1).

Every test runs under the reference's five option sets; the sets with a store get a fresh
file-system store per test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aonode.core import As, Result, get, resolve, resolve_many, set_key, set_values
from aonode.core.devices import find, is_exported, load_device
from aonode.core.terms import NOT_FOUND
from aonode.message import Atom, normalize_key

OPTION_SETS: dict[str, tuple[dict[str, Any], bool, set[str]]] = {
    # name: (opts, with a store, tests the reference skips for this set)
    "normal": ({}, False, set()),
    "without_hashpath": ({"hashpath": "ignore"}, False, set()),
    "no_cache": (
        {"hashpath": "ignore", "cache_control": ["no-cache", "no-store"], "spawn_worker": False}, True, {"load_as"},
    ),
    "only_store": (
        {"hashpath": "update", "cache_control": ["no-cache"], "spawn_worker": False},
        True,
        {"denormalized_device_key", "deep_set_with_device", "load_as"},
    ),
    "only_if_cached": (
        {"hashpath": "ignore", "cache_control": ["only-if-cached"], "spawn_worker": False},
        True,
        {"resolve_from_multiple_keys", "resolve_path_element", "denormalized_device_key", "deep_set_with_device"},
    ),
}


@pytest.fixture(params=list(OPTION_SETS))
def opts(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    base, with_store, skips = OPTION_SETS[request.param]
    name = request.node.originalname.removeprefix("test_")
    if name in skips:
        pytest.skip(f"the reference skips {name} under {request.param}")
    out = dict(base)
    if with_store:
        from aonode.store import FSStore, MessageCache

        out["cache"] = MessageCache(FSStore(str(tmp_path / "fs")))
    return out


def test_resolve_simple(opts: dict[str, Any]) -> None:
    assert resolve({"a": b"RESULT"}, "a", opts) == Result("ok", b"RESULT")


def test_resolve_id(opts: dict[str, Any]) -> None:
    found = get("id", {"test_key": b"1"}, None, opts)
    assert isinstance(found, bytes) and len(found) == 43


def test_start_as(opts: dict[str, Any]) -> None:
    result = resolve_many([As("test-device@1.0", {"path": b""}), {"path": "test_func"}], opts)
    assert result == Result("ok", b"GOOD_FUNCTION")


def _test_device_msg() -> dict[str, Any]:
    return {"device": b"test-device@1.0", "test_func": {"test_key": b"MESSAGE"}}


def test_start_as_with_parameters(opts: dict[str, Any]) -> None:
    result = resolve_many([As("message@1.0", _test_device_msg()), {"path": "test_func"}], opts)
    assert result == Result("ok", b"GOOD_FUNCTION")


def test_load_as(opts: dict[str, Any], tmp_path: Path) -> None:
    if "cache" not in opts:
        from aonode.store import FSStore, MessageCache

        opts = {**opts, "cache": MessageCache(FSStore(str(tmp_path / "load-as")))}
    msg_id = opts["cache"].write(_test_device_msg())
    result = resolve_many([As("message@1.0", {"path": msg_id}), "test_func", "test_key"], opts)
    assert result == Result("ok", b"MESSAGE")


def test_as_path(opts: dict[str, Any]) -> None:
    msg = _test_device_msg()
    assert get("test_func", msg, None, opts) == b"GOOD_FUNCTION"
    result = resolve(msg, As("message@1.0", {"path": "test_func"}), opts)
    assert result.status == "ok" and result.value["test_key"] == b"MESSAGE"


def test_continue_as(opts: dict[str, Any]) -> None:
    result = resolve_many(
        [_test_device_msg(), As("message@1.0", b""), {"path": "test_func"}, {"path": "test_key"}], opts
    )
    assert result == Result("ok", b"MESSAGE")


def test_multiple_as_subresolutions(opts: dict[str, Any]) -> None:
    msg = {
        "device": b"test-device@1.0",
        "test-message": {"test-key": b"MESSAGE-1", "test-message-2": {"test-key-2": b"MESSAGE-2"}},
    }
    result = resolve_many(
        [
            As("message@1.0", msg),
            {"path": "test-message"},
            {"path": "test-message-2", "extraneous": b"1"},
            "test-key-2",
        ],
        opts,
    )
    assert result == Result("ok", b"MESSAGE-2")


def test_resolve_key_twice(opts: dict[str, Any]) -> None:
    assert resolve({"a": b"1"}, "a", opts) == Result("ok", b"1")
    assert resolve({"a": b"1"}, "a", opts) == Result("ok", b"1")


def test_resolve_from_multiple_keys(opts: dict[str, Any]) -> None:
    assert resolve({"a": b"1", "priv_a": b"2"}, "keys", opts) == Result("ok", [b"a"])


def test_resolve_path_element(opts: dict[str, Any]) -> None:
    assert resolve({"path": [b"test_path"]}, "path", opts) == Result("ok", [b"test_path"])
    assert resolve({"Path": [b"a"]}, "Path", opts) == Result("ok", [b"a"])


def test_resolve_binary_key(opts: dict[str, Any]) -> None:
    assert resolve({normalize_key(Atom("a")): b"RESULT"}, "a", opts) == Result("ok", b"RESULT")
    assert resolve({"Test-Header": b"1"}, "Test-Header", opts) == Result("ok", b"1")


def test_key_to_binary(opts: dict[str, Any]) -> None:
    assert normalize_key(Atom("a")) == normalize_key("a") == normalize_key(b"a") == "a"


def _args_device() -> dict[str, Any]:
    return {
        "key_using_only_state": lambda state: state["state_key"],
        "key_using_state_and_msg": lambda state, msg: state["state_key"] + msg["msg_key"],
        "key_using_all": lambda state, msg, o: state["state_key"] + msg["msg_key"] + o["opts_key"],
    }


def _default_device() -> dict[str, Any]:
    return {
        "info": lambda: {"default": lambda key, state: b"DEFAULT"},
        "state_key": lambda state: b"STATE",
    }


def _handler_device() -> dict[str, Any]:
    from aonode.devices.message import MessageDevice

    def handler(key: str, base: Any, request: Any, o: Any) -> Any:
        if key == "set":
            return MessageDevice().set(base, request)
        return b"HANDLER VALUE"

    return {"info": lambda: {"handler": handler}}


def test_key_from_id_device_with_args(opts: dict[str, Any]) -> None:
    msg = {"device": _args_device(), "state_key": b"1"}
    assert resolve(msg, {"path": "key_using_only_state", "msg_key": b"2"}, opts) == Result("ok", b"1")
    assert resolve(msg, {"path": "key_using_state_and_msg", "msg_key": b"3"}, opts) == Result("ok", b"13")
    with_key = {**opts, "opts_key": b"37", "cache_control": ["no-cache", "no-store"]}
    assert resolve(msg, {"path": "key_using_all", "msg_key": b"3"}, with_key) == Result("ok", b"1337")


def test_device_with_handler_function(opts: dict[str, Any]) -> None:
    msg = {"device": _handler_device(), "test_key": b"BAD"}
    assert resolve(msg, "test_key", opts) == Result("ok", b"HANDLER VALUE")


def test_device_with_default_handler_function(opts: dict[str, Any]) -> None:
    msg = {"device": _default_device()}
    assert resolve(msg, "state_key", opts) == Result("ok", b"STATE")
    assert resolve(msg, "any_random_key", opts) == Result("ok", b"DEFAULT")


def test_basic_get(opts: dict[str, Any]) -> None:
    msg = {"key1": b"value1", "key2": b"value2"}
    assert get("key1", msg, None, opts) == b"value1"
    assert get("key2", msg, None, opts) == b"value2"
    assert get(["key2"], msg, None, opts) == b"value2"


NESTED = {
    "key1": b"value1",
    "key2": {"key3": b"value3", "key4": {"key5": b"value5", "key6": {"key7": b"value7"}}},
}


def test_recursive_get(opts: dict[str, Any]) -> None:
    assert resolve(NESTED, {"path": "key1"}, opts) == Result("ok", b"value1")
    assert get("key1", NESTED, None, opts) == b"value1"
    assert resolve(NESTED, {"path": ["key2", "key3"]}, opts) == Result("ok", b"value3")
    assert get(["key2", "key3"], NESTED, None, opts) == b"value3"
    assert get("key2/key3", NESTED, None, opts) == b"value3"


def test_deep_recursive_get(opts: dict[str, Any]) -> None:
    assert get("key2/key4/key6/key7", NESTED, None, opts) == b"value7"


def test_basic_set(opts: dict[str, Any]) -> None:
    updated = set_values({"key1": b"value1", "key2": b"value2"}, {"key1": b"new_value1"}, opts)
    assert get("key1", updated, None, opts) == b"new_value1"
    assert get("key2", updated, None, opts) == b"value2"


def test_get_with_device(opts: dict[str, Any]) -> None:
    msg = {"device": _args_device(), "state_key": b"STATE"}
    assert get("state_key", msg, None, opts) == b"STATE"
    assert get("key_using_only_state", msg, None, opts) == b"STATE"


def test_get_as_with_device(opts: dict[str, Any]) -> None:
    msg = {"device": _handler_device(), "test_key": b"ACTUAL VALUE"}
    assert get("test_key", msg, None, opts) == b"HANDLER VALUE"
    assert get("test_key", As("message@1.0", msg), None, opts) == b"ACTUAL VALUE"


def test_set_with_device(opts: dict[str, Any]) -> None:
    def counting_set(state: dict[str, Any], _request: Any) -> dict[str, Any]:
        return {**state, "set_count": state.get("set_count", b"") + b"."}

    msg = {"device": {"set": counting_set}, "state_key": b"STATE"}
    assert get("state_key", msg, None, opts) == b"STATE"
    once = set_values(msg, {"state_key": b"SET_ONCE"}, opts)
    assert get("set_count", once, None, opts) == b"."
    twice = set_values(once, {"state_key": b"SET_TWICE"}, opts)
    assert get("set_count", twice, None, opts) == b".."
    assert get("state_key", twice, None, opts) == b"STATE"


def test_deep_set(opts: dict[str, Any]) -> None:
    msg0 = {"a": {"b": b"RESULT"}}
    assert set_key(msg0, "a/b", b"RESULT2", opts)["a"]["b"] == b"RESULT2"
    assert set_key(msg0, ["a", "b"], b"RESULT2", opts)["a"]["b"] == b"RESULT2"
    msg = {"a": {"b": {"c": b"1"}}}
    assert set_key(msg, ["a", "b", "c"], b"2", opts)["a"]["b"]["c"] == b"2"


def test_deep_set_new_messages() -> None:
    msg0 = {"a": {"b": {"c": b"1"}}}
    msg2 = set_key(set_key(msg0, "d/e", b"3"), "d/f", b"4")
    assert msg2 == {"a": {"b": {"c": b"1"}}, "d": {"e": b"3", "f": b"4"}}
    msg3 = set_values(msg2, {"z/a": b"0", "z/b": b"1", "z/y/x": b"2"})
    assert msg3 == {
        "a": {"b": {"c": b"1"}},
        "d": {"e": b"3", "f": b"4"},
        "z": {"a": b"0", "b": b"1", "y": {"x": b"2"}},
    }


def test_deep_set_with_device(opts: dict[str, Any]) -> None:
    def marking_set(base: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        # Like the reference's device: the first key in Erlang's (sorted) map order.
        key = min(k for k in request if k not in ("path", "priv"))
        return {**base, key: request[key], "modified": True}

    device = {"set": marking_set}
    msg = {
        "device": device,
        "a": {"b": {"device": device, "c": b"1", "modified": False}, "modified": False},
        "modified": False,
    }
    outer = set_key(msg, "a/b/c", b"2", opts)
    a = get("a", outer, None, opts)
    b = get("b", a, None, opts)
    assert get("c", b, None, opts) == b"2"
    assert get("modified", outer) is True
    assert get("modified", a) is False
    assert get("modified", b) is True


def test_device_exports(opts: dict[str, Any]) -> None:
    message = load_device("message@1.0", opts)
    from aonode.core.devices import device_info

    info = device_info(message, {}, opts)
    assert is_exported(info, "info") and is_exported(info, "set") and is_exported(info, "not_explicitly_exported")
    dev = {"info": lambda: {"exports": ["set"]}, "set": lambda a, b: b"SET"}
    dev_info = device_info(load_device(dev, opts), {}, opts)
    assert is_exported(dev_info, "info") and is_exported(dev_info, "set")
    assert not is_exported(dev_info, "not_exported")
    dev2 = {"info": lambda: {"exports": [Atom("test1"), b"test2"], "handler": lambda: b"Handler-Value"}}
    msg3 = {"device": dev2, "test1": b"BAD1", "test3": b"GOOD3"}
    assert get("test1", msg3, None, opts) == b"Handler-Value"
    assert get("test2", msg3, None, opts) == b"Handler-Value"
    assert get("test3", msg3, None, opts) == b"GOOD3"
    assert get("test4", set_key(msg3, "test4", b"GOOD4", opts)) == b"GOOD4"
    assert get("test5", msg3, Atom("not_found"), opts) == Atom("not_found")


def test_device_excludes(opts: dict[str, Any]) -> None:
    from aonode.core.devices import device_info

    dev = {"info": lambda: {"excludes": [Atom("set")], "handler": lambda: b"Handler-Value"}}
    msg = {"device": dev, "Test-Key": b"Test-Value"}
    info = device_info(load_device(dev, opts), msg, opts)
    assert is_exported(info, "test-key2")
    assert not is_exported(info, "set")
    assert get("test-key2", msg, None, opts) == b"Handler-Value"
    assert set_key(msg, "test-key2", b"2", opts)["test-key2"] == b"2"


def test_denormalized_device_key(opts: dict[str, Any]) -> None:
    msg = {"device": b"test-device@1.0"}
    assert get("device", msg, None, opts) == b"test-device@1.0"
    add_key, fn, device, _info = find(msg, "test_func", opts)
    assert not add_key and device.name == "test-device@1.0" and fn() == b"GOOD_FUNCTION"


def test_list_transform(opts: dict[str, Any]) -> None:
    items = [b"A", b"B", b"C", b"D", b"E"]
    for i, item in enumerate(items, 1):
        assert get(i, items, None, opts) == item


def test_step_hook(opts: dict[str, Any]) -> None:
    calls: list[str] = []

    def step(base: Any, request: Any) -> Any:
        calls.append("step")
        return request

    hooked = {**opts, "on": {"step": {"device": {"step": step}}}}
    msg = {"a": {"b": {"c": b"1"}}}
    assert resolve(msg, {"path": "a/b/c"}, hooked) == Result("ok", b"1")
    assert calls


def test_missing_key_is_not_found(opts: dict[str, Any]) -> None:
    assert resolve({"a": b"1"}, "b", opts) == NOT_FOUND

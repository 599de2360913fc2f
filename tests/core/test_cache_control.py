"""Cache-control directives and precedence: the `hb_cache_control` unit tests (§8.6, §14.4)."""

from __future__ import annotations

from typing import Any

import pytest

from aonode.core.cache_control import (
    DEFAULT_SETTINGS,
    Directives,
    Settings,
    derive,
    from_message,
    from_opts,
    lookup_enabled,
    only_if_cached,
    parse,
    store_enabled,
)
from aonode.core.options import get, layer
from aonode.message import Atom

ID = "a" * 43


def msg(cc: Any) -> dict[str, Any]:
    return {"cache-control": cc}


def opts(cc: Any, **more: Any) -> dict[str, Any]:
    return {"cache_control": cc, **more}


# --- The reference's unit tests, one by one ------------------------------------------------------


def test_opts_override_message_settings() -> None:
    # Precedence Opts > Msg3 > Msg2.
    msg2, msg3 = msg([b"no-store"]), msg([b"no-cache"])
    assert derive(opts([b"always"]), [msg2, msg3]) == Settings(store=True, lookup=True, only_if_cached=False)


def test_msg_precedence_overrides() -> None:
    msg2, msg3 = msg([b"always"]), msg([b"no-store"])
    assert derive(opts([]), [msg2, msg3]) == Settings(store=False, lookup=True, only_if_cached=False)
    assert store_enabled(opts([]), msg2, msg3) is False


def test_no_store_directive() -> None:
    assert derive(opts([]), [msg([b"no-store"])]) == Settings(store=False, lookup=True, only_if_cached=False)


def test_no_cache_directive() -> None:
    assert derive(opts([]), [msg([b"no-cache"])]) == Settings(store=False, lookup=False, only_if_cached=False)


def test_only_if_cached_directive() -> None:
    assert derive(opts([]), [msg([b"only-if-cached"])]) == Settings(store=False, lookup=True, only_if_cached=True)


def test_hashpath_ignore_prevents_storage() -> None:
    assert derive(opts([], hashpath="ignore"), []) == DEFAULT_SETTINGS
    # Even `always` in the options cannot store a result whose hashpath was not updated.
    assert derive(opts(["always"], hashpath="ignore"), []) == Settings(store=False, lookup=True, only_if_cached=False)
    assert store_enabled(opts(["always"], hashpath="ignore"), msg(["store"]), msg(["always"])) is False
    assert store_enabled(opts(["always"], hashpath="update"), {}, {}) is True


def test_multiple_directives() -> None:
    found = derive(opts([]), [msg([b"no-store", b"no-cache", b"only-if-cached"])])
    assert found == Settings(store=False, lookup=False, only_if_cached=True)


def test_empty_message_list() -> None:
    assert derive(opts([]), []) == Settings(store=False, lookup=True, only_if_cached=False)


def test_message_without_cache_control() -> None:
    assert derive(opts([]), [{}]) == DEFAULT_SETTINGS


def test_opts_source_cache_control() -> None:
    assert from_opts(opts([b"no-store"])) == Directives(store=False, lookup=None, only_if_cached=None)


def test_message_source_cache_control() -> None:
    assert from_message(msg([b"no-cache"])) == Directives(store=None, lookup=False, only_if_cached=None)


# --- Directive parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("always", Directives(store=True, lookup=True)),
        (b"always", Directives(store=True, lookup=True)),
        (Atom("always"), Directives(store=True, lookup=True)),
        (["store"], Directives(store=True)),
        (["cache"], Directives(lookup=True)),
        (["store", "no-store"], Directives(store=False)),  # no-store beats store
        (["cache", "no-cache"], Directives(lookup=False)),
        (["no-store", "no-cache", "always"], Directives(store=True, lookup=True)),  # always beats both
        (("no-store",), Directives(store=False)),
        ([], Directives()),
        ("", Directives()),
        # Elements compare exactly: one comma-joined header matches nothing (§15.2 pitfall 17).
        ("no-cache, no-store", Directives()),
        ([b"no-cache, no-store"], Directives()),
        (["No-Store"], Directives()),
        (["max-age=0"], Directives()),
        ([{"x": 1}, 7, "no-store"], Directives(store=False)),
        (None, Directives()),
    ],
)
def test_parse(value: Any, expected: Directives) -> None:
    assert parse(value) == expected


def test_non_map_sources_say_nothing() -> None:
    assert from_message(ID) == Directives()
    assert from_message(b"no-store") == Directives()
    assert derive(opts([]), [ID, b"x", None]) == DEFAULT_SETTINGS


def test_message_key_is_exact() -> None:
    assert from_message({"Cache-Control": "no-store"}) == Directives()
    assert from_message({"cache-control": "no-store"}) == Directives(store=False)


# --- The three questions the resolver asks --------------------------------------------------------


def test_node_default_disables_lookup_and_store() -> None:
    # No cache_control in the options: the node default [no-cache, no-store] applies (§8.6).
    assert lookup_enabled({}, ID, {"path": "x"}) is False
    assert store_enabled({}, {"path": "x"}, b"result") is False
    # Messages cannot override the options, whatever they ask.
    assert lookup_enabled({}, msg("always"), msg("always")) is False
    assert store_enabled({}, msg("always"), msg("always")) is False


def test_http_extra_opts_enable_everything() -> None:
    http = layer({}, get({}, "http_extra_opts"))
    assert lookup_enabled(http, ID, msg("no-cache")) is True
    assert store_enabled(http, msg("no-store"), msg("no-store")) is True


def test_lookup_precedence_request_then_base_then_opts() -> None:
    none: dict[str, Any] = opts([])
    assert lookup_enabled(none, {}, {}) is True
    assert lookup_enabled(none, {}, msg("no-cache")) is False
    assert lookup_enabled(none, msg("cache"), msg("no-cache")) is True  # base beats request
    assert lookup_enabled(none, msg("no-cache"), msg("cache")) is False
    assert lookup_enabled(opts("cache"), msg("no-cache"), msg("no-cache")) is True  # opts beat both
    assert lookup_enabled(opts("no-cache"), msg("always"), msg("always")) is False


def test_store_precedence_request_then_result_then_opts() -> None:
    none: dict[str, Any] = opts([])
    assert store_enabled(none, {}, {}) is False
    assert store_enabled(none, msg("store"), {}) is True
    assert store_enabled(none, msg("store"), msg("no-store")) is False  # result beats request
    assert store_enabled(none, msg("no-store"), msg("store")) is True
    assert store_enabled(opts("no-store"), msg("always"), msg("always")) is False  # opts beat both
    assert store_enabled(opts("store"), msg("no-store"), msg("no-store")) is True
    assert store_enabled(none, msg("store"), b"binary result") is True  # a binary result says nothing


def test_base_does_not_affect_storage_and_result_does_not_affect_lookup() -> None:
    # store_enabled takes (request, result): there is no base argument at all, and lookups
    # never see the result.
    assert store_enabled(opts([]), {}, msg("no-cache")) is False
    assert lookup_enabled(opts([]), msg("no-store"), {}) is True


def test_only_if_cached_sources() -> None:
    assert only_if_cached(opts([]), {}, {}) is False
    assert only_if_cached(opts([]), {}, msg("only-if-cached")) is True
    assert only_if_cached(opts([]), msg(["only-if-cached"]), {}) is True
    assert only_if_cached(opts(["only-if-cached"]), ID, {"path": "k"}) is True
    # With only-if-cached in the options, lookups stay on (the default), so a miss is a 504.
    assert lookup_enabled(opts(["only-if-cached"]), ID, {"path": "k"}) is True


def test_hashpath_ignore_does_not_touch_lookup() -> None:
    assert lookup_enabled(opts(["always"], hashpath="ignore"), ID, {}) is True
    assert lookup_enabled({"hashpath": "ignore"}, ID, {}) is False  # still the node default

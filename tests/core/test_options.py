"""Node options: defaults, config files, environment, precedence, public view (§11.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aonode.core import options
from aonode.core.options import (
    DEFAULTS,
    UNENCODABLE,
    ConfigError,
    coerce,
    default_priv_store,
    default_store,
    from_environ,
    get,
    layer,
    load_config,
    public_view,
    with_defaults,
)
from aonode.errors import BadMessage
from aonode.message import Atom, Link

# --- Defaults ---------------------------------------------------------------------------------

# Every default of §11.2 ("Important defaults" and "implicit defaults") that aonode implements.
DOCUMENTED = {
    "initialized": True,
    "port": 8734,
    "mode": "debug",
    "priv_key_location": "hyperbeam-key.json",
    "hb_config_location": "config.flat",
    "gateway": "https://arweave.net",
    "bundler_ans104": "https://up.arweave.net:443",
    "scheduling_mode": "local_confirmation",
    "compute_mode": "lazy",
    "scheduler_location_ttl": 604800000,
    "cache_control": ["no-cache", "no-store"],
    "cache_lookup_hueristics": False,
    "await_inprogress": "named",
    "access_remote_cache_for_client": False,
    "load_remote_devices": False,
    "trusted_device_signers": [],
    "client_error_strategy": "throw",
    "http_connect_timeout": 5000,
    "http_keepalive": 120000,
    "http_request_send_timeout": 60000,
    "wasm_allow_aot": False,
    "commitment_device": "httpsig@1.0",
    "node_history": [],
    "trusted": {},
    "snp_enforced_keys": ["firmware", "kernel", "initrd", "append", "vmm_type", "guest_features"],
    "process_now_from_cache": False,
    "ans104_trust_gql": False,  # the reference: true; aonode refuses unverifiable items (issue 19, docs/compat.md)
    "http_extra_opts": {"force_message": True, "cache_control": ["always"]},
    "store_all_signed": True,
    "process_workers": False,
    "router_opts": {"routes": []},
    "debug_print": False,
    # Implicit defaults.
    "hashpath": "update",
    "error_strategy": "throw",
    "force_message": False,
    "spawn_worker": False,
    "allow_infinite": False,
    "async_cache": False,
    "store_scope_resolved": "local",
    "linkify_mode": "offload",
    "default_index_path": "index",
    "default_request": "/~hyperbuddy@1.0/dashboard",
    "default_codec": "httpsig@1.0",
    "generate_index": True,
    "force_signed_requests": False,
    "http_inbound_filter_keys": ["content-length"],
    "http_only_result": True,
    "idle_timeout": 300000,
    "worker_timeout": 10000,
    "static_worker": False,
    "identities": {},
    "store_defaults": {},
    "auth_hook_commit_key": "!",
    "host": "localhost",
    # From ENV_KEYS defaults.
    "lua_scripts": "scripts",
    "default_index": {"device": "hyperbuddy@1.0"},
    # aonode's own.
    "data_dir": "aonode-data",
}


@pytest.mark.parametrize("key", sorted(DOCUMENTED))
def test_documented_default(key: str) -> None:
    assert DEFAULTS[key] == DOCUMENTED[key]
    assert get({}, key) == DOCUMENTED[key]
    assert type(get({}, key)) is type(DOCUMENTED[key])


def test_default_routes_and_hooks() -> None:
    templates = [r["template"] for r in DEFAULTS["routes"]]
    assert templates == ["/result/.*", "/snapshot/.*", "/dry-run.*", "/graphql", "^/arweave", "^/raw", "^/vcek/v1/"]
    graphql = DEFAULTS["routes"][3]["nodes"]
    assert [n["prefix"] for n in graphql] == [
        "https://ao-search-gateway.goldsky.com", "https://arweave-search.goldsky.com", "https://arweave.net",
    ]
    request_hook = DEFAULTS["on"]["request"]
    assert request_hook["device"] == "auth-hook@1.0"
    assert request_hook["when"] == {"keys": ["authorization", "!"]}


def test_store_defaults_follow_data_dir() -> None:
    assert default_store("d") == [{"store-module": "lmdb", "name": str(Path("d") / "lmdb")}]
    assert default_priv_store("d") == [{"store-module": "fs", "name": str(Path("d") / "priv")}]
    assert DEFAULTS["store"] == default_store("aonode-data")
    # The reference's chain: the local LMDB, then two gateway stores caching into it.
    assert [s["store-module"] for s in get({}, "store")] == ["lmdb", "gateway", "gateway"]
    assert get({}, "store")[0] == default_store("aonode-data")[0]
    assert get({"data_dir": "/srv/node"}, "store")[0] == default_store("/srv/node")[0]
    assert get({"data_dir": "/srv/node", "gateway_store": False}, "store") == default_store("/srv/node")
    assert get({"data_dir": "/srv/node"}, "priv_store") == default_priv_store("/srv/node")
    assert get({"data_dir": "/srv/node", "store": []}, "store") == []
    assert get({}, "port_external") == 8734
    assert get({"port": 9000}, "port_external") == 9000


def test_defaults_are_read_only_and_copied() -> None:
    with pytest.raises(TypeError):
        DEFAULTS["port"] = 1  # type: ignore[index]
    got = get({}, "cache_control")
    got.append("always")
    DEFAULTS["http_extra_opts"]["force_message"] = False
    assert get({}, "cache_control") == ["no-cache", "no-store"]
    assert DEFAULTS["http_extra_opts"]["force_message"] is True


# --- get / layer / with_defaults -----------------------------------------------------------------


def test_get_prefers_opts_then_defaults_then_default_argument() -> None:
    assert get({"port": 1}, "port") == 1
    assert get({}, "port", 5) == 8734  # A known default wins over the argument, as in hb_opts.
    assert get({}, "no_such_option") is None
    assert get({}, "no_such_option", 5) == 5
    assert get({"cache_control": []}, "cache_control") == []  # An explicit empty list is a value.


def test_get_converts_binary_style_keys() -> None:
    assert get({"cache_control": ["always"]}, "cache-control") == ["always"]
    assert get({"cache_control": ["always"]}, b"cache-control") == ["always"]
    assert get({}, b"store-all-signed") is True


def test_layer_precedence() -> None:
    env = {"port": 1, "mode": "prod", "gateway": "https://env"}
    config = {"port": 2, "gateway": "https://file"}
    cli = {"port": 3}
    merged = layer(env, config, None, cli)
    assert merged == {"port": 3, "mode": "prod", "gateway": "https://file"}
    assert get(merged, "store_all_signed") is True  # Defaults stay underneath.


def test_layer_is_shallow_and_normalises_keys() -> None:
    merged = layer({"http_extra_opts": {"force_message": True, "x": 1}}, {"http-extra-opts": {"x": 2}})
    assert merged == {"http_extra_opts": {"x": 2}}


def test_precedence_end_to_end(tmp_path: Path) -> None:
    config = tmp_path / "config.flat"
    config.write_text("port: 2000\nmode: prod\n")
    env = from_environ({"HB_PORT": "1000", "HB_MODE": "debug", "HB_KEY": "env-key.json", "HB_CONFIG": str(config)})
    merged = layer(env, load_config(get(env, "hb_config_location")), {"port": 3000})
    assert get(merged, "port") == 3000
    assert get(merged, "mode") == "prod"
    assert get(merged, "priv_key_location") == "env-key.json"
    assert get(merged, "gateway") == "https://arweave.net"


def test_with_defaults_spells_everything_out() -> None:
    full = with_defaults({"data_dir": "x", "port": 1})
    assert full["port"] == 1
    assert full["port_external"] == 1
    assert full["store"][0] == default_store("x")[0]
    assert full["cache_control"] == ["no-cache", "no-store"]
    assert set(DEFAULTS) <= set(full)


# --- Config files -----------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_flat_reference_test(tmp_path: Path) -> None:
    # `load_flat_test` in hb_opts: test/config.flat.
    path = _write(tmp_path, "config.flat", "port: 1234\nhost: https://ao.computer\nawait-inprogress: false")
    assert load_config(path) == {"port": 1234, "host": "https://ao.computer", "await_inprogress": False}


def test_load_json_reference_test(tmp_path: Path) -> None:
    # `load_json_test` in hb_opts: test/config.json, store-module typed as an atom.
    path = _write(tmp_path, "config.json", json.dumps({
        "port": 1234,
        "example": 9001,
        "host": "https://ao.computer",
        "await_inprogress": False,
        "store": [{"store-module": "hb_store_fs", "name": "cache-TEST/json-test-store",
                   "ao-types": 'store-module="atom"'}],
    }))
    conf = load_config(path)
    assert conf["port"] == 1234
    assert conf["example"] == 9001
    assert conf["host"] == "https://ao.computer"
    assert conf["await_inprogress"] is False
    assert conf["store"] == [{"store-module": "hb_store_fs", "name": "cache-TEST/json-test-store"}]


def test_flat_coercion(tmp_path: Path) -> None:
    path = _write(tmp_path, "node.conf", "\n".join([
        "# a comment",
        "",
        "Port: 9000   ",
        "store-all-signed: false",
        "scheduler-location-ttl: 1000",
        "cache-control: always, only-if-cached",
        "trusted-device-signers: abc,def",
        "http-inbound-filter-keys:",
        "mode: prod",
        "hashpath: ignore",
        "spawn-worker: recursive",
        "linkify-mode: false",
        "initialized: permanent",
        "debug-print: http,compute",
        "default-index: ui",
        "my-key: My Value",
        "store/1/store-module: lmdb",
        "store/1/name: /data/lmdb",
        "store/2/store-module: fs",
        "store/2/name: /data/fs",
        "http-extra-opts/force-message: false",
        "http-extra-opts/cache-control: always",
    ]))
    assert load_config(path) == {
        "port": 9000,
        "store_all_signed": False,
        "scheduler_location_ttl": 1000,
        "cache_control": ["always", "only-if-cached"],
        "trusted_device_signers": ["abc", "def"],
        "http_inbound_filter_keys": [],
        "mode": "prod",
        "hashpath": "ignore",
        "spawn_worker": "recursive",
        "linkify_mode": False,
        "initialized": "permanent",
        "debug_print": ["http", "compute"],
        "default_index": {"device": "hyperbuddy@1.0"},
        "my_key": "My Value",
        "store": [{"store-module": "lmdb", "name": "/data/lmdb"}, {"store-module": "fs", "name": "/data/fs"}],
        "http_extra_opts": {"force_message": False, "cache_control": ["always"]},
    }


def test_flat_single_store_map_becomes_a_chain(tmp_path: Path) -> None:
    path = _write(tmp_path, "config.flat", "store/store-module: fs\nstore/name: cache\n")
    assert load_config(path) == {"store": [{"store-module": "fs", "name": "cache"}]}


def test_json_coercion(tmp_path: Path) -> None:
    path = _write(tmp_path, "config.json", json.dumps({
        "port": "8080",
        "Cache-Control": ["always"],
        "force_message": "true",
        "priv_key_location": "k.json",
        "nested": {"a": [1, "b"]},
    }))
    assert load_config(path) == {
        "port": 8080,
        "cache_control": ["always"],
        "force_message": True,
        "priv_key_location": "k.json",
        "nested": {"a": [1, "b"]},
    }


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        ("a: 1\nport: eighty\n", 2, "port", "expected a port number"),
        ("port: 70000\n", 1, "port", "expected a port number"),
        ("# c\n\nstore-all-signed: maybe\n", 3, "store_all_signed", "expected true or false"),
        ("scheduler-location-ttl: 1.5\n", 1, "scheduler_location_ttl", "expected an integer"),
        ("mode: fast\n", 1, "mode", "expected one of debug, prod"),
        ("await-inprogress: sometimes\n", 1, "await_inprogress", "expected one of false, true, named"),
        ("x: 1\ny: 2\nnot a pair\n", 3, None, "expected a 'key: value' line"),
        ("a//b: 1\n", 1, "a//b", "empty path segment"),
        ("default-index: a/b/c\n", 1, "default_index", "expected ui, text"),
        ("x: 1\nhttp-extra-opts/force-message: perhaps\n", 2, "http_extra_opts/force_message", "true or false"),
        ("store: lmdb\n", 1, "store", "expected a store spec"),
    ],
)
def test_flat_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, problem: str
) -> None:
    path = _write(tmp_path, "config.flat", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert isinstance(err, BadMessage)
    assert err.status == 400
    assert err.source == str(path)
    assert err.line == line
    assert err.key == key
    assert problem in err.problem
    assert str(path) in str(err) and f"line {line}" in str(err)


def test_flat_non_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "config.flat"
    path.write_bytes(b"port: 1\nhost: \xff\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_config(path)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ('{"port": 1,\n "mode": }', "line 2"),
        ("[1, 2]", "JSON object"),
        ('{"port": true}', "key 'port'"),
        ('{"cache_control": [1]}', "key 'cache_control/1'"),
        ('{"x+link": "' + "a" * 43 + '"}', "link"),
        ('{"gateway": 5}', "expected text"),
    ],
)
def test_json_errors(tmp_path: Path, doc: str, match: str) -> None:
    path = _write(tmp_path, "config.json", doc)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.flat"
    with pytest.raises(ConfigError, match="no such file"):
        load_config(missing)
    assert load_config(missing, missing_ok=True) == {}


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # A directory.


def test_coerce_message_values() -> None:
    # A POST /~meta@1.0/info body, as decoded by a codec: binaries and atoms.
    body = {b"Port": b"9001", "await-inprogress": Atom("named"), "debug-print": True, "path": b"info"}
    assert coerce(body) == {"port": 9001, "await_inprogress": "named", "debug_print": True, "path": "info"}
    with pytest.raises(ConfigError, match="^message, key 'port'"):
        coerce({"port": b"x"})


def test_coerce_keeps_objects_in_stores() -> None:
    store = object()
    assert coerce({"store": [store, {"store-module": "fs"}]}, source="cli") == {
        "store": [store, {"store-module": "fs"}]
    }


# --- Environment ------------------------------------------------------------------------------


def test_environ_parsing() -> None:
    env = {
        "HB_PORT": "10000",
        "HB_KEY": "/keys/w.json",
        "HB_CONFIG": "node.json",
        "HB_MODE": "prod",
        "HB_PRINT": "http,compute_short",
        "HB_INDEX": "text",
        "AONODE_DATA_DIR": "/var/lib/aonode",
        "LUA_SCRIPTS": "lua",
        "PATH": "/bin",
    }
    assert from_environ(env) == {
        "port": 10000,
        "priv_key_location": "/keys/w.json",
        "hb_config_location": "node.json",
        "mode": "prod",
        "debug_print": ["http", "compute_short"],
        "default_index": {"device": "hyperbuddy@1.0", "path": "format"},
        "data_dir": "/var/lib/aonode",
        "lua_scripts": "lua",
    }


def test_environ_unset_and_empty_are_ignored() -> None:
    assert from_environ({}) == {}
    assert from_environ({"HB_PORT": "", "HB_PRINT": ""}) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("http", ["http"]), ("a,b,,c", ["a", "b", "c"])],
)
def test_environ_hb_print(value: str, expected: Any) -> None:
    assert from_environ({"HB_PRINT": value}) == {"debug_print": expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ui", {"device": "hyperbuddy@1.0"}),
        ("text", {"device": "hyperbuddy@1.0", "path": "format"}),
        ("my-dev@1.0/page", {"device": "my-dev@1.0", "path": "page"}),
        ("my-dev@1.0", {"device": "my-dev@1.0"}),
    ],
)
def test_environ_hb_index(value: str, expected: dict[str, str]) -> None:
    assert from_environ({"HB_INDEX": value}) == {"default_index": expected}


@pytest.mark.parametrize(
    ("name", "value"),
    [("HB_PORT", "http"), ("HB_PORT", "-1"), ("HB_PORT", "65536"), ("HB_MODE", "fast"), ("HB_INDEX", "a/b/c")],
)
def test_environ_errors_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^environment variable {name}: ") as info:
        from_environ({name: value})
    assert value in str(info.value)


def test_only_cli_reads_os_environ() -> None:
    source = Path(options.__file__).read_text()
    assert "os.environ" not in source.replace("`os.environ`", "")
    assert "getenv" not in source


# --- Public view ------------------------------------------------------------------------------


class _Wallet:
    pass


def test_public_view_hides_private_keys_and_objects() -> None:
    wallet = _Wallet()
    opts = {
        "port": 8734,
        "priv_wallet": wallet,
        "priv_key": b"secret",
        "priv_key_location": "k.json",
        "private": {"a": 1},
        "identities": {"alice": {"priv_wallet": wallet, "note": "hi"}},
        "store": [{"store-module": "lmdb", "name": "x", "priv_token": "t", "instance": object()}],
        "hook": len,
        "tuple": ("a", 1),
        "atoms": [Atom("x"), True, None, 1.5, Link("a" * 43)],
        b"bytes-key": b"v",
    }
    assert public_view(opts) == {
        "port": 8734,
        "identities": {"alice": {"note": "hi"}},
        "store": [{"store-module": "lmdb", "name": "x", "instance": UNENCODABLE}],
        "hook": UNENCODABLE,
        "tuple": ["a", 1],
        "atoms": [Atom("x"), True, None, 1.5, Link("a" * 43)],
        "bytes-key": b"v",
    }
    assert opts["priv_wallet"] is wallet  # The input is untouched.


def test_public_view_of_defaults_has_no_secrets() -> None:
    view = public_view(with_defaults({"priv_wallet": _Wallet()}))
    assert not [k for k in view if k.startswith("priv")]
    assert "Unencodable value." not in json.dumps(view, default=str)
    assert view["port"] == 8734


# --- Documentation ----------------------------------------------------------------------------


def test_every_option_and_variable_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert [k for k in DEFAULTS if f"| `{k}` |" not in doc] == []
    assert [v for v in options.ENV_VARS if f"| `{v}` |" not in doc] == []

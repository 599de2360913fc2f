"""Node options, "the node message" (resolution-paths-cache-node.md §11.2).

Options are a plain `dict[str, Any]` with Python-style keys (`cache_control`,
`priv_wallet`, ...). They come from four sources, merged by `layer`, later ones
winning (the reference's order, §11.2):

    DEFAULTS  <  environment (`from_environ`)  <  config file (`load_config`)  <  CLI flags / explicit options

`layer` does not apply DEFAULTS: `get` falls back to them key by key, and
`with_defaults` spells them all out. Three defaults are derived from other
options rather than fixed (`DERIVED`): `store` and `priv_store` live under
`data_dir`, and `port_external` follows `port`.

Text from a config file, the environment or a message is coerced to the type of
the option's default (`mimic_default_types` in `hb_opts`): each known key has a
converter in `KINDS`, chosen by hand where the default's Python type does not
say enough (atoms with a fixed set of values, ports, store lists), and otherwise
inferred from the default's type. Unknown keys keep their values. Every rejected
value raises `ConfigError`, which names the file (or variable), the line and the
key.

Nothing here reads the process environment or the clock: `from_environ` takes
the mapping, and only `load_config` opens a file, the one the caller names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aonode.codecs import flat as flat_codec
from aonode.codecs import json as json_codec
from aonode.core._option_values import (
    BY_TYPE,
    KINDS,
    Converter,
    Invalid,
    _atom,
    _to_stores,
    config_key,
    keep,
    plain,
    to_debug_print,
    to_index,
    to_map,
    to_port,
    to_text,
)
from aonode.errors import AOError, BadMessage
from aonode.message import Atom, Link, is_private, normalize_key

__all__ = [
    "DEFAULTS",
    "DEFAULT_DATA_DIR",
    "DERIVED",
    "ENV_VARS",
    "UNENCODABLE",
    "ConfigError",
    "Opts",
    "coerce",
    "config_key",
    "default_priv_store",
    "default_store",
    "from_environ",
    "get",
    "layer",
    "load_config",
    "option_key",
    "public_view",
    "with_defaults",
]

Opts = dict[str, Any]

# Relative, like the reference's `cache-mainnet`: a node started in a directory keeps its state there.
DEFAULT_DATA_DIR = "aonode-data"

# What `meta@1.0 info` shows in place of a value no codec can carry (dev_meta, §11.1).
UNENCODABLE = "Unencodable value."


class ConfigError(BadMessage):
    """Raised when a config file, an environment variable or an options message holds a bad value.

    `source` is the file path, `environment variable NAME` or `message`; `line` and `key`
    are set when known. The text names all three.
    """

    def __init__(self, problem: str, *, source: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.key = key
        where = [part for part in (source, f"line {line}" if line else None, f"key {key!r}" if key else None) if part]
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


def default_store(data_dir: str) -> list[dict[str, Any]]:
    """The default `store` chain: one LMDB store in `<data_dir>/lmdb` (cf. §9.2 "Default node store chain").

    The reference chains LMDB, fs and two Arweave gateway stores; aonode starts with the
    embedded store alone, so a fresh node makes no network calls until configured to.
    """
    return [{"store-module": "lmdb", "name": str(Path(data_dir) / "lmdb")}]


def default_priv_store(data_dir: str) -> list[dict[str, Any]]:
    """The default `priv_store`: an fs store in `<data_dir>/priv` (the reference's `cache-priv`, §8.5)."""
    return [{"store-module": "fs", "name": str(Path(data_dir) / "priv")}]


# Client settings of the default routes (each route gets its own copy).
_HTTPC = {"http_client": "httpc", "protocol": "http2"}
_GUN = {"http_client": "gun", "protocol": "http2"}

# `default_message()` of hb_opts (§11.2), in Python values. Atoms are str, `true`/`false` are bool.
_DEFAULTS: dict[str, Any] = {
    # --- Node identity and start-up (§10.1, §11.2) ---
    "initialized": True,  # `permanent` freezes the node message (meta@1.0, §11.1).
    "port": 8734,  # HyperBEAM's port, so clients find either node in the same place.
    "mode": "debug",  # `debug` or `prod`; the reference ships `debug`.
    "priv_key_location": "hyperbeam-key.json",  # The wallet file; created when missing (§10.1).
    "hb_config_location": "config.flat",  # The config file read at start-up (§10.1).
    "data_dir": DEFAULT_DATA_DIR,  # aonode's own: where the default stores live (see DERIVED).
    "host": "localhost",  # Shown by the greeter only.
    # --- Remote services ---
    "gateway": "https://arweave.net",
    "bundler_ans104": "https://up.arweave.net:443",
    "http_connect_timeout": 5000,  # ms
    "http_keepalive": 120000,  # ms
    "http_request_send_timeout": 60000,  # ms
    "idle_timeout": 300000,  # ms an idle inbound connection is kept (§10.1).
    # aonode's own HTTP server limits: bodies are held whole (messages are decoded whole), so
    # a handful of concurrent uploads must not exhaust memory; httpsig moves any header value
    # over 4096 bytes into the body, so real header blocks stay far below 64 KiB.
    "http_max_body": 100 * 1024 * 1024,  # bytes; larger bodies get 413.
    "http_max_header_size": 64 * 1024,  # bytes; larger header blocks get 431.
    "http_workers": 16,  # threads resolving requests at once.
    "http_header_timeout": 10_000,  # ms a client may take to send a request head (408 beyond).
    "http_body_idle_timeout": 30_000,  # ms a request body may stall between parts (408 beyond).
    "http_body_timeout": 300_000,  # ms a request body may take in all (408 beyond).
    "http_max_connections_per_client": 64,  # open connections from one address (429 beyond).
    "http_max_keys": 20_000,  # keys and list items in one request, at every depth (400 beyond).
    "access_remote_cache_for_client": False,
    # Items read from a gateway whose signature does not verify are refused unless this is true
    # (the reference defaults it to true: docs/compat.md). Engineer F, issue 19.
    "ans104_trust_gql": False,
    "bundler_httpsig": None,  # where httpsig@1.0 messages are uploaded; unset: not uploaded.
    "arweave_outbox": None,  # the uploads outbox directory; unset: <data_dir>/outbox.
    "arweave_outbox_retry": 2000,  # ms between retries of pending uploads (doubling to 60 s).
    # true: the derived default `store` is the reference chain (local LMDB, then gateway stores
    # narrowed to Data-Protocol ao and plain, caching into it), on the node's routes.
    "gateway_store": True,
    # --- Scheduling and compute ---
    "scheduling_mode": "local_confirmation",  # aggressive | local_confirmation | remote_confirmation | disabled
    "compute_mode": "lazy",  # aggressive | lazy
    "scheduler_location_ttl": 7 * 24 * 60 * 60 * 1000,  # ms (7 days) a scheduler-location record lives.
    # scheduler@1.0 (processes-compute.md §2); the reference's defaults, except where noted.
    "verify_assignments": True,  # true | accept_unsigned | false: what a message needs to be scheduled.
    "scheduler_follow_redirects": True,  # Proxy to a process's remote scheduler rather than answer 307.
    "scheduler_follow_hints": True,  # Honour `<ID>?hint=<url>` in process IDs and scheduler entries.
    "scheduler_store": None,  # A store spec for assignments and locations; None: the node's `store`.
    "scheduler_async_remote_cache": True,  # Cache assignments read from remote schedulers in the background.
    "scheduler_ignore_local_cache": False,  # `next` always asks the schedule, never the local log first.
    "scheduler_in_memory_cache": True,  # `next` keeps assignments it read ahead in the state's `priv`.
    "scheduler_location_notify_peers": [],  # Nodes sent this node's new scheduler-location record.
    # Over a shared Redis scheduler store: ms a node keeps a process after its last assignment
    # (another node takes the process over when it runs out; _scheduler_lease).
    "scheduler_lease_time": 5000,
    "process_workers": False,  # Keep a worker per process in memory (§12).
    "process_now_from_cache": False,  # false | true | always (§3.5 of processes-compute.md)
    # process@1.0 (processes-compute.md §3.6, §3.9). Snapshots: the reference's production
    # defaults (its test build snapshots every slot); a compute request always ends with one.
    "process_snapshot_slots": None,  # Snapshot every N slots; None or "false": no slot rule.
    "process_snapshot_time": 60,  # Seconds between snapshots; None or "false": no time rule.
    # Results are durable before `compute` answers; the reference writes them in the background.
    "process_async_cache": False,
    # cron@1.0 tasks running at once (each a thread; any client may start one).
    "cron_max_tasks": 100,
    # Live process states kept in memory: an AOS WASM state holds its memory (tens of MB), so a
    # few dozen busy processes, not thousands; and at most `process_live_memory` bytes of Lua
    # VMs and WASM memories together, least recently used dropped first.
    "process_live_states": 64,
    "process_live_memory": 768 * 1024 * 1024,
    "process_worker_max_idle": 300_000,  # ms an unused live state is kept (the reference's worker timeout).
    "wasm_allow_aot": False,
    # wasm-64@1.0: fuel per call (an endless loop ends in an error result), memory per instance
    # (the legacy CU's 1 GiB maximum; a process's `Memory-Limit` may lower it, never raise it),
    # where compiled modules are kept (None: in memory only), Binaryen's wasm-opt for modules in
    # the legacy exception form (None: look on PATH).
    "wasm_fuel": 50_000_000_000,
    # How a WASM call's work is bounded: "fuel" (counted instructions, `wasm_fuel`: the same on
    # every machine) or "epoch" (wall time, `wasm_time_limit` seconds: faster, machine-dependent);
    # docs/decisions.md.
    "wasm_metering": "fuel",
    "wasm_time_limit": 30.0,
    "wasm_memory_limit": 1024 * 1024 * 1024,
    "wasm_cache_dir": None,
    "wasm_opt": None,
    # p4@1.0 / simple-pay@1.0 / faff@1.0 (docs/payments.md): paths never charged (regexes
    # searched in the request path; anchored here, unlike the reference's), who is paid, the
    # opening balances, the price of one message, the allow-list.
    "p4_non_chargable_routes": [
        {"template": "^/~p4@1.0/(balance|topup)$"},
        {"template": "^/~simple-pay@1.0/topup$"},  # operator-only: others are refused, not charged
        {"template": "^/~meta@1.0/"},
        {"template": "^/ledger~node-process@1.0/now/balance(/[A-Za-z0-9_-]+)?$"},
        {"template": "^/ledger~node-process@1.0/commitments/keys/1$"},  # aos: the ledger's address
    ],
    "p4_recipient": None,
    "simple_pay_ledger": {},
    "simple_pay_price": 1,
    "faff_allow_list": [],
    # node-process@1.0: name → process definition the node spawns on first use, signed with
    # this codec; local-name@1.0: preset names (registered ones live in the store).
    "node_processes": {},
    "node_process_spawn_codec": "httpsig@1.0",
    "local_names": {},
    # Permaweb devices (issue 19): name@1.0 asks each of these messages `lookup`; cache@1.0
    # writes and links only for these signers; query@1.0's GraphQL stops after this many ms;
    # whois@1.0 learns this node's address from this node (`http://host:port`).
    "name_resolvers": [],
    "cache_writers": [],
    "query_timeout": 10000,
    "host_bootstrap_node": None,
    # lua@5.3a: limits of every Lua VM (a call over its instruction budget or wall time, or a
    # VM over its memory, is an error result the script cannot catch; the node keeps serving).
    # Memory (issue 17, docs/configuration.md "Memory"): one VM's bytes (twice that while it is
    # snapshotted or restored), and the bytes the Lua calls running at once reserve together.
    "lua_memory_limit": 256 * 1024 * 1024,
    "lua_memory_budget": 768 * 1024 * 1024,
    "lua_instruction_limit": 2_000_000_000,
    "lua_wall_time_limit": 30.0,  # seconds
    # aonode serve: seconds it waits after SIGTERM/SIGINT for a graceful stop before it exits.
    "shutdown_timeout": 8.0,
    # aonode serve: processes serving the port (`--workers`); each is a whole node on the shared store.
    "workers": 1,
    # --- Resolution (§3, §8.6, §12) ---
    "cache_control": ["no-cache", "no-store"],  # Resolutions neither look up nor store unless asked to (§8.6).
    "cache_lookup_hueristics": False,  # (sic) The reference's spelling.
    "hashpath": "update",  # `ignore` skips hashpaths and so forbids caching results (§8.6).
    "error_strategy": "throw",
    "client_error_strategy": "throw",
    "force_message": False,  # HTTP turns it on through http_extra_opts (§15.2 pitfall 10).
    "spawn_worker": False,  # false | true | recursive (§12)
    "allow_infinite": False,
    "await_inprogress": "named",  # false | named | true: which in-flight resolutions to wait for (§12).
    "worker_timeout": 10000,  # ms
    "static_worker": False,
    "async_cache": False,
    "store_scope_resolved": "local",  # Only local stores answer result lookups (§8.6).
    "linkify_mode": "offload",  # offload | discard | false (§8.4)
    "commitment_device": "httpsig@1.0",
    "default_codec": "httpsig@1.0",
    "load_remote_devices": False,  # Never run code fetched from the network unless asked.
    "trusted_device_signers": [],
    # --- HTTP (§10) ---
    "http_extra_opts": {"force_message": True, "cache_control": ["always"]},  # So HTTP requests use the cache.
    "http_inbound_filter_keys": ["content-length"],
    "http_only_result": True,
    "force_signed": False,  # The HTTP server sets it to true when it starts (§10.1).
    "force_signed_requests": False,
    "store_all_signed": True,
    "default_index": {"device": "hyperbuddy@1.0"},  # `HB_INDEX=ui`, the reference's env default.
    "default_index_path": "index",
    "default_request": "/~hyperbuddy@1.0/dashboard",
    "generate_index": True,
    "auth_hook_commit_key": "!",
    "on": {
        "request": {
            "device": "auth-hook@1.0",
            "path": "request",
            "when": {"keys": ["authorization", "!"]},
            "secret-provider": {"device": "http-auth@1.0", "access-control": {"device": "http-auth@1.0"}},
        },
    },
    # --- Routing (router@1.0) ---
    "router_opts": {"routes": []},
    "router_preprocess_default": "local",  # router@1.0 preprocess: a request no route matches runs here (`error`: 404)
    "relay_allow_commit_request": False,  # relay@1.0 may sign relayed requests with the node wallet only when true
    "relay_max_hops": 8,  # relay@1.0 refuses (508) to relay a request that has come through this many relays
    "routes": [
        {"template": "/result/.*", "node": {"prefix": "http://localhost:6363"}},
        {"template": "/snapshot/.*", "node": {"prefix": "http://localhost:6363"}},
        {"template": "/dry-run.*", "node": {"prefix": "http://localhost:6363"}},
        {"template": "/graphql", "nodes": [
            {"prefix": "https://ao-search-gateway.goldsky.com", "opts": dict(_HTTPC)},
            {"prefix": "https://arweave-search.goldsky.com", "opts": dict(_HTTPC)},
            {"prefix": "https://arweave.net", "opts": dict(_GUN)},
        ]},
        # Anchored, unlike the reference's: `/arweave` and `/raw` found inside a path
        # (`/~copycat@1.0/arweave`) are this node's own, not the gateway's (docs/compat.md).
        {"template": "^/arweave", "node": {"match": "^/arweave", "with": "https://arweave.net", "opts": dict(_HTTPC)}},
        {"template": "^/raw", "node": {"prefix": "https://arweave.net", "opts": dict(_GUN)}},
        # snp@1.0: AMD's Key Distribution Service (VCEKs and ASK/ARK chains; aonode/tee/kds.py)
        {"template": "^/vcek/v1/", "node": {"prefix": "https://kdsintf.amd.com", "opts": dict(_HTTPC)}},
    ],
    # --- Trust, identities, history (§11.1) ---
    "node_history": [],  # Every change to the node message made through meta@1.0 is appended here.
    "identities": {},
    "trusted": {},
    "snp_enforced_keys": ["firmware", "kernel", "initrd", "append", "vmm_type", "guest_features"],
    # snp@1.0 / greenzone@1.0 (docs/configuration.md): the software a report may claim, the
    # OVMF layout the launch digest needs, extra pinned ARKs by product, the product of
    # version-2 reports, where reports come from; the zone's required config and peer.
    "snp_trusted": [],
    "snp_ovmf": {},
    "snp_ark_roots": {},
    "snp_default_product": "Milan",
    "snp_report_source": "kernel",
    "green_zone_required_config": {},
    "green_zone_peer_location": None,
    "green_zone_peer_id": None,
    "trusted_nodes": {},
    # --- Stores (§9); `store` and `priv_store` are DERIVED from data_dir ---
    "store_defaults": {},
    # --- Debugging and scripts ---
    "debug_print": False,  # true, false, or a list of event topics.
    "lua_scripts": "scripts",
}


def _derive_store(opts: Mapping[str, Any]) -> Any:
    local = default_store(get(opts, "data_dir"))
    if get(opts, "gateway_store", False):
        from aonode.store._gateway import reference_chain  # engineer F, issue 19

        return reference_chain(local, opts)
    return local


def _derive_priv_store(opts: Mapping[str, Any]) -> Any:
    return default_priv_store(get(opts, "data_dir"))


def _derive_port_external(opts: Mapping[str, Any]) -> Any:
    return get(opts, "port")


DERIVED: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
    "store": _derive_store,
    "priv_store": _derive_priv_store,
    "port_external": _derive_port_external,
}
"""Defaults computed from other options when the key itself is not set."""


def _fresh(value: Any) -> Any:
    """A copy of the lists and maps in a default value (the leaves are immutable)."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


class _Defaults(Mapping[str, Any]):
    """A read-only view of the defaults that hands out copies, so no caller can change a default."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _fresh(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"DEFAULTS({self._data!r})"


DEFAULTS: Mapping[str, Any] = _Defaults({
    **_DEFAULTS,
    "store": default_store(DEFAULT_DATA_DIR),
    "priv_store": default_priv_store(DEFAULT_DATA_DIR),
    "port_external": _DEFAULTS["port"],
})
"""Every default aonode knows, with `store`, `priv_store` and `port_external` as derived for the
default `data_dir` and `port`. Read-only; each access returns a fresh copy of a list or dict."""


def option_key(key: str | bytes) -> str:
    """The Python form of an option key: `-` becomes `_` (`cache-control` -> `cache_control`)."""
    if isinstance(key, str) and "-" not in key:
        return key
    return normalize_key(key).replace("-", "_")


def get(opts: Mapping[str, Any], key: str | bytes, default: Any = None) -> Any:
    """Look an option up in `opts`, then in the derived defaults, then in DEFAULTS (`hb_opts:get`, §11.2).

    As in the reference, a known default wins over `default`: `get({}, "cache_control", [])` is
    `["no-cache", "no-store"]`. `default` is returned only for keys with no default at all.

    Args:
        opts: the options; keys in Python form.
        key: `cache_control` or `cache-control` (binary keys from messages use `-`).
        default: the value for a key that is neither set nor known.
    """
    name = option_key(key)
    if name in opts:
        return opts[name]
    derive = DERIVED.get(name)
    if derive is not None:
        return derive(opts)
    if name in _DEFAULTS:
        return DEFAULTS[name]
    return default


def with_defaults(opts: Mapping[str, Any]) -> Opts:
    """Every option spelled out: DEFAULTS, the derived defaults computed from `opts`, then `opts`."""
    out: Opts = dict(DEFAULTS)
    for name, derive in DERIVED.items():
        out[name] = derive(opts)
    out.update((option_key(k), v) for k, v in opts.items())
    return out


def layer(*sources: Mapping[str, Any] | None) -> Opts:
    """Merge option sources, each later one winning key by key; `None` sources are skipped.

    Call it as `layer(from_environ(env), load_config(path), cli_options)`: defaults <
    environment < config file < CLI flags / explicit options (§11.2). The merge is shallow,
    like `maps:merge`: a later `http_extra_opts` replaces an earlier one whole. Keys are put in
    Python form (`-` -> `_`).
    """
    out: Opts = {}
    for source in sources:
        if source is not None:
            out.update((option_key(k), v) for k, v in source.items())
    return out


def _to_options(value: Any) -> dict[str, Any]:
    """A map of options (`http_extra_opts`): keys and values go through the same rules as the top level."""
    out: dict[str, Any] = {}
    for raw_key, item in to_map(value).items():
        key = config_key(raw_key)
        try:
            out[key] = _kind(key)(item)
        except Invalid as exc:
            raise Invalid(exc.problem, (key, *exc.path)) from None
    return out


# Options whose values are themselves options need `_kind`, so they are added here.
_KINDS: dict[str, Converter] = {
    **KINDS,
    "http_extra_opts": _to_options,
    "verify_assignments": _atom(True, False, "accept_unsigned"),
    "scheduler_store": _to_stores,
    "process_now_from_cache": _atom(False, True, "always"),
    "process_snapshot_time": keep,  # seconds, or "false"; read leniently by process@1.0
}


def _kind(key: str) -> Converter:
    if key in _KINDS:
        return _KINDS[key]
    if key in _DEFAULTS:
        default = _DEFAULTS[key]
        for typ, convert in BY_TYPE:
            if isinstance(default, typ):
                return convert
    return keep


def _coerce(values: Mapping[Any, Any], source: str, lines: Mapping[tuple[str, ...], int] | None = None) -> Opts:
    out: Opts = {}
    for raw_key, raw_value in values.items():
        key = config_key(raw_key)
        try:
            out[key] = _kind(key)(plain(raw_value))
        except Invalid as exc:
            path = (key, *exc.path)
            line = None
            for end in range(len(path), 0, -1):
                line = (lines or {}).get(path[:end])
                if line is not None:
                    break
            raise ConfigError(exc.problem, source=source, line=line, key="/".join(path)) from None
    return out


def coerce(values: Mapping[Any, Any], *, source: str = "message") -> Opts:
    """Option keys and values from a decoded message or map (`mimic_default_types`, §11.2).

    Keys are lowercased with `-` -> `_`. Binaries and atoms become str; each known option's
    value is converted to its default's type (`"8734"` -> 8734, `"false"` -> False, a
    comma-separated `cache_control` -> a list); unknown keys keep their values. Use it for
    `POST /~meta@1.0/info` bodies as well as files.

    Raises:
        ConfigError: a value does not fit its option; the text names `source` and the key.
    """
    return _coerce(values, source)


# --- Files -------------------------------------------------------------------------------

def load_config(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Opts:
    """Read a config file (`hb_opts:load`, §11.2): `.json` through json@1.0, anything else as flat@1.0 text.

    Flat files hold `key: value` lines; blank lines and `#` comments are skipped, trailing
    whitespace is trimmed, and `a/b: v` nests (`store/1/name: x` builds a one-store list).
    Values are coerced as `coerce` does. The reference ignores a config file it cannot
    read; aonode refuses to start on a broken one.

    Args:
        path: the file.
        missing_ok: return `{}` when the file does not exist (for the default location).

    Raises:
        ConfigError: the file cannot be read or parsed, or a value does not fit its option.
    """
    source = os.fspath(path)
    try:
        data = Path(source).read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise ConfigError("no such file", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc
    if Path(source).suffix.lower() == ".json":
        return _load_json(data, source)
    return _load_flat(data, source)


def _load_json(data: bytes, source: str) -> Opts:
    try:
        decoded = json_codec.loads(data)
    except AOError as exc:
        raise ConfigError(exc.message, source=source) from exc
    if not isinstance(decoded, dict):
        raise ConfigError("expected a JSON object at the top level", source=source)
    return _coerce(decoded, source)


def _load_flat(data: bytes, source: str) -> Opts:
    entries: dict[str, bytes] = {}
    lines: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8").rstrip()
        except UnicodeDecodeError:
            raise ConfigError("the line is not UTF-8 text", source=source, line=number) from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep or value.strip():
                raise ConfigError("expected a 'key: value' line", source=source, line=number)
        key = key.strip()
        segments = key.split("/")
        if any(not s for s in segments):
            raise ConfigError("the key has an empty path segment", source=source, line=number, key=key)
        entries[key] = value.strip().encode("utf-8")
        for end in range(1, len(segments) + 1):
            lines[tuple(config_key(s) for s in segments[:end])] = number
    try:
        nested = flat_codec.from_wire(entries)
    except AOError as exc:
        raise ConfigError(exc.message, source=source) from exc
    assert isinstance(nested, dict)
    return _coerce(nested, source, lines)


# --- Environment ---------------------------------------------------------------------------

ENV_VARS: Mapping[str, tuple[str, Converter]] = {
    "HB_PORT": ("port", to_port),
    "HB_KEY": ("priv_key_location", to_text),
    "HB_CONFIG": ("hb_config_location", to_text),
    "HB_MODE": ("mode", KINDS["mode"]),
    "HB_PRINT": ("debug_print", to_debug_print),
    "HB_INDEX": ("default_index", to_index),
    "LUA_SCRIPTS": ("lua_scripts", to_text),
    "LUA_TESTS": ("lua_tests", to_text),
    "AONODE_DATA_DIR": ("data_dir", to_text),
}
"""Environment variables aonode reads (`ENV_KEYS`, §11.2): name -> (option key, parser)."""


def from_environ(environ: Mapping[str, str]) -> Opts:
    """The options set by environment variables in `environ` (the caller passes `os.environ`).

    Only variables that are set and non-empty appear in the result; `ENV_VARS` lists them.
    `HB_PRINT` is `1`/`true` for everything or a comma-separated list of topics; `HB_INDEX`
    is `ui`, `text`, `Device/Path` or `Device`.

    Raises:
        ConfigError: a variable's value is invalid; the text names the variable.
    """
    out: Opts = {}
    for name, (key, convert) in ENV_VARS.items():
        text = environ.get(name)
        if not text:
            continue
        try:
            out[key] = convert(text)
        except Invalid as exc:
            raise ConfigError(exc.problem, source=f"environment variable {name}") from None
    return out


# --- Public view -----------------------------------------------------------------------------

def _key_text(key: object) -> str:
    try:
        return normalize_key(key)
    except TypeError:
        return str(key)


def _public(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {text: _public(v) for k, v in value.items() if not is_private(text := _key_text(k))}
    if isinstance(value, (list, tuple)):
        return [_public(v) for v in value]
    if value is None or isinstance(value, (bytes, str, bool, int, float, Atom, Link)):
        return value
    return UNENCODABLE


def public_view(opts: Mapping[Any, Any]) -> Opts:
    """The options as `meta@1.0 info` shows them (§11.1): no secrets, nothing unencodable.

    Keys starting with `priv` (`priv_wallet`, `priv_key_location`, ...) are removed at every
    depth; values no message can hold (wallets, functions, store instances) become
    `"Unencodable value."`. Pass `with_defaults(opts)` to show the defaults too.
    """
    result = _public(opts)
    assert isinstance(result, dict)
    return result

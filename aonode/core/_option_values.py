"""Converters from text or decoded message values to typed option values (`mimic_default_types`,
resolution-paths-cache-node.md §11.2). `options` picks one per key; each raises `Invalid`
with the problem and the nested key path, which `options` turns into a `ConfigError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from aonode.errors import BadMessage
from aonode.message import Atom, Link, normalize_key


def config_key(key: object) -> str:
    """The option key for a key read from a file or message: lowercased, `-` -> `_` (`key_to_atom`)."""
    return normalize_key(key).lower().replace("-", "_")



class Invalid(BadMessage):
    """A converter's complaint; `path` holds nested keys below the option, innermost last."""

    def __init__(self, problem: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path


Converter = Callable[[Any], Any]

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"


def _bool_text(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _to_bool(value: Any) -> bool:
    found = _bool_text(value)
    if found is None:
        raise Invalid(f"expected true or false, got {_show(value)}")
    return found


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    raise Invalid(f"expected an integer, got {_show(value)}")


def to_port(value: Any) -> int:
    try:
        port: int | None = _to_int(value)
    except Invalid:
        port = None
    if port is None or not 0 <= port <= 65535:
        raise Invalid(f"expected a port number from 0 to 65535, got {_show(value)}")
    return port


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        result = float(value.strip())
    else:
        raise Invalid(f"expected a number, got {_show(value)}")
    if not math.isfinite(result):
        raise Invalid(f"expected a finite number, got {_show(value)}")
    return result


def to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected text, got {_show(value)}")
    return value


def _atom(*choices: str | bool) -> Converter:
    """An Erlang atom option: text, or `true`/`false`; restricted to `choices` when given."""

    def convert(value: Any) -> str | bool:
        found: str | bool | None = _bool_text(value)
        if found is None and isinstance(value, str):
            found = value
        if found is None or (choices and found not in choices):
            allowed = ", ".join(str(c).lower() if isinstance(c, bool) else c for c in choices) or "text"
            raise Invalid(f"expected {'one of ' if choices else ''}{allowed}, got {_show(value)}")
        return found

    return convert


def _numbered(value: Any) -> Any:
    """A map keyed `1`..`n` (how flat@1.0 writes a list) as a list; anything else unchanged."""
    if isinstance(value, dict) and value and set(value) == {str(i) for i in range(1, len(value) + 1)}:
        return [value[str(i)] for i in range(1, len(value) + 1)]
    return value


def _to_list(value: Any) -> list[Any]:
    value = _numbered(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise Invalid(f"expected a list, got {_show(value)}")


def _to_text_list(value: Any) -> list[str]:
    items = _to_list(value)
    for i, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise Invalid(f"expected text, got {_show(item)}", (str(i),))
    return items


def to_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"expected a map, got {_show(value)}")
    return dict(value)


def _to_stores(value: Any) -> list[Any]:
    """One store spec (a map) or a chain of them (§9.1); a store object given in code is kept."""
    value = _numbered(value)
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for i, item in enumerate(value, 1):
            if isinstance(item, (str, int, float, bool)) or item is None:
                raise Invalid(f"expected a store spec (a map), got {_show(item)}", (str(i),))
            out.append(dict(item) if isinstance(item, Mapping) else item)
        return out
    raise Invalid(f"expected a store spec or a list of them, got {_show(value)}")


def to_debug_print(value: Any) -> bool | list[str]:
    """`HB_PRINT` rules: `1`/`true` -> true, `0`/`false`/empty -> false, else a comma-separated topic list."""
    if isinstance(value, str):
        if value.strip().lower() in ("1", "true"):
            return True
        if value.strip().lower() in ("", "0", "false"):
            return False
    if isinstance(value, bool):
        return value
    return _to_text_list(value)


def to_index(value: Any) -> dict[str, Any]:
    """`HB_INDEX` rules (§11.2): `ui`, `text`, `Device/Path` or `Device`; a map is taken as given."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise Invalid(f"expected ui, text, Device or Device/Path, got {_show(value)}")
    if value == "ui":
        return {"device": "hyperbuddy@1.0"}
    if value == "text":
        return {"device": "hyperbuddy@1.0", "path": "format"}
    tokens = [t for t in value.split("/") if t]
    if len(tokens) == 1:
        return {"device": tokens[0]}
    if len(tokens) == 2:
        return {"device": tokens[0], "path": tokens[1]}
    raise Invalid(f"expected ui, text, Device or Device/Path, got {value!r}")


BY_TYPE: tuple[tuple[type, Converter], ...] = (
    (bool, _to_bool),
    (int, _to_int),
    (float, _to_float),
    (str, to_text),
    (list, _to_list),
    (dict, to_map),
)

# Converters chosen by hand; every other known key gets the one for its default's type (BY_TYPE).
KINDS: dict[str, Converter] = {
    "port": to_port,
    "port_external": to_port,
    "mode": _atom("debug", "prod"),
    "initialized": _atom(True, False, "permanent"),
    "scheduling_mode": _atom("aggressive", "local_confirmation", "remote_confirmation", "disabled"),
    "compute_mode": _atom("aggressive", "lazy"),
    "hashpath": _atom("update", "ignore"),
    "await_inprogress": _atom(False, True, "named"),
    "spawn_worker": _atom(False, True, "recursive"),
    "linkify_mode": _atom(False, "offload", "discard"),
    "error_strategy": _atom(),
    "client_error_strategy": _atom(),
    "store_scope_resolved": _atom(),
    "cache_control": _to_text_list,
    "trusted_device_signers": _to_text_list,
    "http_inbound_filter_keys": _to_text_list,
    "snp_enforced_keys": _to_text_list,
    "store": _to_stores,
    "priv_store": _to_stores,
    "debug_print": to_debug_print,
    "default_index": to_index,
}


def keep(value: Any) -> Any:
    return value


def plain(value: Any) -> Any:
    """Decoded message values as option values: binaries -> str, atoms -> str, maps and lists recursively."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("value is not UTF-8 text") from None
    if isinstance(value, Atom):
        return value.name
    if isinstance(value, Link):
        raise Invalid(f"a link ({value.id}) cannot stand in a configuration")
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {normalize_key(k): plain(v) for k, v in value.items()}
    return value

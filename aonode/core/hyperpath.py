"""HyperPATHs: a singleton request <-> the list of messages it stands for (`hb_singleton`,
resolution-paths-cache-node.md §7).

Theory of operation. `parse(singleton)` runs the reference's pipeline:

1. `from_path` (§7.1): percent-decode the whole path (it must then be UTF-8), split it once
   at the first depth-0 `?` outside quotes, parse the query like cowboy's `parse_qs` (which
   decodes a second time, `+` becoming a space), split the path on `/` and drop empty parts.
2. Every part becomes one step (§7.2): an ID (any 32/42/43-byte part), `(sub/path)` ->
   `Resolve`, or `key` followed by its first modifier: `&k=v...`, `~device&k=v...`,
   `=value` / `+type=value` (sugar for `&key=value`), while a space there is an error.
3. A base is prepended unless the first step is an ID, an `As` or a `Resolve`.
4. The other keys of the singleton, with the query overriding them, are typed (§7.3:
   `key+type`) and scoped (`N.key` belongs to the step after the base numbered N; `0.key` to
   the base), then merged into each map step under its own inline keys.
5. Each map step (and the message inside an `As`) goes through the structured@1.0 round trip
   that the reference applies, which turns text into `bytes`, keeps integers, floats, atoms,
   lists, maps and `Resolve` values, and silently drops values it cannot type.

The splitters copy `hb_util:split_depth_string_aware`: `(`...`)` nests, a `"` runs to the next
unescaped `"` and is copied with its quotes, and an unterminated quoted run gets a closing
quote appended (so the text after splitting can be one byte longer than before).

Quirks kept on purpose: `+binary=x` and `k+resolve=(/x)` are errors (write `k=(/x)`),
`+integer=abc` drops the key, and a 32/42/43-byte segment is an ID whatever it holds.

Deliberate differences from the reference (docs/compat.md):

* `+atom=name` gives `Atom(name)` for any name; the reference only knows atoms its VM has
  already seen (`badarg` otherwise).
* Tokens inside `+list` and `+map` values become `bytes` (`true`, `false`, `null` become
  `True`, `False`, `None`); the reference makes an atom of a token when its VM happens to
  know one by that name. The HyperBEAM docs show binaries here.
* Decimals inside `+list` and `+map` decode to the float they spell; the reference's
  formatter loses the sign of values between -1 and 0 and leading zeros of the fraction.
* Sub-paths may nest at most `MAX_NESTING` deep; Erlang has no such limit.
* A scoped key (`1.foo`) that a commitment of the request covers is refused (400): scoping
  would take it out of the signed message, which would then be resolved and cached without
  it. The reference moves it to its step.
* Keys are typed and scoped in bytewise order, the reference's order for maps of up to 32
  keys (bigger ones go in hash order); it matters only when `k` and `k+integer` collide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from aonode._memo import Memo
from aonode.codecs import _sf  # the structured-field dialect the typed values are written in
from aonode.codecs._ids import fingerprint
from aonode.codecs.structured import REGEN_KEYS
from aonode.core.terms import As, Resolve
from aonode.errors import BadMessage, DecodeError, EncodeError, shown
from aonode.message import Atom, Link, is_id, is_private
from aonode.text import as_text

__all__ = ["MAX_NESTING", "MAX_SEGMENT_LENGTH", "Step", "from_path", "parse", "to_singleton"]

Step = Union[str, dict[str, Any], As, Resolve]
"""One element of a parsed HyperPATH: an ID (`str`), a message, an `As` or a `Resolve`."""

# §7.1 step 4: a part of 512 bytes is accepted, 513 throws `segment_too_long`.
MAX_SEGMENT_LENGTH = 512
# Not in the reference. A 512-byte part could nest `(` 256 deep, and each level costs a few
# Python frames; 32 levels is far beyond any real path and far inside the interpreter's stack.
MAX_NESTING = 32

_SEGMENT_SEPARATORS = "&~+ ="  # §7.2: the first of these after the key picks the modifier
_TYPE_SEPARATORS = "+ "  # §7.3: URL encoders may turn `+` into a space
_BARE_TOKENS: dict[str, Any] = {"true": True, "false": False, "null": None}
# RFC 8941 integers have at most 15 digits; the reference's parser rejects longer ones.
_INTEGER_LIMIT = 999_999_999_999_999
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Erlang's binary_to_float: digits, a dot, digits, an optional exponent. "1" and "1e5" fail.
_FLOAT = re.compile(r"[+-]?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")  # Erlang's binary_to_integer, used for `N.key`
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")


# A typed value the structured round trip cannot carry (`+integer=abc` gives the tuple
# `{token, <<"abc">>}` in the reference): its key vanishes from the step.
_DROP: Any = object()


def _fail(reason: str) -> BadMessage:
    return BadMessage(f"hyperpath: {reason}")


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise _fail(f"'{shown(text[:40])}' is not valid text") from exc


def _sort_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _is_id(part: object) -> bool:
    # `?IS_ID` is a length test on a binary (§15.2 pitfall 1); it never fails.
    if isinstance(part, bytes):
        return is_id(part)
    return isinstance(part, str) and len(part) <= 43 and len(part.encode("utf-8", "surrogatepass")) in (32, 42, 43)


# --- §7.1 lexical rules ------------------------------------------------------------------
def _scan(text: str, seps: str, start: int) -> tuple[str | None, str, int]:
    """One token from `start` up to the first depth-0 separator outside quotes.

    Returns (separator or None, token, index after the separator).
    """
    acc: list[str] = []
    depth = 0
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" and j + 1 < n else 1
            acc.append('"' + text[i + 1 : j] + '"')  # an unterminated run is closed here
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")" and depth > 0:
            depth -= 1
        elif depth == 0 and c in seps:
            return c, "".join(acc), i + 1
        acc.append(c)
        i += 1
    return None, "".join(acc), n


def _split_first(text: str, seps: str) -> tuple[str | None, str, str]:
    sep, token, end = _scan(text, seps, 0)
    return sep, token, text[end:]


def _path_parts(text: str, sep: str) -> list[str]:
    """Split at every depth-0 `sep`, dropping empty parts; a long part is an error."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        _, token, i = _scan(text, sep, i)
        if not token:
            continue
        if len(token) * 4 > MAX_SEGMENT_LENGTH and len(_encode(token)) > MAX_SEGMENT_LENGTH:
            raise _fail(f"segment too long ({len(_encode(token))} bytes, at most {MAX_SEGMENT_LENGTH}): "
                        f"'{shown(token[:32])}'")
        parts.append(token)
    return parts


def _unhex(raw: bytes, *, keep_short_tail: bool) -> bytes:
    """`%HH` -> one byte; any other `%` is an error, except (for `uri_string:unquote`) a `%`
    with fewer than two bytes after it at the very end, which stays as it is."""
    chunks = raw.split(b"%")
    out = [chunks[0]]
    for index, chunk in enumerate(chunks[1:], 1):
        if len(chunk) >= 2 and chunk[0] in _HEX and chunk[1] in _HEX:
            out.append(bytes([int(chunk[:2], 16)]) + chunk[2:])
        elif keep_short_tail and len(chunk) < 2 and index == len(chunks) - 1:
            out.append(b"%" + chunk)
        else:
            raise _fail(f"cannot decode '{shown(raw[:60])}': bad percent-escape")
    return b"".join(out)


def _percent_decode(raw: bytes) -> str:
    """`uri_string:unquote`, whose result must be UTF-8."""
    try:
        return _unhex(raw, keep_short_tail=True).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"cannot decode '{shown(raw[:60])}': not UTF-8 after percent-decoding") from exc


def _form_decode(raw: bytes) -> bytes:
    """cowlib's `urldecode`: `+` is a space (a `%2B` stays a plus), `%HH` a byte."""
    return _unhex(raw.replace(b"+", b" "), keep_short_tail=False)


def _parse_qs(query: bytes) -> dict[str, bytes | bool]:
    """cowboy's `parse_qs`: `&`-separated pairs, split at the first `=`; a bare key is `True`;
    the last duplicate wins; an empty key before `=` is an error."""
    out: dict[str, bytes | bool] = {}
    for pair in query.split(b"&"):
        if not pair:
            continue
        name, eq, value = pair.partition(b"=")
        if eq and not name:
            raise _fail(f"query pair '{shown(pair[:40])}' has no key")
        out[_form_decode(name).decode("utf-8", "surrogateescape")] = _form_decode(value) if eq else True
    return out


def from_path(path: str | bytes) -> tuple[list[str], dict[str, bytes | bool]]:
    """Decode a HyperPATH into its raw parts and its query map (`hb_singleton:from_path`, §7.1).

    The whole string is percent-decoded before it is split, so `%2F`, `%3F` and `%26` are
    structural; the query is then decoded a second time, with `+` meaning a space.

    Returns:
        The non-empty parts between depth-0 `/`s (e.g. `["a", "b&k=v"]` for `/a/b&k=v?x=1`)
        and the query keys with their values: `bytes`, or `True` for a key without `=`.

    Raises:
        BadMessage: a bad percent-escape, non-UTF-8 text, a query key missing before `=`, or
            a part longer than `MAX_SEGMENT_LENGTH` bytes.
    """
    if not isinstance(path, (str, bytes)):
        raise _fail(f"a path must be text, got {type(path).__name__}")
    found = _PATHS.get(path)
    if found is None:
        decoded = _percent_decode(path if isinstance(path, bytes) else _encode(path))
        sep, before, after = _split_first(decoded, "?")
        query = _parse_qs(after.encode("utf-8")) if sep is not None else {}
        found = (tuple(_path_parts(before, "/")), query)
        if len(path) <= _PATH_LIMIT:
            _PATHS.put(path, found)
    return list(found[0]), dict(found[1])


# Decoded targets: the server reads a target's query and then parses the same path.
_PATHS: Memo[str | bytes, tuple[tuple[str, ...], dict[str, bytes | bool]]] = Memo(1024)
_PATH_LIMIT = 4096


# --- §7.3 typed keys ---------------------------------------------------------------------
def _sf_item(text: str, what: str) -> _sf.Item:
    # The reference parses the item as is: no whitespace before it, nothing after it.
    if text[:1] in (" ", "\t") or text[-1:] in (" ", "\t"):
        raise _fail(f"{what}: '{shown(text[:40])}' has surrounding spaces")
    item = _sf.parse_item(text, what)
    if isinstance(item.value, list):
        raise _fail(f"{what}: '{shown(text[:40])}' is an inner list")
    return item


def _decode_integer(text: str) -> Any:
    value = _sf_item(text, "+integer").value
    # Whatever RFC 8941 item it is comes back; only numbers and booleans survive the
    # structured round trip (a decimal, string or token is dropped there).
    return value if isinstance(value, int) else _DROP


def _decode_float(text: str) -> Any:
    value = float(text) if _FLOAT.fullmatch(text) else math.nan
    if not math.isfinite(value):  # not Erlang float syntax, or too large for a double
        raise _fail(f"+float: '{shown(text[:40])}' is not a float such as 1.5 or 2.0e3")
    return value


def _decode_atom(text: str) -> Any:
    value = _sf_item(text, "+atom").value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if not isinstance(value, str):  # a number or a boolean: `{_, Name}` does not match
        raise _fail(f"+atom: '{shown(text[:40])}' is not a token or string")
    return _BARE_TOKENS[value] if value in _BARE_TOKENS else Atom(str(value))


def _from_bare(item: _sf.Item, what: str) -> Any:
    value = item.value
    if isinstance(value, list):
        raise _fail(f"{what}: inner lists are not supported")
    if isinstance(value, _sf.Token):
        return _BARE_TOKENS[value] if value in _BARE_TOKENS else _encode(str(value))
    if isinstance(value, str):
        return _encode(value)
    return value


def _decode_list(text: str) -> Any:
    out: list[Any] = []
    for item in _sf.parse_list(text, "+list"):
        value = item.value
        if isinstance(value, str) and not isinstance(value, _sf.Token) and value.startswith("(ao-type-"):
            type_name, found, encoded = value[len("(ao-type-") :].partition(") ")
            if not found:
                raise _fail(f"+list: member '{shown(value[:40])}' has no type")
            decoded = _decode_value(type_name, encoded)
        else:
            decoded = _from_bare(item, "+list")
        if decoded is not _DROP:
            out.append(decoded)
    return out


def _decode_map(text: str) -> Any:
    return {key: _from_bare(item, "+map") for key, item in _sf.parse_dictionary(text, "+map").items()}


_DECODERS: dict[str, Callable[[str], Any]] = {
    "integer": _decode_integer,
    "float": _decode_float,
    "atom": _decode_atom,
    "list": _decode_list,
    "map": _decode_map,
}


def _decode_value(type_name: str, text: str) -> Any:
    """`dev_codec_structured:decode_value`: the type name is matched case-insensitively."""
    decoder = _DECODERS.get(_encode(type_name).lower().decode("utf-8", "surrogateescape"))
    if decoder is None:  # `binary` too, whatever the docs say: the reference throws
        raise _fail(f"unknown type '{shown(type_name)}'; known: resolve, {', '.join(_DECODERS)}")
    try:
        return decoder(text)
    except DecodeError as exc:
        raise _fail(f"+{type_name}: {exc}") from exc


def _decode_quotes(text: str) -> str:
    """`hb_escape:decode_quotes`: `\\"` becomes `"`, any other `"` disappears."""
    return re.sub(r'\\"|"', lambda m: '"' if len(m.group(0)) == 2 else "", text)


def _maybe_typed(key: str, value: Any, depth: int) -> tuple[str, Any]:
    sep, only, type_name = _split_first(key, _TYPE_SEPARATORS)
    if sep is None:
        return only, value
    if type_name == "resolve":  # exact case: `Resolve` falls through and is unknown
        if not isinstance(value, (str, bytes)):
            # `k+resolve=(/x)` reaches here with the already-parsed sub-path (`cannot_decode`).
            raise _fail(f"'{shown(key)}': a +resolve value is a path; write {only}=(/x/y) or {only}+resolve=/x/y")
        return only, Resolve(_from({"path": value}, depth + 1))
    if not isinstance(value, (str, bytes)):
        raise _fail(f"'{shown(key)}': only text can be typed, got {type(value).__name__}")
    return only, _decode_value(type_name, _decode_quotes(as_text(value, errors="surrogateescape")))


# --- §7.2 segments -----------------------------------------------------------------------
def _maybe_subpath(text: str, depth: int) -> Resolve | None:
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        return Resolve(_from({"path": text[1:-1]}, depth + 1))
    return None


def _unquote(value: str) -> str:
    if value == '"':  # the reference fails on `binary:last(<<>>)`
        raise _fail("a lone quote cannot be a value")
    if value.startswith('"'):
        return value[1:-1] if value.endswith('"') else value[1:]
    return value


def _add_inlines(text: str, msg: dict[str, Any], depth: int) -> dict[str, Any]:
    for inline in _path_parts(text, "&"):
        sep, key, raw = _split_first(inline, "=&")
        if sep is None:
            msg[key] = True
            continue
        if sep != "=":
            raise _fail(f"cannot parse inline key '{shown(inline[:40])}'")
        value = _unquote(raw)
        sub = _maybe_subpath(value, depth)
        key, typed = _maybe_typed(key, value if sub is None else sub, depth)
        msg[key] = typed
    return msg


def _parse_part(part: str, depth: int) -> Step:
    if _is_id(part):
        return part
    sub = _maybe_subpath(part, depth)
    if sub is not None:
        return sub
    sep, key, rest = _split_first(part, _SEGMENT_SEPARATORS)
    msg: dict[str, Any] = {"path": key}
    if sep is None:
        return msg
    if sep == "&":
        return _add_inlines(rest, msg, depth)
    if sep in "=+":  # `key=v` and `key+type=v` are sugar for `key&key=v`, `key&key+type=v`
        return _add_inlines(key + sep + rest, msg, depth)
    if sep == "~":
        _, device, inlines = _split_first(rest, "&")
        msg = _add_inlines(inlines, msg, depth)
        as_device = _maybe_subpath(device, depth)
        return As(device if as_device is None else as_device, msg)
    raise _fail(f"segment '{shown(part[:40])}': a space cannot follow the key (write %2B or + for a type)")


# --- §7.1 message assembly ---------------------------------------------------------------
def _norm_value(value: Any) -> Any:
    """The effect of structured@1.0 to TABM and back on one value."""
    if isinstance(value, str):
        return _encode(value)
    if isinstance(value, Mapping):
        return _structured(value, top=False)
    if isinstance(value, list):
        return [item for item in map(_norm_value, value) if item is not _DROP]
    if value is None or isinstance(value, (bytes, bool, Resolve, Link)):
        return value
    if isinstance(value, int) and abs(value) > _INTEGER_LIMIT:
        raise _fail(f"integer {value} has more than 15 digits")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(f"float {value} is not finite")
    if isinstance(value, Atom) and not _TOKEN.fullmatch(value.name):  # it travels as a token
        raise _fail(f"atom '{shown(value.name[:40])}' cannot be written as a token")
    return value if isinstance(value, (int, float, Atom)) else _DROP  # anything else is dropped


def _structured(msg: Mapping[str, Any], *, top: bool = True) -> dict[str, Any]:
    """A message after `hb_message:convert(M, structured@1.0)`, nested values kept inline."""
    out: dict[str, Any] = {}
    for key, value in msg.items():
        if key == "commitments":
            out[key] = value  # copied through unmodified
        elif key == "priv":
            if top and isinstance(value, Mapping) and value:  # set aside, then restored
                out[key] = value
        elif key not in REGEN_KEYS and not is_private(key):
            norm = _norm_value(value)
            if norm is not _DROP:
                out[key] = norm
    return out


def _signed_keys(singleton: Mapping[str, Any]) -> frozenset[str]:
    """The keys some commitment of the singleton covers."""
    commitments = singleton.get("commitments")
    found: set[str] = set()
    for commitment in commitments.values() if isinstance(commitments, Mapping) else ():
        committed = commitment.get("committed") if isinstance(commitment, Mapping) else None
        if isinstance(committed, Mapping):
            committed = list(committed.values())
        if isinstance(committed, list | tuple):
            found.update(as_text(n, errors="surrogateescape") for n in committed if isinstance(n, str | bytes))
    return frozenset(found)


def _group_scoped(typed: Mapping[str, Any], count: int, signed: frozenset[str] = frozenset()
                  ) -> list[dict[str, Any]]:
    scoped: dict[int, dict[str, Any]] = {}
    global_keys: dict[str, Any] = {}
    for key in sorted(typed, key=_sort_key):
        pieces = key.split(".")
        if len(pieces) != 2:
            global_keys[key] = typed[key]
            continue
        front, real = pieces
        if not _INTEGER.fullmatch(front):
            raise _fail(f"key '{shown(key)}': a scope before the dot must be an integer")
        index = int(front) + 1  # `0.key` is the base, index 1
        if index <= 0:
            raise _fail(f"key '{shown(key)}': scopes start at 0")
        if key in signed:
            # Scoping would move a signed key out of the message its signature covers: the
            # request would be resolved, and stored, without it.
            raise _fail(f"key '{shown(key)}' is signed, and a scoped key (N.key) cannot be taken out of "
                        "the signed message; rename it or send it in the query")
        scoped.setdefault(index, {})[real] = typed[key]
    return [{**global_keys, **scoped.get(i, {})} for i in range(1, count + 1)]


def _build(steps: list[Step], additional: list[dict[str, Any]]) -> list[Step]:
    out: list[Step] = []
    for step, extra in zip(steps, additional, strict=True):
        if isinstance(step, As) and isinstance(step.message, dict):
            msg = step.message
            path = msg.get("path", "")
            if _is_id(path):
                extra = {}  # an ID base takes no globals
            elif path in ("", b""):  # a bare `~dev`: only the device changes, nothing resolves
                msg = {k: v for k, v in msg.items() if k != "path"}
                extra = {k: v for k, v in extra.items() if k != "path"}
            out.append(As(step.device, _structured({**extra, **msg})))
        elif isinstance(step, dict):
            out.append(_structured({**extra, **step}))  # inline keys win
        else:
            out.append(step)
    return out


def _from(singleton: Mapping[str, Any], depth: int) -> list[Step]:
    if depth > MAX_NESTING:
        raise _fail(f"sub-paths nest deeper than {MAX_NESTING} levels")
    parts, query = from_path(singleton.get("path", b""))
    if not all(isinstance(key, str) for key in singleton):
        raise _fail("the keys of a singleton must be text")
    # Query parameters override headers and body keys of the same name.
    global_keys = {k: v for k, v in singleton.items() if k != "path"} | query
    steps = [_parse_part(part, depth) for part in parts]
    if steps and not (_is_id(steps[0]) or isinstance(steps[0], (As, Resolve))):
        steps.insert(0, {})
    typed: dict[str, Any] = {}
    for key in sorted(global_keys, key=_sort_key):
        only, value = _maybe_typed(key, global_keys[key], depth)
        typed[only] = value
    return _build(steps, _group_scoped(typed, len(steps), _signed_keys(singleton)))


def parse(singleton: Mapping[str, Any] | str | bytes) -> list[Step]:
    """Turn a singleton request into the messages `resolve_many` runs (`hb_singleton:from`, §7).

    Every key of the singleton other than `path` (HTTP headers, body keys, query parameters)
    goes into every map step, unless it is scoped as `N.key`; keys written inline in a
    segment win over both. Text values come back as `bytes`, keys as `str`, an ID as `str`.

    Returns:
        `[base, step1, ...]`, or `[]` for the path `/`. The base is `{}` (with the global
        keys) unless the first segment is an ID, an `As` or a `Resolve`.

    Raises:
        BadMessage: the path cannot be decoded, a part is too long, a segment is malformed,
            a typed value does not parse or names an unknown type, or a key has a bad scope.
            Nothing else escapes.
    """
    if isinstance(singleton, (str, bytes)):
        singleton = {"path": singleton}
    key = _parse_key(singleton)
    if key is None:
        return _from(singleton, 0)
    found = _PARSED.get(key)
    if found is None:
        found = tuple(_from(singleton, 0))
        _PARSED.put(key, found)
    return [_fresh(step) for step in found]


# Parsed requests by content: the server checks a request's path before it resolves it, and
# the same requests come again (`/~meta@1.0/info`, a process's `now`). Exceptions are not kept.
# A kept parse is at most about 64 KiB (the quick fingerprint's limit).
_PARSED: Memo[object, tuple[Step, ...]] = Memo(256)


def _parse_key(singleton: Mapping[str, Any]) -> object:
    """The memo key of a singleton: its exact fingerprint (the marshal form, types and key order
    included), or None for one that has none or carries private keys (the fingerprint leaves
    those out, the parse does not)."""
    if type(singleton) is not dict or any(isinstance(k, str) and is_private(k) for k in singleton):
        return None
    try:
        found = fingerprint(singleton)
    except TypeError:
        return None
    return found if isinstance(found, tuple) and found[0] == "m" else None


def _fresh(step: Any) -> Any:
    """A step the caller may change from one the memo keeps: every map and list in it copied,
    at any depth (a typed `+list`, a nested message, a `Resolve`'s steps), so no request's
    change reaches another's parse."""
    if isinstance(step, dict):
        return {k: _fresh(v) for k, v in step.items()}
    if isinstance(step, list):
        return [_fresh(v) for v in step]
    if isinstance(step, As):
        return As(step.device, _fresh(step.message))
    if isinstance(step, Resolve):
        return Resolve(_fresh(step.messages))
    return step


# --- §7.6 the inverse --------------------------------------------------------------------
def _path_text(value: Any) -> str:
    if not isinstance(value, (str, bytes)):
        raise EncodeError(f"hyperpath: a path part must be text, got {type(value).__name__}")
    return as_text(value, errors="surrogateescape")


def _sub_path(messages: list[Any]) -> bytes:
    path = to_singleton(messages).get("path")
    if not isinstance(path, bytes) or not path.startswith(b"/"):
        raise EncodeError("hyperpath: a Resolve must hold at least one path step")
    return path


def to_singleton(steps: Sequence[Step]) -> dict[str, Any]:
    """Fold a message list into one singleton (`hb_singleton:to`, §7.6).

    Paths are joined with `/`; `method` is always global; any other key held by exactly one
    step `I` becomes `I.key` (`I.key+integer` for an integer), and a key held by several
    steps stays global with the last value. A `Resolve` step becomes `(sub/path)`, a
    `Resolve` value `key+resolve`. `As(device, msg)` becomes `path~device` (an extension:
    the reference cannot write `As`). Nothing is escaped, so `parse(to_singleton(steps))`
    gives `steps` back only for lists that `parse` could have produced.

    Raises:
        EncodeError: a step or path this form cannot express.
    """
    out: dict[str, Any] = {}
    path: str | None = None
    scopes: dict[str, list[int]] = {}

    def append(part: str) -> None:
        nonlocal path
        path = f"{path or ''}/{part}"

    def fold(msg: Mapping[str, Any], index: int) -> None:
        for key, value in msg.items():
            if key == "path":
                append(_path_text(value))
            elif key == "method":
                out[key] = value
            else:
                if isinstance(value, Resolve):
                    key, value = key + "+resolve", _sub_path(value.messages)
                out[key] = value
                scopes.setdefault(key, []).append(index)

    for index, step in enumerate(steps):
        if _is_id(step):
            append(_path_text(step))
        elif isinstance(step, Resolve):
            append("(" + as_text(_sub_path(step.messages)[1:], errors="surrogateescape") + ")")
        elif isinstance(step, As):
            if not isinstance(step.device, str) or not isinstance(step.message, Mapping):
                raise EncodeError("hyperpath: only As(device name, message) can be written")
            target = _path_text(step.message.get("path", b""))
            rest = {k: v for k, v in step.message.items() if k != "path"}
            if _is_id(target) and rest:
                raise EncodeError("hyperpath: keys of an As step on an ID cannot be expressed")
            append(f"{target}~{step.device}")
            fold(rest, index)
        elif isinstance(step, Mapping):
            fold(step, index)
        else:
            raise EncodeError(f"hyperpath: cannot write a step of type {type(step).__name__}")
    for key, indexes in scopes.items():
        if len(indexes) == 1:
            value = out.pop(key)
            if isinstance(value, int) and not isinstance(value, bool):
                out[f"{indexes[0]}.{key}+integer"] = str(value).encode("ascii")
            else:
                out[f"{indexes[0]}.{key}"] = value
    if path is not None:
        out["path"] = _encode(path)
    return out

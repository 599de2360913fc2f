"""ANS-104 bundles in the two layouts found in the wild (ans104-arweave.md §9).

A bundle is the data of a transaction or of a data item::

    32        N, the number of items (256-bit integer)
    N × 64    per item: size (256-bit integer) ‖ header ID (32 bytes)
    …         the N items concatenated in header order

The layouts differ in three ways (`BundleLayout`):

=============  ==========  ===========  ==========================================
layout         integers    header IDs   extras
=============  ==========  ===========  ==========================================
``standard``   little-end  signed IDs   carrier tags ``Bundle-Format: binary``,
(§9.1)                                  ``Bundle-Version: 2.0.0``; lists only
``hb-2025-09`` big-endian  unsigned     a JSON manifest item first, always; tags
(§9.2)                     IDs          ``bundle-format``, ``bundle-version``
                                        first, ``map-format: list`` for lists,
                                        ``bundle-map: <manifest ID>`` last
=============  ==========  ===========  ==========================================

`decode_bundle` tells the layouts apart by the count field: read in the wrong
byte order a real count is absurdly large. `bundle` builds a carrier item
from a list or map of entries, as ``ar_bundles:normalize`` does (bare
binaries become items tagged ``ao-type: binary``; nested lists and maps become
nested bundles); `unbundle` reads one level back. Unbundling never verifies:
call `verify_bundle` or `DataItem.verify` for that.

Known differences from HyperBEAM-main: maps with more than 32 keys are
ordered bytewise (Erlang uses its internal hash order there, §16.3), and a
bare binary inside a list is wrapped like one inside a map (HyperBEAM-main
crashes on it).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, cast

from aonode.codecs._avro import Tag
from aonode.codecs._dataitem import DataItem, as_tags, parse_item
from aonode.crypto._b64 import b64url_decode, b64url_encode
from aonode.errors import DecodeError, EncodeError, InvalidSignature, shown

__all__ = [
    "Bundle",
    "BundleEntry",
    "BundleLayout",
    "BundleValue",
    "bundle",
    "decode_bundle",
    "encode_bundle",
    "is_bundle",
    "unbundle",
    "verify_bundle",
]


class BundleLayout(enum.Enum):
    """Which bundle layout to write or which one was read."""

    STANDARD = "standard"  # §9.1: arbundles, ANS-104, HyperBEAM after Sept 2025
    HB_2025_09 = "hb-2025-09"  # §9.2: HyperBEAM main, Sept 2025


_ORDER: dict[BundleLayout, Literal["little", "big"]] = {
    BundleLayout.STANDARD: "little",
    BundleLayout.HB_2025_09: "big",
}
_INT = 32  # bytes in a 256-bit integer
_ID = 32
_HEADER_ENTRY = _INT + _ID

# Carrier tags (§9.1, §9.2 step 5) and the manifest item (§9.2 step 3).
STANDARD_BUNDLE_TAGS: tuple[Tag, ...] = (
    (b"Bundle-Format", b"binary"),
    (b"Bundle-Version", b"2.0.0"),
)
HB_BUNDLE_TAGS: tuple[Tag, ...] = ((b"bundle-format", b"binary"), (b"bundle-version", b"2.0.0"))
HB_LIST_TAGS: tuple[Tag, ...] = ((b"map-format", b"list"),)
HB_MANIFEST_TAGS: tuple[Tag, ...] = ((b"data-protocol", b"bundle-map"), (b"variant", b"0.0.1"))
BINARY_TAGS: tuple[Tag, ...] = ((b"ao-type", b"binary"),)
_BUNDLE_MAP = b"bundle-map"

BundleValue: TypeAlias = DataItem | bytes | Mapping[str, "BundleValue"] | Sequence["BundleValue"]


@dataclass(frozen=True)
class BundleEntry:
    """One item of a bundle with the ID its header gives it."""

    id: bytes
    item: DataItem

    def __post_init__(self) -> None:
        if len(self.id) != _ID:
            raise DecodeError(f"ans104: bundle header ID must be 32 bytes, got {len(self.id)}")


@dataclass(frozen=True)
class Bundle:
    """A decoded bundle: its layout and entries. `serialize` gives the bytes back."""

    layout: BundleLayout
    entries: tuple[BundleEntry, ...]

    @property
    def items(self) -> tuple[DataItem, ...]:
        return tuple(entry.item for entry in self.entries)

    def serialize(self) -> bytes:
        """The bundle bytes in this layout."""
        return _pack(((e.id, e.item.serialize()) for e in self.entries), self.layout)


def _pack(entries: Iterable[tuple[bytes, bytes]], layout: BundleLayout) -> bytes:
    order = _ORDER[layout]
    pairs = list(entries)
    header = [len(pairs).to_bytes(_INT, order)]
    for header_id, raw in pairs:
        header.append(len(raw).to_bytes(_INT, order) + header_id)
    return b"".join(header + [raw for _, raw in pairs])


def _header_id(item: DataItem, layout: BundleLayout) -> bytes:
    # Standard bundles name items by signed ID; an unsigned item falls back to
    # its unsigned ID, as HyperBEAM after Sept 2025 does (§9.3).
    if layout is BundleLayout.STANDARD and item.is_signed:
        return item.id
    return item.unsigned_id


def encode_bundle(items: Sequence[DataItem], layout: BundleLayout = BundleLayout.STANDARD) -> bytes:
    """Pack items into bundle bytes, header IDs chosen as the layout does.

    Args:
        items: the items, in order.
        layout: `BundleLayout.STANDARD` (signed IDs, little-endian) or
            `BundleLayout.HB_2025_09` (unsigned IDs, big-endian). No manifest
            is added here; `bundle` does that.

    Returns:
        The bundle bytes.
    """
    return _pack([(_header_id(item, layout), item.serialize()) for item in items], layout)


def _plausible(data: bytes, order: Literal["little", "big"]) -> bool:
    count = int.from_bytes(data[:_INT], order)
    return _INT + count * _HEADER_ENTRY <= len(data)


def decode_bundle(data: bytes, layout: BundleLayout | None = None) -> Bundle:
    """Parse bundle bytes into entries.

    Args:
        data: the bundle (the data of a carrier item or transaction).
        layout: the layout to expect; None detects it from the count field.

    Returns:
        The bundle; `Bundle.serialize` gives `data` back.

    Raises:
        DecodeError: the header is truncated, the count fits neither layout,
            the item sizes do not add up to exactly the rest of the data, or
            an item does not parse.
    """
    buf = bytes(data)
    if len(buf) < _INT:
        raise DecodeError(f"ans104: bundle of {len(buf)} bytes is shorter than its count field")
    if layout is None:
        if _plausible(buf, "little"):
            layout = BundleLayout.STANDARD
        elif _plausible(buf, "big"):
            layout = BundleLayout.HB_2025_09
        else:
            raise DecodeError("ans104: bundle count does not fit the data in either byte order")
    order = _ORDER[layout]
    count = int.from_bytes(buf[:_INT], order)
    offset = _INT + count * _HEADER_ENTRY
    if offset > len(buf):
        raise DecodeError(
            f"ans104: bundle header of {count} entries needs {offset} bytes, has {len(buf)}"
        )
    entries: list[BundleEntry] = []
    for i in range(count):
        at = _INT + i * _HEADER_ENTRY
        size = int.from_bytes(buf[at : at + _INT], order)
        header_id = buf[at + _INT : at + _HEADER_ENTRY]
        if size > len(buf) - offset:
            raise DecodeError(
                f"ans104: bundle entry {i + 1} declares {size} bytes at offset {offset}, "
                f"{len(buf) - offset} left"
            )
        try:
            item = parse_item(buf[offset : offset + size])
        except DecodeError as exc:
            raise DecodeError(f"ans104: bundle entry {i + 1}: {exc.message}") from exc
        entries.append(BundleEntry(header_id, item))
        offset += size
    if offset != len(buf):
        raise DecodeError(f"ans104: bundle has {len(buf) - offset} bytes after its last item")
    return Bundle(layout, tuple(entries))


def verify_bundle(data: bytes, layout: BundleLayout | None = None) -> None:
    """Verify every item of a bundle and the ID its header gives it.

    Raises:
        DecodeError: the bundle does not parse.
        InvalidSignature: an item does not verify, or its header ID is not the
            one its layout prescribes.
    """
    parsed = decode_bundle(data, layout)
    for entry in parsed.entries:
        entry.item.verify()
        if entry.id != _header_id(entry.item, parsed.layout):
            raise InvalidSignature()


# -- carrier items (§9.2 normalize / maybe_unbundle) --------------------------


def _erlang_subtract(tags: Sequence[Tag], remove: Sequence[Tag]) -> list[Tag]:
    """Erlang's ``Tags -- Remove``: drop the first occurrence of each element."""
    out = list(tags)
    for tag in remove:
        if tag in out:
            out.remove(tag)
    return out


def _child(value: BundleValue, layout: BundleLayout) -> DataItem:
    if isinstance(value, DataItem):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return DataItem(tags=BINARY_TAGS, data=bytes(value))
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str):
        nested = cast("Mapping[str, BundleValue] | Sequence[BundleValue]", value)
        return bundle(nested, layout=layout)
    raise TypeError(f"bundle entries must be DataItem, bytes, a list or a map, got {type(value)}")


def _manifest_json(index: Mapping[str, str]) -> bytes:
    # OTP 27 json:encode: compact; keys in Erlang map order, bytewise for <= 32 keys.
    ordered = {k: index[k] for k in sorted(index, key=lambda k: k.encode("utf-8"))}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def bundle(
    entries: Mapping[str, BundleValue] | Sequence[BundleValue],
    *,
    layout: BundleLayout = BundleLayout.HB_2025_09,
    tags: Sequence[tuple[str | bytes, str | bytes]] = (),
    target: bytes = b"",
    anchor: bytes = b"",
) -> DataItem:
    """Build an unsigned carrier item whose data is a bundle of `entries`.

    Args:
        entries: a list, or (HB layout only) a map from key to entry. An entry
            is a `DataItem`, bare bytes (wrapped in an item tagged
            ``ao-type: binary``) or a nested list or map (a nested bundle).
        layout: `BundleLayout.HB_2025_09` writes exactly what HyperBEAM-main's
            ``ar_bundles:normalize`` writes (§9.2); `BundleLayout.STANDARD`
            writes an arbundles-style nested bundle (§9.1).
        tags: the carrier's own tags; bundle tags are added as the layout does.
        target: the carrier's target (32 bytes or empty).
        anchor: the carrier's anchor (32 bytes or empty).

    Returns:
        An unsigned item (zero owner and signature); sign it with `DataItem.sign`.

    Raises:
        EncodeError: a map was given for the standard layout.
        TypeError: an entry of another type.
    """
    tag_list = list(as_tags(tags))
    if layout is BundleLayout.STANDARD:
        if isinstance(entries, Mapping):
            raise EncodeError("ans104: the standard bundle layout holds lists, not maps")
        items = [_child(value, layout) for value in entries]
        data = encode_bundle(items, layout)
        new_tags = list(STANDARD_BUNDLE_TAGS) + _erlang_subtract(tag_list, STANDARD_BUNDLE_TAGS)
        return DataItem(target=target, anchor=anchor, tags=tuple(new_tags), data=data)
    base = list(HB_BUNDLE_TAGS) + _erlang_subtract(tag_list, HB_BUNDLE_TAGS)
    if isinstance(entries, Mapping):
        keyed = {str(k): v for k, v in entries.items()}
    else:
        keyed = {str(i): v for i, v in enumerate(entries, 1)}
        base += HB_LIST_TAGS
    children = {key: _child(value, layout) for key, value in keyed.items()}
    manifest = DataItem(
        tags=HB_MANIFEST_TAGS,
        data=_manifest_json({k: b64url_encode(c.unsigned_id) for k, c in children.items()}),
    )
    ordered = [manifest] + [children[k] for k in sorted(children, key=lambda k: k.encode())]
    data = encode_bundle(ordered, layout)
    final_tags = [t for t in base if t[0] != _BUNDLE_MAP]
    final_tags.append((_BUNDLE_MAP, b64url_encode(manifest.unsigned_id).encode("ascii")))
    return DataItem(target=target, anchor=anchor, tags=tuple(final_tags), data=data)


def _first(item: DataItem, name: bytes, exact: bool) -> bytes | None:
    wanted = name if exact else name.lower()
    for tag_name, value in item.tags:
        if (tag_name if exact else tag_name.lower()) == wanted:
            return value
    return None


def is_bundle(item: DataItem, *, exact_tags: bool = False) -> bool:
    """True when the item's tags mark its data as a bundle.

    Args:
        item: the carrier.
        exact_tags: HyperBEAM-main's rule: the first tags named exactly
            ``bundle-format`` and ``bundle-version`` say ``binary`` and
            ``2.0.0``. Otherwise names match case-insensitively (arbundles,
            HyperBEAM after Sept 2025).
    """
    return (
        _first(item, b"bundle-format", exact_tags) == b"binary"
        and _first(item, b"bundle-version", exact_tags) == b"2.0.0"
    )


def unbundle(
    item: DataItem, *, exact_tags: bool = False
) -> dict[str, DataItem] | list[DataItem] | None:
    """Read one level of a bundle carried by `item` (§9.2 ``maybe_unbundle``).

    Args:
        item: the carrier.
        exact_tags: see `is_bundle`.

    Returns:
        None when the item is not a bundle (or its data is empty); a map from
        manifest key to item when it has a ``bundle-map`` tag (HyperBEAM lists
        come back keyed ``"1"``..``"n"``, as in HyperBEAM-main); otherwise the
        list of items in header order.

    Raises:
        DecodeError: the bundle or its manifest is malformed, or the manifest
            names an item the bundle does not hold.
    """
    if not is_bundle(item, exact_tags=exact_tags) or not item.data:
        return None
    parsed = decode_bundle(item.data)
    manifest_ref = _first(item, _BUNDLE_MAP, exact_tags)
    if manifest_ref is None:
        return list(parsed.items)
    by_unsigned: dict[bytes, DataItem] = {}
    for entry in parsed.entries:
        by_unsigned.setdefault(entry.item.unsigned_id, entry.item)

    def find(ref: str | bytes) -> DataItem:
        try:
            native = b64url_decode(ref)
        except DecodeError as exc:
            raise DecodeError(f"ans104: bundle manifest has a bad ID '{shown(ref)}'") from exc
        found = by_unsigned.get(native)
        if found is None:
            raise DecodeError(f"ans104: bundle holds no item with unsigned ID '{shown(ref)}'")
        return found

    manifest_item = find(manifest_ref)
    try:
        index = json.loads(manifest_item.data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError("ans104: bundle manifest is not JSON") from exc
    if not isinstance(index, dict) or not all(isinstance(v, str) for v in index.values()):
        raise DecodeError("ans104: bundle manifest is not a JSON object of IDs")
    return {key: find(ref) for key, ref in index.items()}

"""Codecs (`structured@1.0`, `httpsig@1.0`, `flat@1.0`, `json@1.0`, `ans104@1.0`) and the message
operations built on them: IDs, hashpaths, commit and verify."""

from aonode.codecs import ans104, flat, httpsig, json, structured
from aonode.codecs._bundle import BundleLayout, bundle, decode_bundle, encode_bundle, unbundle, verify_bundle
from aonode.codecs._commitments import (
    VERIFIERS,
    Commitments,
    commit,
    commit_as,
    commit_with_tabm,
    committed_keys,
    parse_commitments,
    signers,
    verify,
    verify_tree,
    with_only_committed,
    without_false_commitments,
)
from aonode.codecs._convert import CODEC_TABLE, CODECS, Codec, decode, encode
from aonode.codecs._dataitem import DataItem, parse_item
from aonode.codecs._ids import fingerprint, hashpath, message_id, remember_id, select_commitments, to_tabm
from aonode.codecs._spring2025 import carries_own_commitments

__all__ = [
    "BundleLayout",
    "CODECS",
    "CODEC_TABLE",
    "Codec",
    "DataItem",
    "ans104",
    "bundle",
    "carries_own_commitments",
    "decode_bundle",
    "encode_bundle",
    "parse_item",
    "unbundle",
    "verify_bundle",
    "VERIFIERS",
    "Commitments",
    "commit",
    "commit_as",
    "commit_with_tabm",
    "committed_keys",
    "decode",
    "encode",
    "fingerprint",
    "flat",
    "hashpath",
    "httpsig",
    "json",
    "message_id",
    "parse_commitments",
    "remember_id",
    "select_commitments",
    "signers",
    "structured",
    "to_tabm",
    "verify",
    "verify_tree",
    "with_only_committed",
    "without_false_commitments",
]

"""`aonode.store.__all__` names exactly its public names (as tests/test_exports.py checks for the
other packages); `aonode.store.cache.__all__` names every function and class it defines."""

from __future__ import annotations

import inspect

from aonode import store
from aonode.store import cache


def test_package_all_is_complete() -> None:
    public = {n for n in vars(store) if not n.startswith("_") and n != "annotations"}
    exported = set(store.__all__)
    assert all(hasattr(store, n) for n in exported)
    submodules = {n for n in public if inspect.ismodule(getattr(store, n)) and n not in exported}
    assert public - submodules == exported


def test_cache_all_is_complete() -> None:
    defined = {n for n, v in vars(cache).items()
               if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v))
               and v.__module__ == cache.__name__}
    assert defined == set(cache.__all__)

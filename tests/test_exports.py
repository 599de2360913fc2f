"""Each package's `__all__` names exactly its public names, and each resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "aonode.message", "aonode.crypto", "aonode.codecs", "aonode.errors",
    "aonode.core", "aonode.store", "aonode.http",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n in vars(module) if not n.startswith("_") and not n.startswith("annotations")}
    public -= {"annotations"}
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported)
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module" and n not in exported}
    assert public - submodules - {"HTTPStatus"} == exported

"""The layering of DESIGN.md holds: the HTTP server knows no device, no device imports the
server, and the layers below the devices import neither.

Every module under `aonode/` is parsed (not imported) and every import statement in it is
checked, at module level and inside functions alike, relative imports resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aonode"

# (packages whose modules are checked, packages they must not import, why).
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (("aonode.http",), ("aonode.devices",), "the HTTP layer knows nothing about any particular device"),
    (("aonode.devices",), ("aonode.http",), "devices never import the ASGI server (the client is aonode.net)"),
    (("aonode.core", "aonode.store", "aonode.codecs", "aonode.message", "aonode.crypto", "aonode.net"),
     ("aonode.devices", "aonode.http"), "the layers below the devices import neither devices nor the server"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement names (`from a import b` names `a` and
    `a.b`, since `b` may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def imports() -> Iterator[tuple[str, str, str, int, str]]:
    """(module, imported name, file, line, source line) for every import under `aonode/`."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                file = str(path.relative_to(PACKAGE.parent))
                for name in _imported(node, module, path.name == "__init__.py"):
                    yield module, name, file, node.lineno, lines[node.lineno - 1].strip()


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


ALL_IMPORTS = list(imports())


def test_the_parser_sees_imports() -> None:
    """The check is not vacuous: it finds known imports, function-level ones included."""
    found = {(module, name) for module, name, *_ in ALL_IMPORTS}
    assert ("aonode.http.server", "aonode.core.node") in found
    assert ("aonode.devices.router", "aonode.net.client") in found
    assert ("aonode.store._remote_node", "aonode.net.client") in found  # inside a function


@pytest.mark.parametrize(("checked", "forbidden", "why"), RULES, ids=[r[0][0] for r in RULES])
def test_layer(checked: tuple[str, ...], forbidden: tuple[str, ...], why: str) -> None:
    offending = sorted({f"{file}:{line}: {text}" for module, name, file, line, text in ALL_IMPORTS
                        if _within(module, checked) and _within(name, forbidden)})
    assert not offending, f"{why}; these imports break it:\n" + "\n".join(offending)

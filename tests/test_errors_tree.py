"""The exception tree drawn in `aonode.errors`' docstring is the package's real tree.

Imports every module under `aonode`, finds every exception class defined there, and checks
that each public one derives from `AOError` and has its line in the tree: under its real
parent, with its defining module and its default status. Private classes (`_Name`) are
internal control flow and are exempt.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import aonode
import aonode.errors
from aonode.errors import AOError

_LINE = re.compile(r"^    (?P<branch>(?:[│ ]   )*(?:[├└]── )?)"
                   r"(?P<name>\w+) \((?P<status>\d{3})\)\s+(?P<module>aonode[\w.]*)")


def _drawn() -> dict[str, tuple[str, int, str | None]]:
    """name -> (module, status, parent name) from the docstring's tree."""
    out: dict[str, tuple[str, int, str | None]] = {}
    stack: list[str] = []
    for line in (aonode.errors.__doc__ or "").splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        depth = len(found["branch"]) // 4
        del stack[depth:]
        assert found["name"] not in out, f"{found['name']} is drawn twice"
        out[found["name"]] = (found["module"], int(found["status"]), stack[-1] if stack else None)
        stack.append(found["name"])
    return out


def _defined() -> list[type[BaseException]]:
    """Every exception class defined in a module of the package."""
    classes: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(aonode.__path__, "aonode."):
        module = importlib.import_module(info.name)
        classes += [obj for obj in vars(module).values()
                    if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name]
    return classes


DRAWN = _drawn()
PUBLIC = [cls for cls in _defined() if not cls.__name__.startswith("_")]


def test_the_tree_parses_and_is_rooted_at_aoerror() -> None:
    assert DRAWN["AOError"] == ("aonode.errors", 500, None)
    assert len(DRAWN) > 40


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_each_public_exception_is_in_the_tree(cls: type[BaseException]) -> None:
    assert issubclass(cls, AOError), f"{cls.__module__}.{cls.__name__} does not derive from aonode.errors.AOError"
    assert cls.__name__ in DRAWN, f"{cls.__name__} ({cls.__module__}) is missing from aonode.errors' docstring"
    module, status, parent = DRAWN[cls.__name__]
    assert (module, status) == (cls.__module__, cls.status)
    if cls is not AOError:
        real_parent = next(base for base in cls.__bases__ if issubclass(base, AOError))
        assert parent == real_parent.__name__


def test_every_drawn_class_exists() -> None:
    names = {cls.__name__ for cls in PUBLIC}
    assert set(DRAWN) - names == set()

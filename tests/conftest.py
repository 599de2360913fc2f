"""The suite's collection order: tests marked `long` first (stable otherwise), so that
`make test`'s two workers (`--dist loadfile`, modules handed out in collection order) start
them at once and run everything else beside them, rather than ending with one worker running
them alone."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("long") is None)

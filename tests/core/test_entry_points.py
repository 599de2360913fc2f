"""A device from a separately installed package is resolved by name through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aonode.core import resolve
from aonode.core.devices import DeviceNotLoadable

PACKAGE = Path(__file__).parent / "example_device"

PROGRAM = """
from aonode.core import resolve
result = resolve({"device": b"greeter@1.0"}, {"path": "greet", "name": b"aonode"})
print(result.status, result.value.decode())
"""


def test_third_party_device_resolves_by_name(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        check=True,
        cwd=tmp_path,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "ok Hello, aonode!"


def test_unknown_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceNotLoadable, match="no-such-device@1.0"):
        resolve({"device": b"no-such-device@1.0"}, "anything")

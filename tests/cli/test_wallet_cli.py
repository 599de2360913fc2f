"""`aonode wallet new|address`, run as a user would: the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from oracle import FIXTURES

from aonode.crypto import Wallet


def _aonode(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("aonode") or str(Path(sys.executable).parent / "aonode")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_new_then_address(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    made = _aonode("wallet", "new", str(path))
    assert made.returncode == 0, made.stderr
    address = made.stdout.strip()
    assert len(address) == 43
    assert json.loads(path.read_text())["kty"] == "RSA"
    assert path.stat().st_mode & 0o077 == 0
    shown = _aonode("wallet", "address", str(path))
    assert shown.returncode == 0 and shown.stdout.strip() == address
    assert Wallet.load(path).address == address
    assert Wallet.load(path).key.key_size == 4096


def test_address_of_reference_wallet() -> None:
    if not (FIXTURES / "key-2.json").exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    shown = _aonode("wallet", "address", str(FIXTURES / "key-2.json"))
    assert shown.stdout.strip() == "J-j0jyZ1YWhMBXtJMWHz-dl-mDcksoJSQo_Fq5loHUs"


def test_errors_are_clear(tmp_path: Path) -> None:
    existing = tmp_path / "w.json"
    existing.write_text("{}")
    refused = _aonode("wallet", "new", str(existing))
    assert refused.returncode != 0 and "refusing to overwrite" in refused.stderr
    bad = _aonode("wallet", "address", str(existing))
    assert bad.returncode != 0 and "kty" in bad.stderr
    missing = _aonode("wallet", "address", str(tmp_path / "nope.json"))
    assert missing.returncode != 0 and "cannot read" in missing.stderr
    notjson = tmp_path / "x.json"
    notjson.write_text("not json")
    assert "not JSON" in _aonode("wallet", "address", str(notjson)).stderr

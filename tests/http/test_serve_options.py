"""How `aonode serve` layers its options: defaults < environment < config file < flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aonode.cli import _node_options, main
from aonode.core import options


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in options.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no config.flat from the working tree


def test_defaults() -> None:
    opts = _node_options(None, None, None, None)
    assert options.get(opts, "port") == 8734
    assert options.get(opts, "host") == "localhost"
    assert options.get(opts, "data_dir") == "aonode-data"
    store = options.get(opts, "store")
    assert store[0] == {"store-module": "lmdb", "name": "aonode-data/lmdb"}
    assert [s["store-module"] for s in store[1:]] == ["gateway", "gateway"]  # the reference's chain


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "node.flat"
    config.write_text("port: 9001\nhost: 0.0.0.0\ntest_item: from-file\n")
    monkeypatch.setenv("HB_PORT", "9000")
    monkeypatch.setenv("AONODE_DATA_DIR", "env-data")
    opts = _node_options(None, None, None, config)
    got = (opts["port"], opts["host"], opts["data_dir"], opts["test_item"])
    assert got == (9001, "0.0.0.0", "env-data", "from-file")
    opts = _node_options(9002, "127.0.0.1", tmp_path / "flag-data", config)
    assert (opts["port"], opts["host"], opts["data_dir"]) == (9002, "127.0.0.1", str(tmp_path / "flag-data"))


def test_config_location_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.flat").write_text("port: 9100\n")
    assert _node_options(None, None, None, None)["port"] == 9100  # the default location, when present
    monkeypatch.setenv("HB_CONFIG", str(tmp_path / "other.json"))
    (tmp_path / "other.json").write_text('{"port": 9200}')
    assert _node_options(None, None, None, None)["port"] == 9200
    monkeypatch.setenv("HB_CONFIG", str(tmp_path / "missing.flat"))
    with pytest.raises(options.ConfigError, match="no such file"):
        _node_options(None, None, None, None)


def test_serve_is_a_command() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["serve", "--help"])
    assert out.exit_code == 0
    for flag in ("--port", "--host", "--data-dir", "--config", "--wallet"):
        assert flag in out.output
    out = runner.invoke(main, ["serve", "--config", "does-not-exist.flat"])
    assert out.exit_code != 0
    assert "no such file" in out.output

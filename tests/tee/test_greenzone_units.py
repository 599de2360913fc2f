"""greenzone@1.0 without nodes: the joiner's required config and node history, and the zone
state written to and read back from the data directory."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from aonode.crypto import Wallet
from aonode.devices import greenzone
from aonode.errors import Forbidden


def test_the_required_config_and_the_history_that_contradicts_it() -> None:
    required = {"scheduling_mode": "disabled", "initialized": "permanent"}
    greenzone._check_required({"scheduling_mode": "disabled", "initialized": "permanent", "port": 1}, required)
    greenzone._check_required({"port": 1}, {})  # nothing required
    with pytest.raises(Forbidden, match="scheduling_mode is not the zone's required value"):
        greenzone._check_required({"initialized": "permanent"}, required)
    with pytest.raises(Forbidden, match="node history changed scheduling_mode"):
        greenzone._check_required({**required, "node_history": [{"scheduling_mode": "aggressive"}]}, required)
    greenzone._check_required({**required, "node_history": [{"port": 2}, {"scheduling_mode": "disabled"}]}, required)
    with pytest.raises(Forbidden, match="no signed node-message"):
        greenzone._check_required(None, required)


def test_zone_state_round_trips_through_the_data_directory(tmp_path: Path) -> None:
    own, zone_identity = Wallet.generate(2048), Wallet.generate(2048)  # small keys: loading checks them
    key = bytes(range(32))
    node = {
        "data_dir": str(tmp_path), "priv_wallet": zone_identity, "operator": own.address,
        "priv_green_zone_aes": key, "green_zone_initialized": True,
        "green_zone_required_opts": {"scheduling_mode": "disabled"},
        "trusted_nodes": {"addr": {"report": "{}", "public_key": "pk"}},
        "identities": {"green-zone": {"priv_wallet": zone_identity}, "node": {"priv_wallet": own}},
    }
    greenzone._save(node)
    saved = tmp_path / "greenzone.json"
    assert saved.stat().st_mode & 0o077 == 0
    assert base64.b64encode(key).decode() in saved.read_text()
    fresh = greenzone._restored({"data_dir": str(tmp_path), "priv_wallet": own})
    assert fresh["priv_green_zone_aes"] == key and fresh["green_zone_initialized"] is True
    assert fresh["trusted_nodes"] == node["trusted_nodes"]
    assert fresh["green_zone_required_opts"] == {"scheduling_mode": "disabled"}
    assert fresh["priv_wallet"].address == zone_identity.address  # signs as the zone
    assert fresh["operator"] == own.address  # still operated by its own key
    assert fresh["identities"]["node"]["priv_wallet"].address == own.address
    empty = greenzone._restored({"data_dir": str(tmp_path / "none")})
    assert "priv_green_zone_aes" not in empty

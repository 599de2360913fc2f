"""A run-time option change reaches every worker of a node (`aonode serve --workers 2`): the
operator's `POST /~meta@1.0/info` lands in one worker, and each request to either worker then
sees it, with the same `node_history`. A restart starts from the configuration again."""

from __future__ import annotations

from pathlib import Path

import httpx
from aonode_process import post, running, signed, verified

from aonode.crypto import Wallet

ASKS = 24  # new connections: the kernel spreads them over both workers


def _info(url: str) -> dict:
    # A fresh connection each time, so both workers answer some of them.
    with httpx.Client(base_url=url, timeout=30) as fresh:
        response = fresh.get("/~meta@1.0/info", headers={"accept-bundle": "true"})
        assert response.status_code == 200
        return verified(response)


def _note(info: dict) -> bytes:
    return bytes(info["shared_note"])


def test_a_change_reaches_every_worker(tmp_path: Path) -> None:
    owner = Wallet.generate()
    config = f"operator: {owner.address}\nshared_note: before\n"
    with running(tmp_path / "node", config=config, extra=["--workers", "2"]) as node:
        with httpx.Client(base_url=node.url, timeout=30) as client:
            answer = post(client, signed({"path": "/~meta@1.0/info", "shared-note": "after"}, owner))
            assert answer.status_code == 200, answer.text
        seen = [_info(node.url) for _ in range(ASKS)]
        assert {_note(s) for s in seen} == {b"after"}
        assert {len(s["node_history"]) for s in seen} == {1}
    with running(tmp_path / "node", config=config, extra=["--workers", "2"],
                 data_dir=tmp_path / "node" / "data") as again:
        assert _note(_info(again.url)) == b"before"


def test_a_replayed_change_is_refused_by_every_worker(tmp_path: Path) -> None:
    owner = Wallet.generate()
    with running(tmp_path / "node", config=f"operator: {owner.address}\n",
                 extra=["--workers", "2"]) as node:
        change = signed({"path": "/~meta@1.0/info", "shared-note": "once"}, owner)
        statuses = []
        for _ in range(8):
            with httpx.Client(base_url=node.url, timeout=30) as fresh:
                statuses.append(post(fresh, change).status_code)
        assert statuses[0] == 200 and set(statuses[1:]) == {409}
        assert {len(_info(node.url)["node_history"]) for _ in range(ASKS)} == {1}

"""`aonode serve` across restarts: the wallet is created once and reused, signed messages
stored in the LMDB data directory are still there, and SIGTERM / SIGINT stop it cleanly."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
from aonode_process import post, result, signed, start, stop, verified

from aonode.codecs import message_id, signers
from aonode.crypto import Wallet


def test_wallet_and_data_survive_a_restart(tmp_path: Path) -> None:
    first = start(tmp_path)
    wallet_file = first.data_dir / "wallet.json"
    assert wallet_file.exists()
    assert wallet_file.stat().st_mode & 0o777 == 0o600
    address = Wallet.load(wallet_file).address
    assert "created a new wallet" in first.log_text()
    assert (first.data_dir / "lmdb").is_dir()

    msg = signed({"path": "/greeting", "greeting": "hello again", "nonce": uuid.uuid4().hex}, Wallet.generate())
    with httpx.Client(base_url=first.url, timeout=30) as client:
        assert result(post(client, msg)) == b"hello again"
        assert signers(verified(client.get("/~meta@1.0/info"))) == [address]
    assert stop(first, signal.SIGTERM) == 0
    assert "aonode stopped" in first.log_text()

    second = start(tmp_path, port=None)
    try:
        assert "created a new wallet" not in second.log_text()
        with httpx.Client(base_url=second.url, timeout=30) as client:
            reply = verified(client.get("/~meta@1.0/info"))
            assert reply["address"] == address.encode()
            assert signers(reply) == [address]
            response = client.get(f"/{message_id(msg, committers='all')}/greeting")
            assert (response.status_code, result(response)) == (200, b"hello again")
    finally:
        assert stop(second, signal.SIGINT) == 0


def test_wallet_flag_and_environment(tmp_path: Path) -> None:
    wallet = Wallet.generate()
    path = tmp_path / "keys" / "operator.json"
    path.parent.mkdir()
    wallet.save(path)
    node = start(tmp_path / "run", extra=["--wallet", str(path)])
    try:
        with httpx.Client(base_url=node.url, timeout=30) as client:
            assert verified(client.get("/~meta@1.0/info"))["address"] == wallet.address.encode()
        assert not (node.data_dir / "wallet.json").exists()
    finally:
        stop(node)


def test_bad_config_stops_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "bad.flat").write_text("port: eighty\n")
    try:
        start(tmp_path, extra=["--config", str(tmp_path / "bad.flat")])
    except RuntimeError as exc:
        assert "key 'port'" in str(exc)
    else:
        raise AssertionError("the node started with a bad config file")


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    import threading
    import time

    node = start(tmp_path)
    answers: list[httpx.Response] = []

    def slow() -> None:
        with httpx.Client(base_url=node.url, timeout=30) as client:
            answers.append(client.get("/~test-device@1.0/delay?duration=1500&return=done"))

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)  # the request is being resolved now
    assert stop(node, signal.SIGTERM) == 0
    worker.join(timeout=30)
    assert len(answers) == 1
    assert (answers[0].status_code, result(answers[0])) == (200, b"done")
    assert "aonode stopped" in node.log_text()

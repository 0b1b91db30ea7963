"""``get_service`` caches one service per thread (one per warm instance in the local gateway)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from websocket_service import service as service_module
from websocket_service.config import ENV_DATABASE_URL


def test_each_thread_has_its_own_service_and_reset_closes_them_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, f"sqlite:///{tmp_path / 'threads.db'}")
    service_module.reset_service()
    try:
        mine = service_module.get_service()
        assert service_module.get_service() is mine  # cached within a thread
        other: list[object] = []
        worker = threading.Thread(target=lambda: other.append(service_module.get_service()))
        worker.start()
        worker.join()
        assert other[0] is not mine and other[0].store is not mine.store  # its own store connection
        service_module.reset_service()
        assert service_module.get_service() is not mine  # rebuilt after a reset
    finally:
        service_module.reset_service()

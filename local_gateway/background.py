"""Run a :class:`~local_gateway.server.LocalGateway` on its own event loop in a background thread.

For tests, benchmarks and tools that want a gateway next to synchronous code::

    with BackgroundGateway(LocalGateway(port=0)) as gateway:
        print(gateway.url)
"""
from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from .server import GatewayError, LocalGateway

START_TIMEOUT_S = 30.0


class BackgroundGateway:
    """Context manager: start the gateway in a daemon thread, stop it (and join) on exit."""

    def __init__(self, gateway: LocalGateway) -> None:
        self.gateway = gateway
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="local-gateway", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.gateway.start()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.gateway.stop()

    def __enter__(self) -> LocalGateway:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise GatewayError(f"the gateway did not start within {START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            raise self._error
        return self.gateway

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

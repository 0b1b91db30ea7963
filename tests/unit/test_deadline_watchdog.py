"""The store's deadline watchdog: one thread ends every overdue wait by shutting its socket down."""
from __future__ import annotations

import socket

from websocket_service.store.postgres import DeadlineWatchdog


def test_overdue_sockets_are_shut_down_and_disarmed_ones_are_left_alone():
    watchdog = DeadlineWatchdog()
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        late = watchdog.arm(pairs[0][0].fileno(), 0.2)
        soon = watchdog.arm(pairs[1][0].fileno(), 0.05)  # earlier than the one the thread waits for
        spared = watchdog.arm(pairs[2][0].fileno(), 0.1)
        watchdog.disarm(spared)  # its wait ended in time
        for sock, _ in pairs[:2]:
            sock.settimeout(30)  # only a safety net: the watchdog ends these waits
            assert sock.recv(1) == b""  # shut down: the blocked read returns at once with EOF
        assert (late.fired, soon.fired, spared.fired) == (True, True, False)
        pairs[2][1].send(b"x")
        assert pairs[2][0].recv(1) == b"x"  # still a working socket
    finally:
        for a, b in pairs:
            a.close()
            b.close()

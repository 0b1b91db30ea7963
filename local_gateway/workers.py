"""The gateway's cheap per-call machinery: handler threads and fixed-length timeouts.

Every ``$connect``, message and ``$disconnect`` calls the synchronous handler in a worker thread
and bounds it by the integration timeout. ``asyncio.wait_for(asyncio.to_thread(...))`` does that
with a task, two futures, a ``concurrent.futures.Future`` (a lock and a condition) and a timer per
call. :class:`HandlerThreads` hands a call to a thread through one queue put, and outcomes come
back through a queue the loop reads after one wake-up per burst; :class:`FixedTimeouts` serves every timeout of one length with a
single loop timer (a timeout started later expires later, so a FIFO queue is in deadline order).
Each open connection's idle and duration limits likewise share one timer
(:class:`MovingDeadlines`) instead of a watchdog task sleeping per connection.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import heapq
import itertools
import math
import os
import queue
import threading
from typing import Any, Callable

DEFAULT_MAX_WORKERS = min(32, (os.cpu_count() or 1) + 4)
"""As many threads as asyncio's default executor (``asyncio.to_thread``) would use."""


class HandlerThreads:
    """Runs synchronous calls for one event loop in up to ``max_workers`` daemon threads.

    :meth:`call` returns a loop future at once; the call runs in a copy of the caller's context
    (as with ``asyncio.to_thread``). Threads start as they are needed. Outcomes come back through
    one queue: a thread wakes the loop only when the loop has not yet been woken for outcomes it
    has not read, so a burst of calls ending together costs one wake-up. A call still running
    when its future is cancelled or timed out runs to its end and its outcome is dropped.
    :meth:`shutdown` lets the threads end once the calls already queued are done.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_workers: int = DEFAULT_MAX_WORKERS,
                 name: str = "local-gateway-handler") -> None:
        self.max_workers = max_workers
        self._loop = loop
        self._name = name
        self._calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._outcomes: collections.deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = collections.deque()
        self._woken = False
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []

    def call(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``function(*args)`` for a thread; its result (or exception) comes back in the future."""
        future = self._loop.create_future()
        self._calls.put((future, contextvars.copy_context(), function, args))
        if not self._idle.acquire(blocking=False) and len(self._threads) < self.max_workers:
            thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return future

    def shutdown(self) -> None:
        """Let every thread end after the calls queued so far (returns at once)."""
        for _ in self._threads:
            self._calls.put(None)
        self._threads = []

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            future, context, function, args = item
            del item
            try:
                outcome = (future, context.run(function, *args), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                outcome = (future, None, exc)
            self._outcomes.append(outcome)
            if not self._woken:  # else the loop has a _deliver pending that will read this outcome
                self._woken = True
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop is closed: nobody waits for these outcomes
                    pass
            del future, context, function, args, outcome
            self._idle.release()

    def _deliver(self) -> None:
        self._woken = False  # before reading: an outcome appended from now on wakes the loop again
        outcomes = self._outcomes
        while outcomes:
            future, result, error = outcomes.popleft()
            if future.done():  # cancelled, or timed out, while the thread ran
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


class FixedTimeouts:
    """Timeouts of one length ``seconds`` on one event loop, all served by a single timer.

    :meth:`add` schedules ``expire(subject)`` ``seconds`` from now; ``expire`` must do nothing
    when the subject no longer needs it (finished in time), since nothing is unscheduled.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: collections.deque[tuple[float, Callable[[Any], None], Any]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, loop: asyncio.AbstractEventLoop, expire: Callable[[Any], None], subject: Any) -> None:
        """Call ``expire(subject)`` on ``loop`` once ``seconds`` have passed."""
        deadline = loop.time() + self.seconds
        self._queue.append((deadline, expire, subject))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        pending = self._queue
        now = loop.time()
        while pending and pending[0][0] <= now:
            _, expire, subject = pending.popleft()
            expire(subject)
        if pending:
            self._timer = loop.call_at(pending[0][0], self._fire, loop)

    def cancel(self) -> None:
        """Drop every scheduled timeout (the loop is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()


def time_out(future: asyncio.Future[Any]) -> None:
    """An ``expire`` for :class:`FixedTimeouts`: fail ``future`` with TimeoutError unless it is done."""
    if not future.done():
        future.set_exception(TimeoutError())


class MovingDeadlines:
    """Deadlines that move (an idle timer restarts with every message), all served by one loop timer.

    At a subject's deadline ``check(subject, now)`` is called; it returns the subject's next
    deadline (later than ``now``: it moved) or None (done with it). :meth:`discard` forgets a
    subject before its deadline. A heap keeps the entries; one timer is armed for the earliest.
    """

    def __init__(self, check: Callable[[Any, float], float | None]) -> None:
        self._check = check
        self._heap: list[list[Any]] = []
        self._count = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def add(self, loop: asyncio.AbstractEventLoop, at: float, subject: Any) -> list[Any]:
        """Check ``subject`` at loop time ``at``; returns the entry to pass to :meth:`discard`."""
        entry = [at, next(self._count), subject]
        heapq.heappush(self._heap, entry)
        if at < self._timer_at:
            self._arm(loop)
        return entry

    @staticmethod
    def discard(entry: list[Any]) -> None:
        """Forget the subject of ``entry`` (its slot leaves the heap at its deadline, holding nothing)."""
        entry[2] = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        if self._heap:
            self._timer_at = self._heap[0][0]
            self._timer = loop.call_at(self._timer_at, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        heap = self._heap
        now = loop.time()
        while heap and heap[0][0] <= now:
            entry = heap[0]
            at = None if entry[2] is None else self._check(entry[2], now)
            if at is None:
                heapq.heappop(heap)
            else:
                entry[0] = at
                heapq.heapreplace(heap, entry)
        self._arm(loop)

    def cancel(self) -> None:
        """Drop every deadline (the loop is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self._heap.clear()

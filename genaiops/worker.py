"""The one background worker: a bounded queue and one daemon thread, so slow work never slows a request.

The request logs (``genaiops.db.BatchWriter``), the shadow challenger (``classic_ml.shadow``) and the MLflow
tracer (``rag.tracing``) all hand their work to a ``QueueWorker``. ``submit`` returns at once (or waits
at most ``timeout_s``) and says False when the queue stays full; the caller decides what a drop means.
Items are handled in order, in batches of up to ``batch_size`` (by ``weight``) or what arrived within
``batch_interval_s``; ``flush`` waits until everything queued before it is handled, ``close`` handles
what is queued and stops. A ``handle`` that raises is logged; the worker goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


def _one(_item: object) -> int:
    return 1


class QueueWorker(Generic[T]):
    """Bounded queue + one thread calling ``handle(batch)``; see the module docstring."""

    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], None],
        *,
        queue_size: int,
        batch_size: int = 1,
        batch_interval_s: float = 0.2,
        weight: Callable[[T], int] = _one,
    ) -> None:
        self.name = name
        self._handle = handle
        self.batch_size, self.batch_interval_s, self._weight = batch_size, batch_interval_s, weight
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queue_size(self) -> int:
        return self._queue.maxsize

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, item: T, timeout_s: float = 0.0) -> bool:
        """Queue ``item``; False when closed or when the queue stayed full for ``timeout_s`` (0: no wait)."""
        if self._closed:
            return False
        try:
            if timeout_s > 0:
                self._queue.put(item, timeout=timeout_s)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the items queued before this call are handled (False on timeout or when closed)."""
        if self._closed or not self._thread.is_alive():
            return False
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> bool:
        """Handle what is queued, then stop; False when the thread was still busy after ``timeout_s``."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                log.error("%s: queue still full after %.0f s; stopping without it", self.name, timeout_s)
                return False
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        pending: list[T] = []
        weight = 0
        deadline: float | None = None  # when the oldest pending item must be handled
        while True:
            wait = self.batch_interval_s if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP or isinstance(item, threading.Event):
                self._run_handle(pending)
                pending, weight, deadline = [], 0, None
                if not isinstance(item, threading.Event):
                    return
                item.set()
                continue
            if item is not None:
                pending.append(item)
                weight += self._weight(item)
                deadline = deadline or time.monotonic() + self.batch_interval_s
            if pending and (weight >= self.batch_size or time.monotonic() >= (deadline or 0.0)):
                self._run_handle(pending)
                pending, weight, deadline = [], 0, None

    def _run_handle(self, batch: list[T]) -> None:
        if not batch:
            return
        try:
            self._handle(batch)
        except Exception:  # noqa: BLE001 - the worker must outlive one bad batch
            log.exception("%s: handling %d item(s) failed", self.name, len(batch))

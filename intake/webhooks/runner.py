"""Embedded defaults: one thread in the API process sends webhooks, in order, and every
``INTAKE_WEBHOOK_POLL_S`` seconds looks for due retries (`sender.due`), like the Celery beat task
``intake.webhooks_due`` does with a broker. Separate from the page thread, so a slow receiver
never holds up reading."""

from __future__ import annotations

import logging
import queue
import threading
import time

from intake.config import Settings

log = logging.getLogger(__name__)


class WebhookThread:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="intake-webhooks", daemon=True)
        self._thread.start()

    def put(self, delivery_id: int, delay_s: float = 0.0) -> None:
        if delay_s <= 0:
            self._queue.put(delivery_id)
            return
        timer = threading.Timer(delay_s, self._fire, args=(delivery_id,))
        timer.daemon = True
        with self._lock:
            if self._stopped:
                return
            self._timers.add(timer)
        timer.start()

    def _fire(self, delivery_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._queue.put(delivery_id)

    def _loop(self) -> None:
        from intake.webhooks import sender

        next_poll = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=max(0.05, next_poll - time.monotonic()))
            except queue.Empty:
                item = -1
            if item is None:
                return
            try:
                if item == -1 or time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.settings.webhook_poll_s
                    for d in sender.due(self.settings):
                        sender.deliver(d, settings=self.settings)
                if item != -1:
                    sender.deliver(item, settings=self.settings)
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; the poller retries
                log.error("webhook thread: %s", type(exc).__name__)

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopped = True
            timers, self._timers = self._timers, set()
        for t in timers:
            t.cancel()
        self._queue.put(None)
        self._thread.join(timeout)

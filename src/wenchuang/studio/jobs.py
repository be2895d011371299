"""One bounded job queue for every generate/edit, from the API and the UI alike.

`workers` jobs run at once (default 1: one GPU job at a time); at most `max_waiting` wait. A full
queue raises `QueueFull` with a Retry-After estimate instead of piling up work.
"""

from __future__ import annotations

import asyncio
import math
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wenchuang.errors import WenchuangError

JOB_ID_LENGTH = 32


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"the job queue is full; retry in {retry_after} s")


@dataclass
class Job:
    id: str
    kind: str
    client: str
    status: str = "queued"  # queued | running | done | failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: dict[str, str] | None = None
    done_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _callbacks: list = field(default_factory=list, repr=False)
    _callback_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_done(self, fn: Callable[[], None]) -> None:
        """Call `fn` (from the worker thread) when the job ends; at once if it already has."""
        with self._callback_lock:
            if not self.done_event.is_set():
                self._callbacks.append(fn)
                return
        fn()

    def _finish(self) -> None:
        with self._callback_lock:
            self.done_event.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
        }


class JobQueue:
    def __init__(self, workers: int = 1, max_waiting: int = 8, ttl_s: float = 3600.0, max_kept: int = 1000):
        self.workers = max(1, int(workers))
        self.max_waiting = max(1, int(max_waiting))
        self.ttl_s, self.max_kept = ttl_s, max_kept
        self._queue: queue.Queue[tuple[Job, Callable[[], Any]] | None] = queue.Queue(self.max_waiting)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._durations: list[float] = []
        self._running = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"wenchuang-job-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for t in self._threads:
            t.start()

    # -- submission ----------------------------------------------------------------------------
    def retry_after(self) -> int:
        """Seconds until a place is likely free: mean job time x jobs ahead / workers (at least 1)."""
        with self._lock:
            mean = sum(self._durations) / len(self._durations) if self._durations else 2.0
            ahead = self._queue.qsize() + self._running
        return max(1, math.ceil(mean * ahead / self.workers))

    def submit(self, kind: str, client: str, fn: Callable[[], Any]) -> Job:
        job = Job(id=secrets.token_hex(JOB_ID_LENGTH // 2), kind=kind, client=client)
        with self._lock:
            self._forget_old()
            self._jobs[job.id] = job
        try:
            self._queue.put_nowait((job, fn))
        except queue.Full:
            with self._lock:
                self._jobs.pop(job.id, None)
            raise QueueFull(self.retry_after()) from None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job: Job, timeout: float | None) -> bool:
        """Block this thread until the job ends (for worker threads, e.g. the UI's handlers)."""
        return job.done_event.wait(timeout)

    async def wait_async(self, job: Job, timeout: float | None) -> bool:
        """Wait without blocking the event loop (for async HTTP handlers)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(True))

        job.on_done(wake)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return False
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "waiting": self._queue.qsize(),
                "running": self._running,
                "workers": self.workers,
                "max_waiting": self.max_waiting,
            }

    def close(self) -> None:
        for _ in self._threads:
            try:
                self._queue.put(None, timeout=1)
            except queue.Full:
                break

    # -- workers -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, fn = item
            with self._lock:
                self._running += 1
            job.status, job.started = "running", time.time()
            try:
                job.result = fn()
                job.status = "done"
            except WenchuangError as exc:
                job.status = "failed"
                job.error = {
                    "type": type(exc).__name__,
                    "field": getattr(exc, "field", ""),
                    "message": str(exc),
                }
            except Exception as exc:  # a bug in an engine: report it, keep serving
                job.status = "failed"
                job.error = {"type": "InternalError", "field": "", "message": f"{type(exc).__name__}: {exc}"}
            finally:
                job.finished = time.time()
                with self._lock:
                    self._running -= 1
                    self._durations = (self._durations + [job.finished - job.started])[-20:]
                job._finish()

    def _forget_old(self) -> None:
        now = time.time()
        for job_id in list(self._jobs):
            job = self._jobs[job_id]
            too_many = len(self._jobs) > self.max_kept
            if job.finished is not None and (too_many or now - job.finished > self.ttl_s):
                del self._jobs[job_id]
            elif not too_many:
                break

"""Group commit: many concurrent callers, one bulk write per batch, each caller told its outcome.

A caller awaits `submit(item)`, which returns only after the batch holding its item was written
(or raises what the write raised). So nothing is acknowledged before it is stored: a receipt the
endpoint answered 202 is in MongoDB, and a receipt whose write failed gets an error and is
retried by its sender. A batch is written when it has `max_items` items or `max_wait_ms` after
its first item arrived, whichever comes first; `close()` writes what is left. `QueueWorker`, the
background task draining a queue, also serves the receipt journal's applier.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")


class QueueWorker(ABC, Generic[T]):
    """A queue drained by one background task: `_step()` takes work while there is some;
    `close()` lets it finish what is queued (or stop early, when `_step()` says so), then stops."""

    def __init__(self) -> None:
        self._queue: list[T] = []
        self._arrived = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _put(self, items: Iterable[T]) -> None:
        self._queue.extend(items)
        self._arrived.set()

    async def close(self) -> None:
        self._closing = True
        self._arrived.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            if not await self._step():
                return

    @abstractmethod
    async def _step(self) -> bool:
        """Handle some of the queue; False to stop."""


class GroupCommit(QueueWorker[tuple[T, asyncio.Future[Any]]]):
    def __init__(self, write: Callable[[Sequence[T]], Sequence[Any]], max_items: int, max_wait_ms: int):
        """`write(items)` runs in a worker thread and returns one result (or exception) per item."""
        super().__init__()
        self._write, self.max_items, self.max_wait = write, max(1, max_items), max(0, max_wait_ms) / 1000
        self._full = asyncio.Event()
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> Any:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[T]) -> list[Any]:
        """Queue several items at once (one request's worth); returns when all are written."""
        if not self.running:
            raise RuntimeError("the batch writer is not running")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self._put(zip(items, futures))
        if len(self._queue) >= self.max_items:
            self._full.set()
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def close(self) -> None:
        """Write everything queued, then stop."""
        self._full.set()
        await super().close()

    async def _step(self) -> bool:
        if len(self._queue) < self.max_items and not self._closing and self.max_wait:
            self._full.clear()
            try:
                await asyncio.wait_for(self._full.wait(), self.max_wait)
            except TimeoutError:
                pass
        batch, self._queue = self._queue[: self.max_items], self._queue[self.max_items :]
        await self._flush(batch)
        return True

    async def _flush(self, batch: list[tuple[T, asyncio.Future[Any]]]) -> None:
        try:
            results = await asyncio.to_thread(self._write, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting caller learns the write failed
            results = [exc] * len(batch)
        self.batches += 1
        self.items += len(batch)
        for (_, future), result in zip(batch, results):
            if future.done():
                continue  # the caller went away (request cancelled)
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

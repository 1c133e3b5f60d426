"""Group commit: many concurrent callers, one bulk write per batch, each caller told its outcome.

A caller awaits `submit(item)`, which returns only after the batch holding its item was written
(or raises what the write raised). So nothing is acknowledged before it is stored: a receipt the
endpoint answered 202 is in MongoDB, and a receipt whose write failed gets an error and is
retried by its sender. A batch is written when it has `max_items` items or `max_wait_ms` after
its first item arrived, whichever comes first; `close()` writes what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Sequence[Any]], max_items: int, max_wait_ms: int):
        """`write(items)` runs in a worker thread and returns one result (or exception) per item."""
        self._write, self.max_items, self.max_wait = write, max(1, max_items), max(0, max_wait_ms) / 1000
        self._queue: list[tuple[T, asyncio.Future]] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.items = 0

    def start(self) -> "GroupCommit[T]":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def submit(self, item: T) -> Any:
        if self._task is None or self._task.done():
            raise RuntimeError("the batch writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._arrived.set()
        if len(self._queue) >= self.max_items:
            self._full.set()
        return await future

    async def submit_many(self, items: Sequence[T]) -> list[Any]:
        """Queue several items at once (one request's worth); returns when all are written."""
        if self._task is None or self._task.done():
            raise RuntimeError("the batch writer is not running")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self._queue.extend(zip(items, futures))
        self._arrived.set()
        if len(self._queue) >= self.max_items:
            self._full.set()
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def close(self) -> None:
        """Write everything queued, then stop."""
        self._closing = True
        self._arrived.set()
        self._full.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if len(self._queue) < self.max_items and not self._closing and self.max_wait:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.max_wait)
                except TimeoutError:
                    pass
            batch, self._queue = self._queue[:self.max_items], self._queue[self.max_items:]
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[T, asyncio.Future]]) -> None:
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

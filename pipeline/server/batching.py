"""Server-side batching: concurrent requests to one signature share one model call.

As TF Serving's batching (max_batch_size, batch_timeout_micros, max_enqueued_batches):
the first request waiting for a signature opens a batch; requests that arrive within
`timeout_s` join it until it holds `max_batch_size` sentences; then one call translates
them all and each request gets its own rows back. One call per signature runs at a time,
so with `timeout_s` 0 a batch is whatever arrived while the model was busy with the last
one: no wait when the server is idle, full batches under load. The queue is bounded: past
`max_queued` sentences waiting, a request is refused (UNAVAILABLE, 503) instead of
waiting without end.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Awaitable, Callable, Hashable

from pipeline.server.rest_api import UNAVAILABLE, StatusError

# (what to call, inputs) -> outputs: one model call, rows in the order of the inputs.
Call = Callable[[Hashable, dict[str, list[bytes]]], Awaitable[dict[str, list]]]


@dataclasses.dataclass
class _Request:
    inputs: dict[str, list[bytes]]
    size: int
    result: asyncio.Future


class Batcher:
    """Batches the calls of each key (a model's signature); `call` runs one model call."""

    def __init__(self, call: Call, max_batch_size: int, timeout_s: float, max_queued: int):
        self._call = call
        self._max_batch_size = max_batch_size
        self._timeout_s = timeout_s
        self._max_queued = max_queued
        self._queued = 0
        self._queues: dict[str, collections.deque[_Request]] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task] = {}

    async def submit(self, key: Hashable, inputs: dict[str, list[bytes]]) -> dict[str, list]:
        """The outputs of `key` for `inputs`, from a call shared with other requests."""
        size = len(next(iter(inputs.values())))
        if self._queued + size > self._max_queued:
            raise StatusError(
                UNAVAILABLE,
                f"the batching queue is full ({self._queued} sentences waiting, at most "
                f"{self._max_queued}): try again later",
            )
        request = _Request(inputs, size, asyncio.get_running_loop().create_future())
        if key not in self._queues:
            self._queues[key] = collections.deque()
            self._arrived[key] = asyncio.Event()
            self._workers[key] = asyncio.create_task(self._work(key))
        self._queues[key].append(request)
        self._queued += size
        self._arrived[key].set()
        return await request.result

    @property
    def keys(self) -> set:
        """The keys being batched (each has its own queue and worker)."""
        return set(self._queues)

    def retire(self, keep: Callable[[Hashable], bool]) -> None:
        """Stops the idle batching of every key that `keep` rejects (e.g. the signatures of a
        version no longer served), so that nothing holds on to it; a key with requests
        still waiting stays until they are answered (call again later)."""
        for key in [key for key in self._queues if not keep(key) and not self._queues[key]]:
            self._workers.pop(key).cancel()
            del self._queues[key], self._arrived[key]

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _next_batch(self, key: Hashable) -> list[_Request]:
        """Waits for a first request, then for more until the batch is full or the timeout
        since the first has passed; takes them off the queue (at least one)."""
        queue, arrived = self._queues[key], self._arrived[key]
        while not queue:
            arrived.clear()
            await arrived.wait()
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        while sum(request.size for request in queue) < self._max_batch_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        batch = [queue.popleft()]
        size = batch[0].size
        while queue and size + queue[0].size <= self._max_batch_size:
            size += queue[0].size
            batch.append(queue.popleft())
        self._queued -= size
        return batch

    async def _work(self, key: Hashable) -> None:
        while True:
            batch = await self._next_batch(key)
            names = list(batch[0].inputs)
            inputs = {
                name: [v for request in batch for v in request.inputs[name]] for name in names
            }
            try:
                outputs = await self._call(key, inputs)
            except Exception as error:  # each request of the batch gets the model's error
                for request in batch:
                    if not request.result.done():
                        request.result.set_exception(error)
                continue
            start = 0
            for request in batch:
                rows = {
                    name: values[start : start + request.size] for name, values in outputs.items()
                }
                start += request.size
                if not request.result.done():  # not given up on by its client
                    request.result.set_result(rows)

"""Ordered parallel map with a bounded number of results in flight (bounded memory)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 1, in_flight_per_worker: int = 2
) -> Iterator[R]:
    """Like ``map(fn, items)``, in input order; with ``workers > 1`` in worker processes."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * in_flight_per_worker:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

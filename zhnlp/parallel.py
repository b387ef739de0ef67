"""Process pools for work over shards and chunks, in order, with bounded memory."""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last one shorter), read lazily."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bounded_imap(pool: multiprocessing.pool.Pool, fn: Callable[..., object],
                 args: Iterable[tuple[object, ...]], window: int) -> Iterator[object]:
    """``fn(*a)`` for each ``a``, in order, on ``pool``, with at most ``window`` tasks out.

    ``Pool.imap`` would read its whole input at once (a corpus larger than memory) and
    ``starmap`` hold every result at once; this keeps both at ``window``.
    """
    pending: deque[multiprocessing.pool.AsyncResult] = deque()
    for a in args:
        pending.append(pool.apply_async(fn, a))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def make_pool(workers: int, initializer: Callable[..., object] | None = None,
              initargs: tuple[object, ...] = ()) -> multiprocessing.pool.Pool:
    """A pool of ``workers`` processes, each running ``initializer(*initargs)`` first."""
    # fork: the workers need no re-import of the caller's script (spawn would run an
    # unguarded script again); they only read files and arrays handed to them.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return context.Pool(workers, initializer, initargs)

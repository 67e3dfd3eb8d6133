"""Many requests to a served model at once: a bounded thread pool, retries with backoff, progress and cancel."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Hashable, MutableMapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from core.served.remote import is_transient

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Progress = Callable[[float, str], None]
RETRIES = 3  # after the first try; backoff 0.5, 1, 2 s (or the server's Retry-After, up to 30 s)
BACKOFF = 0.5
HEARTBEAT = 0.5  # seconds between progress calls while waiting, so a page can notice a cancel


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: results are in the caller's mapping, whatever happened."""

    done: int  # tasks with a result (including ones already there at the start)
    total: int
    cancelled: bool
    error: Exception | None  # the error that stopped the run early, or None

    @property
    def complete(self) -> bool:
        return self.done == self.total


def with_retries(call: Callable[[], V], cancel: threading.Event, retries: int = RETRIES,
                 backoff: float = BACKOFF) -> V:
    """call(), retried on transient errors (429, 5xx, timeouts, dropped connections) with jittered backoff."""
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as error:
            if attempt == retries or not is_transient(error) or cancel.is_set():
                raise
            if cancel.wait(_delay(error, attempt, backoff)):
                raise
    raise AssertionError("unreachable")


def _delay(error: Exception, attempt: int, backoff: float) -> float:
    response = getattr(error, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(header), 30.0)
    except (TypeError, ValueError):
        return backoff * 2**attempt * random.uniform(0.8, 1.2)


def run_all(tasks: Sequence[K], call: Callable[[K], V], results: MutableMapping[K, V], concurrency: int,
            progress: Progress | None = None, cancel: threading.Event | None = None,
            retries: int = RETRIES, backoff: float = BACKOFF) -> RunOutcome:
    """call(task) for every task not yet in results, at most `concurrency` in flight; results fill as they come.

    A non-transient error (or a transient one past its retries) stops new submissions; requests in
    flight finish and are kept. A cancel returns at once; answers still in flight land in results
    later (a resumed run skips them). progress runs in the caller's thread only; if it raises (a page
    interrupted by Streamlit), the run is cancelled and the exception goes on up.
    """
    cancel = cancel or threading.Event()
    pending = [t for t in dict.fromkeys(tasks) if t not in results]
    total, error = len(set(tasks)), None
    report = progress or (lambda fraction, message: None)

    def work(task: K) -> None:
        results[task] = with_retries(lambda: call(task), cancel, retries, backoff)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="llm-lens-remote")
    flying: set[Future] = set()
    try:
        while (pending or flying) and not cancel.is_set():
            while pending and len(flying) < concurrency and error is None and not cancel.is_set():
                flying.add(pool.submit(work, pending.pop(0)))
            finished, flying = wait(flying, timeout=HEARTBEAT, return_when=FIRST_COMPLETED)
            for future in finished:
                if future.exception() is not None and error is None:
                    error = future.exception()
            if error is not None and not flying:
                break
            done = sum(t in results for t in set(tasks))
            report(done / max(total, 1), f"{done:,} of {total:,} requests answered")
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    done = sum(t in results for t in set(tasks))
    return RunOutcome(done, total, cancel.is_set() and error is None and done < total, error)


def stream_all(calls: Sequence[Callable[[Callable[[str], None]], V]], on_update: Callable[[tuple[str, ...]], None],
               ) -> list[V]:
    """Run streaming calls side by side; on_update sees every call's text so far, in the caller's thread.

    Each call receives an `emit(text_so_far)` function. The first error is raised once all calls end.
    """
    texts = [""] * len(calls)
    updates: queue.Queue = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=max(1, len(calls)), thread_name_prefix="llm-lens-stream")
    try:
        futures = [pool.submit(call, lambda text, i=i: updates.put((i, text))) for i, call in enumerate(calls)]
        while not all(f.done() for f in futures) or not updates.empty():
            try:
                index, text = updates.get(timeout=0.1)
            except queue.Empty:
                continue
            texts[index] = text
            while not updates.empty():
                index, text = updates.get_nowait()
                texts[index] = text
            on_update(tuple(texts))
            time.sleep(0.03)  # at most ~30 page updates a second, whatever the token rate
    finally:
        pool.shutdown(wait=False)  # an interrupted page does not wait for the streams to end
    return [future.result() for future in futures]

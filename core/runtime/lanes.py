"""Lanes: independent pieces of one model computation run at once, one per group of cores.

torch runs each forward on LLM_LENS_THREADS threads (half the cores by default: spinning OpenMP
workers collapse when another thread wants their core). A batch of several prompts can still use
the whole machine without that risk: the gate holder cuts it into groups and runs one plain forward
per lane, cores ÷ threads lanes at once, each on its own Python thread (torch releases the GIL
while it computes). A lane that loses its core for a moment only finishes later; no lane waits for
another at every operation, as OpenMP's threads do. Measured on SmolLM2 (2 cores, 1 thread each):
20 prompts × 40 tokens, 2.61 s as one padded forward, 1.38 s as two.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from core.runtime import devices, gate

T = TypeVar("T")

_MAX_POOL_THREADS = 64
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def count(model) -> int:
    """How many forwards of one computation run at once: cores ÷ torch threads on the CPU, else 1."""
    if devices.model_device(model).type != "cpu":
        return 1  # an accelerator already runs a whole batch at once
    return max(1, (os.cpu_count() or 1) // max(1, torch.get_num_threads()))


def split(lengths: Sequence[int], lanes: int) -> list[list[int]]:
    """Row indices in at most `lanes` groups, each of rows of similar length (little padding).

    Rows are sorted by length and cut into consecutive groups so that the largest group's padded
    size (rows × its longest row), which sets how long the lanes take, is as small as it can be.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if not order:
        return []
    sizes = [lengths[i] for i in order]
    cost = lambda start, end: (end - start) * sizes[end - 1]  # noqa: E731  rows start..end-1, padded
    n, groups = len(sizes), min(lanes, len(sizes))
    # best[g][end]: (largest group cost, cut points) for rows 0..end-1 in g groups
    best: list[dict[int, tuple[int, tuple[int, ...]]]] = [{0: (0, ())}]
    for g in range(1, groups + 1):
        best.append({})
        for end in range(g, n + 1):
            best[g][end] = min((max(best[g - 1][start][0], cost(start, end)), (*best[g - 1][start][1], start))
                               for start in range(g - 1, end) if start in best[g - 1])
    _, cuts = min(best[g][n] for g in range(1, groups + 1))
    bounds = [*cuts[1:], n]
    return [order[start:end] for start, end in zip(cuts, bounds)]


def run(jobs: Sequence[Callable[[], T]], grad: bool = False) -> list[T]:
    """Run the jobs at once, the first on this thread, each under torch.inference_mode (grad=True:
    with autograd on instead, for gradients to the inputs); results in order.

    Call it while holding the model's gate: the lanes are that one computation. A job must not take
    the gate itself (another thread holds it). Every job has finished when this returns or raises.
    """
    if len(jobs) <= 1:
        return [_in_mode(job, grad) for job in jobs]
    held = gate.GATE.held_keys()  # the lanes work for this thread's computation: they hold its gate too
    futures: list[Future] = [_executor().submit(_in_lane, job, grad, held) for job in jobs[1:]]
    try:
        first = _in_mode(jobs[0], grad)
    finally:
        rest = [_settled(future) for future in futures]  # wait for every lane, even after a failure
    for _, error in rest:
        if error is not None:
            raise error
    return [first, *(value for value, _ in rest)]


def _in_mode(job: Callable[[], T], grad: bool) -> T:
    # Autograd's mode is per thread: a lane sets its own.
    with torch.enable_grad() if grad else torch.inference_mode():
        return job()


def _in_lane(job: Callable[[], T], grad: bool, held: frozenset) -> T:
    with gate.GATE.lent(held):
        return _in_mode(job, grad)


def _settled(future: Future) -> tuple[object, BaseException | None]:
    try:
        return future.result(), None
    except BaseException as error:  # noqa: BLE001  re-raised by run() once every lane has stopped
        return None, error


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # Threads start only when a job finds none idle: normally lanes - 1 of them ever exist.
            _pool = ThreadPoolExecutor(max_workers=_MAX_POOL_THREADS, thread_name_prefix="lane")
        return _pool

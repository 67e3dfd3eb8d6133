"""Every process-wide setting the runtime changes, in one place (the README's "Settings" lists them).

- torch threads per forward pass: LLM_LENS_THREADS, default half the cores (`configure_threads`);
- Python's thread switch interval while a model computation runs (`SWITCH_INTERVAL`, set by the gate);
- the packed-attention function registered with transformers' AttentionInterface (selected per
  forward only, inside the gate: core.runtime.packed_attention);
- nn.Linear layers routed through oneDNN's fp32 product when no gradient is taken
  (core.runtime.fast_linear; LLM_LENS_ONEDNN=0 turns it off), per loaded model.
"""

from __future__ import annotations

import os
import sys
import threading

import torch

from core.runtime import fast_linear, packed_attention


def configure_threads() -> int:
    """Give torch half the cores (at least one), or LLM_LENS_THREADS; returns the count.

    With every core busy, torch's spinning worker threads collapse: measured on 2 cores with one
    other busy process, a 64-token forward took 2-7 s on 2 threads against 0.27 s on 1.
    """
    wanted = os.environ.get("LLM_LENS_THREADS")
    threads = int(wanted) if wanted and wanted.isdigit() and int(wanted) > 0 else max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def prepare(network: torch.nn.Module) -> int:
    """The per-model settings, applied once when a model is loaded, before it is shared: returns how
    many Linear layers run through oneDNN. The packed-attention function is registered on import."""
    packed_attention.register()
    return fast_linear.install(network)

# Python's thread switch interval while any model computation runs. A forward pass takes the GIL
# back after each of its hundreds of torch ops, and at the default 5 ms a busy page-building thread
# keeps it that long every time: measured on SmolLM2, a batch of 8 short prompts took 9.2 s beside
# one busy Python thread instead of 0.22 s alone; 1 ms: 2.0 s; 0.1 ms: 0.49 s, with the Python
# thread still at 90% of its own speed. The default comes back when no model runs.
MODEL_SWITCH_INTERVAL = 1e-4


class _SwitchInterval:
    """Counts running model computations; the first sets MODEL_SWITCH_INTERVAL, the last restores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._before = 0.0  # the interval to restore, read when the first computation starts

    def enter(self) -> None:
        with self._lock:
            if self._running == 0:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(MODEL_SWITCH_INTERVAL)
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                sys.setswitchinterval(self._before)


SWITCH_INTERVAL = _SwitchInterval()

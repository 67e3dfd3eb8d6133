"""Warnings libraries print on import that say nothing to this app's users, dropped at their source.

transformers imports torchao as it starts whenever torchao is installed (the Deploy page's formats).
torchao's wheel ships kernels built for CUDA GPUs (MX float8, CUTLASS for sm90) next to its CPU ones
and logs "Failed to load" for each one a CPU machine cannot load; it also registers two enums in a way
torch 2.13 calls deprecated. Neither concerns the formats LLM Lens uses; every other warning still shows.
"""

from __future__ import annotations

import logging

GPU_ONLY_KERNELS = ("_C_mxfp8", "_C_cutlass")


def _gpu_kernel_not_loaded(message: str) -> bool:
    return message.startswith("Failed to load") and any(name in message for name in GPU_ONLY_KERNELS)


def _enum_registered(message: str) -> bool:
    return "is an Enum subclass and is now natively supported" in message


class _Drop(logging.Filter):
    def __init__(self, matches) -> None:
        super().__init__()
        self.matches = matches

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.matches(record.getMessage())


QUIETED = {"torchao": _gpu_kernel_not_loaded, "torch.utils._pytree": _enum_registered}


def quiet_import_warnings() -> None:
    """Install the filters (once per process; before transformers imports torchao)."""
    for name, matches in QUIETED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop(matches))


quiet_import_warnings()

"""One way to hand results out of core/: CPU numpy arrays nobody can write into."""

from __future__ import annotations

import numpy as np
import torch


def frozen(values: np.ndarray | torch.Tensor, dtype: np.dtype | type | None = None) -> np.ndarray:
    """A read-only, C-contiguous CPU numpy array of values (a tensor or array), cast to dtype if given.

    Results are cached and shared between sessions, so nobody may write into them. No copy is made
    when values already have the layout and dtype asked for.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.dtype == torch.bfloat16:  # numpy has no bfloat16
            values = values.to(torch.float32)
        values = values.numpy()
    array = np.ascontiguousarray(values, dtype=dtype)
    if array is values:  # never change the flags of the caller's own array object
        array = array.view()
    array.setflags(write=False)
    return array

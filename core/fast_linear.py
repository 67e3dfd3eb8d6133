"""Linear layers through oneDNN on CPU: the same fp32 products, about twice as fast as the default path here.

torch multiplies fp32 matrices with MKL's sgemm, which on this project's reference machine (an AMD
EPYC with AVX-512) runs at about 100 GFLOP/s on one thread; oneDNN's fp32 matmul, the kernel torch's
own compiler uses for CPU linear layers (`mkldnn._linear_pointwise`), runs the same shapes at 130
(25 rows) to 230 (512 rows) GFLOP/s, with fp32 accumulation (it differs from sgemm only in summation
order: about 1e-6 of the values). `install` routes every nn.Linear's forward there when no gradient
is being taken; with gradients on (integrated gradients), and off the CPU or in other dtypes, the
layer runs torch's F.linear as before. LLM_LENS_ONEDNN=0 turns it off.
"""

from __future__ import annotations

import os
from types import MethodType

import torch
import torch.nn.functional as F

_OFF = {"0", "false", "no", "off"}


def _forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() or x.dtype != torch.float32 or x.device.type != "cpu" \
            or self.weight.dtype != torch.float32:
        return F.linear(x, self.weight, self.bias)
    return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")


def available() -> bool:
    """Whether this torch has oneDNN's linear op and it agrees with F.linear on a probe."""
    if os.environ.get("LLM_LENS_ONEDNN", "").strip().lower() in _OFF:
        return False
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    generator = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(shape, generator=generator) for shape in ((3, 5, 64), (48, 64), (48,)))
    try:
        with torch.inference_mode():
            fast = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    except RuntimeError:
        return False
    return bool(torch.allclose(fast, F.linear(x, w, b), rtol=1e-5, atol=1e-5))


def install(network: torch.nn.Module) -> int:
    """Route the network's nn.Linear layers through oneDNN (see the module docstring); returns how many.

    Done once when a model is loaded, before it is shared. The layers stay nn.Linear with the same
    weights (a per-instance forward), so copies (quantization) and state dicts are unaffected.
    """
    if not available():
        return 0
    layers = [m for m in network.modules() if type(m) is torch.nn.Linear]
    for layer in layers:
        layer.forward = MethodType(_forward, layer)
    return len(layers)

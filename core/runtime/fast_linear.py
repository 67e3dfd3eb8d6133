"""Linear layers through oneDNN on CPU: the same fp32 products, about twice as fast as the default path here.

torch multiplies fp32 matrices with MKL's sgemm, which on this project's reference machine (an AMD
EPYC with AVX-512) runs at about 100 GFLOP/s on one thread; oneDNN's fp32 matmul, the kernel torch's
own compiler uses for CPU linear layers (`mkldnn._linear_pointwise`), runs the same shapes at 130
(25 rows) to 230 (512 rows) GFLOP/s, with fp32 accumulation (it differs from sgemm only in summation
order: about 1e-6 of the values). `install` routes every nn.Linear's forward there, and the gradient
for the layer's input too (integrated gradients), as long as the weights take no gradient; off the
CPU, in other dtypes, with quantized or trainable weights the layer runs torch's F.linear as before.
LLM_LENS_ONEDNN=0 turns it off.
"""

from __future__ import annotations

import os
from types import MethodType

import torch
import torch.nn.functional as F

_OFF = {"0", "false", "no", "off"}
_PLAIN = (torch.Tensor, torch.nn.Parameter)  # a quantized weight (a torchao tensor subclass) runs its own kernel


def _onednn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _InputGradLinear(torch.autograd.Function):
    """x @ weightᵀ + bias with the gradient for x only (the shared model's weights never take one)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return _onednn(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        return _onednn(grad.contiguous(), weight.t(), None), None, None  # grad @ weight


def _forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    weight, bias = self.weight, self.bias
    if x.dtype != torch.float32 or x.device.type != "cpu" or weight.dtype != torch.float32 \
            or type(weight) not in _PLAIN or weight.requires_grad or (bias is not None and bias.requires_grad):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and x.requires_grad:  # integrated gradients: a gradient for the input
        return _InputGradLinear.apply(x, weight, bias)
    return _onednn(x, weight, bias)


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

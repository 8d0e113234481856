"""int8 dynamic quantisation of a loaded FlagEmbedding model: the opt-in faster CPU path.

`FD_EMBED_PRECISION=int8` replaces every `torch.nn.Linear` of the transformer encoder (attention
projections, feed-forward, pooler) by torch's dynamically quantised linear: int8 weights with
one scale per output channel, activations quantised per call. The embedding tables, layer norms
and bge-m3's sparse and colbert heads stay float32: the tables are lookups (nothing to speed up)
and the sparse head is one output per token.

torch's kernel quantises its whole input (every token of every text in the batch) with one
scale. Transformers put a few tokens ([CLS], separators) at activations hundreds of times
larger than the rest, so that one scale flattens every other token: on all-MiniLM-L6-v2 plain
`quantize_dynamic` left no text at a dense cosine >= 0.99 to fp32. Each input row (token) is
therefore divided by its own largest magnitude before the kernel and multiplied back after it:
every token then uses the full int8 range, which is per-token quantisation at the price of two
elementwise passes (measured in docs/benchmarks.md, issue 14 section).
`fd-pipeline embed-check` measures agreement and speed on a given model folder.
"""

from __future__ import annotations

import warnings
from typing import Any

PRECISIONS = ("fp32", "int8")


def check_precision(precision: str, device: str | None) -> None:
    """Raise ValueError for an unknown precision, or int8 asked for on a GPU (quantised kernels are CPU-only)."""
    if precision not in PRECISIONS:
        raise ValueError(f"FD_EMBED_PRECISION must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and device and device.startswith("cuda"):
        raise ValueError("FD_EMBED_PRECISION=int8 is a CPU path; on cuda the model runs in fp16, leave it at fp32")


def encoder_of(flag_model: Any) -> Any:
    """The transformers encoder inside a FlagEmbedding model (bge-m3 wraps it together with its heads)."""
    from transformers import PreTrainedModel

    inner = getattr(flag_model, "model", None)
    for candidate in (getattr(inner, "model", None), inner):
        if isinstance(candidate, PreTrainedModel):
            return candidate
    raise TypeError(f"no transformers model found inside {type(flag_model).__name__}")


def _row_scaled_class():
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    class _RowScaledInt8Linear(torch.nn.Module):
        """y = s * Wq(x / s) + b with s the largest |x| of each row: per-token int8 on torch's kernel."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            bare = torch.nn.Linear(linear.in_features, linear.out_features, bias=False)
            bare.weight = linear.weight
            bare.qconfig = per_channel_dynamic_qconfig
            self.quantized = DynamicInt8Linear.from_float(bare)
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scale = torch.linalg.vector_norm(x, ord=float("inf"), dim=-1, keepdim=True).clamp_(min=1e-6)
            y = self.quantized(x / scale).mul_(scale)
            return y if self.bias is None else y.add_(self.bias)

    return _RowScaledInt8Linear


def quantize_int8(flag_model: Any) -> int:
    """Replace the encoder's Linear layers in place by row-scaled int8 ones; returns how many."""
    import torch

    encoder = encoder_of(flag_model).eval()
    row_scaled = _row_scaled_class()
    targets = [(name, module) for name, module in encoder.named_modules() if type(module) is torch.nn.Linear]
    with warnings.catch_warnings():
        # torch marks torch.ao.quantization deprecated in favour of torchao, which has no wheel here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_.*", category=UserWarning)
        for name, linear in targets:
            parent_name, _, attr = name.rpartition(".")
            setattr(encoder.get_submodule(parent_name) if parent_name else encoder, attr, row_scaled(linear))
    return len(targets)

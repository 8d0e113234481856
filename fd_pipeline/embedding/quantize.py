"""int8 dynamic quantisation of a loaded FlagEmbedding model: the opt-in faster CPU path.

`FD_EMBED_PRECISION=int8` replaces every `torch.nn.Linear` of the transformer encoder (attention
projections, feed-forward, pooler) by its dynamically quantised form: weights stored as int8,
activations quantised per batch. The embedding tables, layer norms and bge-m3's sparse and
colbert heads stay float32: the tables are lookups (nothing to speed up) and the sparse head is
one output per token whose weights Qdrant stores as they are. Measured on this project's
machines at about 2x the fp32 tokens/s; how close its vectors stay to fp32 on a given model is
what `fd-pipeline embed-check` reports (`fd_pipeline/embedding/agreement.py`).
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


def quantize_int8(flag_model: Any) -> int:
    """Quantise the encoder's Linear layers in place; returns how many were replaced."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    encoder = encoder_of(flag_model)
    linears = sum(isinstance(m, torch.nn.Linear) for m in encoder.modules())
    with warnings.catch_warnings():
        # torch marks torch.ao.quantization deprecated in favour of torchao, which has no wheel here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        quantize_dynamic(encoder.eval(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return linears

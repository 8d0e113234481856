"""What an embedder is asked to be: `EmbedderConfig`, and the errors a configuration can raise."""

from __future__ import annotations

from dataclasses import dataclass

from fd_pipeline.embedding.quantize import check_precision

KINDS = ("auto", "bge-m3", "dense")
LEXICAL = ("off", "on")
POOLINGS = ("cls", "mean")


class EmbedderError(RuntimeError):
    """The embedding model cannot be used as configured."""


class ModelNotAvailable(EmbedderError):
    """No local copy of the configured model, and it cannot be downloaded."""


@dataclass(frozen=True)
class EmbedderConfig:
    model: str = "BAAI/bge-m3"
    device: str | None = None  # None/"auto": cuda when available, else cpu
    threads: int | None = None  # torch intra-op threads (process-wide)
    batch_size: int = 32
    max_tokens: int = 512
    fp16: bool | None = None  # None: fp16 on cuda only (FlagEmbedding forces fp32 on cpu)
    kind: str = "auto"  # auto | bge-m3 | dense
    pooling: str | None = None  # dense models: cls | mean; None reads sentence-transformers' config, else cls
    # on: lexical BM25 sparse vectors (lexical.py) for a model with no sparse output, so search can be
    # hybrid. Off by default: on the generated desk it lowered recall@1, MRR and same-fix precision
    # (docs/benchmarks.md, issue 12); a desk with exact error codes and part numbers may differ.
    lexical: str = "off"
    precision: str = "fp32"  # fp32 | int8 (CPU only, see quantize.py); part of the model identity

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"FD_EMBED_KIND must be one of {KINDS}, got {self.kind!r}")
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ValueError(f"FD_EMBED_POOLING must be one of {POOLINGS}, got {self.pooling!r}")
        if self.lexical not in LEXICAL:
            raise ValueError(f"FD_EMBED_LEXICAL must be one of {LEXICAL}, got {self.lexical!r}")
        if self.batch_size < 1 or self.max_tokens < 8:
            raise ValueError("batch_size must be >= 1 and max_tokens >= 8")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")
        check_precision(self.precision, self.device)

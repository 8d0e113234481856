"""Errors raised by the vector store. Messages never carry the API key."""

from __future__ import annotations


class VectorStoreError(Exception):
    """Anything the vector store refuses or cannot do."""


class VectorStoreUnavailable(VectorStoreError):
    """Qdrant cannot be reached, or the embedded folder is held by another process."""


class ModelMismatch(VectorStoreError):
    """A collection holds vectors of another model (or of another size) than the one writing."""


class UnknownAspect(VectorStoreError, ValueError):
    """An aspect the collection does not have (a typo, or a spec of other aspects than its collection's)."""

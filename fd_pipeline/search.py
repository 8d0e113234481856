"""Query text -> embedding -> hybrid search over one collection. No Dagster here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fd_pipeline.embedding import Embedder, Embedding
from fd_pipeline.vectorstore import KB, TICKETS, CollectionSpec, VectorStore

DEFAULT_ASPECT = {TICKETS.name: "symptom", KB.name: "intent"}


class SearchError(ValueError):
    """The query cannot be searched (empty, unembeddable, unknown aspect)."""


@dataclass(frozen=True)
class SearchResult:
    collection: str
    id: int | str
    score: float
    title: str
    status: str | None
    updated_at: str | None
    payload: dict[str, Any] = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "id": self.id, "score": self.score, "title": self.title,
                "status": self.status, "updated_at": self.updated_at}


def collection_for(kb: bool) -> CollectionSpec:
    return KB if kb else TICKETS


def search(
    text: str,
    *,
    embedder: Embedder,
    vectors: VectorStore,
    kb: bool = False,
    aspect: str | None = None,
    limit: int = 10,
    mode: Literal["hybrid", "dense"] = "hybrid",
) -> list[SearchResult]:
    """The `limit` nearest items of the tickets (or KB) collection for `text` on one aspect."""
    spec = collection_for(kb)
    aspect = aspect or DEFAULT_ASPECT[spec.name]
    if aspect not in spec.aspects:
        raise SearchError(f"{spec.name} has the aspects {', '.join(spec.aspects)}, not {aspect!r}")
    if not text.strip():
        raise SearchError("the query is empty")
    (query,) = embedder.embed([text])
    if not isinstance(query, Embedding):
        raise SearchError(f"the model could not embed the query: {getattr(query, 'error', 'empty text')}")
    hits = vectors.search(
        spec, aspect=aspect, dense=query.dense, sparse_indices=query.sparse_indices, sparse_values=query.sparse_values,
        limit=limit, mode=mode,
    )
    return [_result(spec, h) for h in hits]


def _result(spec: CollectionSpec, hit) -> SearchResult:
    p = hit.payload or {}
    title = p.get("subject") if spec is TICKETS else p.get("title")
    status = p.get("status_name") or (None if p.get("status") is None else str(p.get("status")))
    return SearchResult(spec.name, hit.id, float(hit.score), str(title or ""), status, p.get("updated_at"), p)

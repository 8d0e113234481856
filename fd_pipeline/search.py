"""Query text -> embedding -> hybrid (or dense) search over one collection. No Dagster here.

KB results are articles, not points: an article is several points (one per body section, and
again per translation), so the KB is searched over `KB_CANDIDATES` points and the points are
grouped by `article_id`. On the procedure aspect an article scores the mean of its best section
and its lead section (section 0: title and overview), so that a long article's many generic
sections ("Before you start") do not each get a chance to win; a short article is its lead.
Points in the primary language rank the articles; translations only choose how an article is
shown: in the query's language where the article has a translation, else in its primary
language. Ranking on translations too lets a query match its own language instead of its
problem: a Korean ticket finds translated wrong articles before its untranslated right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fd_pipeline.embedding import Embedder, Embedding
from fd_pipeline.sync.documents import detect_language, kb_point_id
from fd_pipeline.vectorstore import KB, TICKETS, CollectionSpec, VectorStore

# The KB's procedure (its body) matches a ticket's description far better than the title and tags
# do: recall@5 0.96/0.94 (English/Korean) against 0.83/0.51 on the demo desk, docs/benchmarks.md.
DEFAULT_ASPECT = {TICKETS.name: "symptom", KB.name: "procedure"}
KB_CANDIDATES = 200  # points searched per KB query; each article is 1..sections points per language

Mode = Literal["hybrid", "dense"]


class SearchError(ValueError):
    """The query cannot be searched (empty, unembeddable, unknown aspect)."""


@dataclass(frozen=True)
class SearchResult:
    collection: str
    id: int | str  # the point id; for the KB, the article id
    score: float
    title: str
    status: str | None
    updated_at: str | None
    payload: dict[str, Any] = field(repr=False, compare=False)
    mode: str = "dense"  # the search that ran: hybrid (dense + sparse, RRF scores) or dense (cosines)
    language: str | None = None  # of the title/payload shown (KB: a translation in the query's language if any)

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "id": self.id, "score": self.score, "title": self.title,
                "status": self.status, "updated_at": self.updated_at, "mode": self.mode, "language": self.language}


def collection_for(kb: bool) -> CollectionSpec:
    return KB if kb else TICKETS


def search_mode(embedder: Embedder, query: Embedding, mode: Mode) -> Mode:
    """What `mode` amounts to: hybrid only where the model and the query have sparse vectors."""
    if mode == "hybrid" and embedder.identity.has_sparse and query.sparse_indices:
        return "hybrid"
    return "dense"


def search(
    text: str,
    *,
    embedder: Embedder,
    vectors: VectorStore,
    kb: bool = False,
    aspect: str | None = None,
    limit: int = 10,
    mode: Mode = "hybrid",
    embedding: Embedding | None = None,
) -> list[SearchResult]:
    """The `limit` nearest tickets (or KB articles) for `text` on one aspect; each result says the mode that ran.

    `embedding`: the query's embedding if the caller already has it (`embedder.embed([text], query=True)`),
    e.g. to search with many queries embedded in one call."""
    spec = collection_for(kb)
    aspect = aspect or DEFAULT_ASPECT[spec.name]
    if aspect not in spec.aspects:
        raise SearchError(f"{spec.name} has the aspects {', '.join(spec.aspects)}, not {aspect!r}")
    if mode not in ("hybrid", "dense"):
        raise SearchError(f"mode must be hybrid or dense, not {mode!r}")
    if not text.strip():
        raise SearchError("the query is empty")
    (query,) = [embedding] if embedding is not None else embedder.embed([text], query=True)
    if not isinstance(query, Embedding):
        raise SearchError(f"the model could not embed the query: {getattr(query, 'error', 'empty text')}")
    ran = search_mode(embedder, query, mode)

    def nearest(count: int, filters: dict[str, Any] | None, how: str):
        return vectors.search(
            spec, aspect=aspect, dense=query.dense, sparse_indices=query.sparse_indices,
            sparse_values=query.sparse_values, limit=count, mode=how, filters=filters,
        )

    if spec is not KB:
        return [_result(spec, h.id, h.score, h.payload or {}, ran) for h in nearest(limit, None, ran)]
    language = detect_language(text)
    primary = {"translation": False}
    count = max(limit, KB_CANDIDATES)
    hits = nearest(count, primary, ran)
    if not hits:
        # Points written before `translation`/`section` were in the payload (until the next KB sync).
        primary, hits = {}, nearest(count, None, ran)
    if ran == "hybrid" and hits and (hits[0].payload or {}).get("language") != language:
        # Lexical terms of one language cannot match text in another (Korean bigrams against an
        # English KB): the sparse half would add only noise, measured as Korean recall@5 0.82
        # hybrid against 0.94 dense. Such a query runs dense, and its results say so.
        ran = "dense"
        hits = nearest(count, primary or None, ran)
    leads = nearest(count, {**primary, "section": 0}, ran) if aspect == "procedure" and primary else None
    return _articles(hits, leads, vectors, language, limit, ran)


def _articles(hits, leads, vectors: VectorStore, language: str, limit: int, ran: str) -> list[SearchResult]:
    best = _best_per_article(hits)
    scores = {a: hit.score for a, hit in best.items()}
    if leads is not None:
        lead_best = _best_per_article(leads)
        lead = {a: hit.score for a, hit in lead_best.items()}
        # An article missing from a list scores at most that list's last score.
        floor_best, floor_lead = min(scores.values(), default=0.0), min(lead.values(), default=0.0)
        for a, hit in lead_best.items():
            best.setdefault(a, hit)
        scores = {a: (scores.get(a, floor_best) + lead.get(a, floor_lead)) / 2 for a in best}
    top = sorted(best, key=lambda a: -scores[a])[:limit]
    shown = _in_language(vectors, [a for a in top if (best[a].payload or {}).get("language") != language], language)
    return [_result(KB, a, scores[a], shown.get(a, best[a].payload or {}), ran) for a in top]


def _best_per_article(hits) -> dict[Any, Any]:
    best: dict[Any, Any] = {}
    for hit in hits:  # best first
        best.setdefault((hit.payload or {}).get("article_id", hit.id), hit)
    return best


def _in_language(vectors: VectorStore, articles: list, language: str) -> dict[Any, dict[str, Any]]:
    """Payloads of these articles' translations into `language` (section 0), where they exist."""
    wanted = {kb_point_id(a, language): a for a in articles if isinstance(a, int)}
    found = vectors.retrieve(KB, None, list(wanted)) if wanted else {}
    return {wanted[pid]: payload for pid, payload in found.items() if pid in wanted}


# Freshdesk article status codes (solutions API): 1 draft, 2 published.
ARTICLE_STATUS = {1: "draft", 2: "published"}


def _result(spec: CollectionSpec, item_id, score: float, p: dict[str, Any], ran: str) -> SearchResult:
    title = p.get("subject") if spec is TICKETS else p.get("title")
    status = p.get("status_name") or (None if p.get("status") is None else str(p.get("status")))
    if spec is KB:
        status = ARTICLE_STATUS.get(p.get("status"), status)
    return SearchResult(spec.name, item_id, float(score), str(title or ""), status, p.get("updated_at"), p,
                        mode=ran, language=p.get("language"))

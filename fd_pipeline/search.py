"""Query text -> embedding -> hybrid (or dense) search over one collection. No Dagster here.

KB results are articles, not points: an article is several points (one per body section, and
again per translation), so the KB is searched over `KB_CANDIDATES` points and the points are
grouped by `article_id`. On the procedure aspect an article's similarity is the mean of its best
section and its lead section (section 0: title and overview), so that a long article's many
generic sections ("Before you start") do not each get a chance to win; a short article is its lead.
Points in the primary language rank the articles; translations only choose how an article is
shown: in the query's language where the article has a translation, else in its primary
language. Ranking on translations too lets a query match its own language instead of its
problem: a Korean ticket finds translated wrong articles before its untranslated right one.

Text similarity alone finds the right product but too often the wrong issue of it first (recall@1
0.63 English, 0.55 Korean on the demo desk), and a few generic articles ("Data does not sync")
sit close to every question. Resolved tickets know better: customers describe one issue in the
same words, and the agents' replies repeat the fix of the article that solved it. So a KB search
also asks the tickets collection for the resolved tickets nearest the question and scores each
article by how well it matches their resolutions (`_solved_by_neighbours`). The two scores are
put on one scale per question (standard deviations above the mean over the candidate articles)
and added, the text's two parts (best and lead section) each put on that scale before they are
added (`_text_relevance`); that sum is the result's `score`. Measured in docs/benchmarks.md
(issue 22).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from fd_pipeline.embedding import Embedder, Embedding
from fd_pipeline.documents import detect_language
from fd_pipeline.vectorstore import CollectionSpec, VectorStore
from fd_pipeline.knowledge_base.collection import KB, kb_point_id
from fd_pipeline.tickets.collection import TICKETS

# The KB's procedure (its body) matches a ticket's description far better than the title and tags
# do: recall@5 0.96/0.94 (English/Korean) against 0.83/0.51 on the demo desk, docs/benchmarks.md.
DEFAULT_ASPECT = {TICKETS.name: "symptom", KB.name: "procedure"}
KB_CANDIDATES = 200  # points searched per KB query; each article is 1..sections points per language
# The resolved tickets consulted per KB query, how sharply the nearest of them dominate (a softmax
# temperature on cosine similarity: 0.005 halves a neighbour's weight for each 0.0035 it is
# further), and the weight of their vote beside the text similarity. Chosen on the demo desk
# (bench/retrieval.py, docs/benchmarks.md issue 22) from k 5/10/20, temperature 0.005-0.05,
# weight 0.5-2: the neighbours' vote alone reaches recall@1 0.74/0.64 (en/ko), the sum 0.82/0.75.
NEIGHBOURS = 10
NEIGHBOUR_TEMPERATURE = 0.005
NEIGHBOUR_WEIGHT = 0.5
RESOLVED = (4, 5)  # ticket statuses whose resolution vector says what fixed it

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
    margin: float | None = None  # score minus the next result's (None for the last one shown)
    similarity: float | None = None  # KB: the article's text similarity alone (cosine, or RRF in hybrid)
    score_kind: str = "cosine"  # "cosine", "rrf" or "relevance" (KB: see the module docstring)

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "id": self.id, "score": self.score, "score_kind": self.score_kind,
                "margin": self.margin, "similarity": self.similarity, "title": self.title, "status": self.status,
                "updated_at": self.updated_at, "mode": self.mode, "language": self.language}


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
    exclude_tickets: Collection[int] = (),
    neighbours: int = NEIGHBOURS,
) -> list[SearchResult]:
    """The `limit` nearest tickets (or KB articles) for `text` on one aspect; each result says the mode that ran.

    `embedding`: the query's embedding if the caller already has it (`embedder.embed([text], query=True)`),
    e.g. to search with many queries embedded in one call. `exclude_tickets`: ticket ids a KB search
    must not learn from (the ticket being answered, whose own resolution would give its answer
    away); `neighbours`: resolved tickets a KB search consults (0: text similarity alone)."""
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
        hits = nearest(limit + 1, None, ran)
        kind = "rrf" if ran == "hybrid" else "cosine"
        return _with_margins([_result(spec, h.id, h.score, h.payload or {}, ran, kind=kind) for h in hits], limit)
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
    best, similarity, parts = _article_scores(hits, leads)
    solved = (_solved_by_neighbours(query, vectors, aspect, primary, exclude_tickets, neighbours)
              if aspect == "procedure" else {})
    if len(similarity) > 1 and solved:
        relevance = _text_relevance(parts)
        votes = _standardised({a: solved.get(a, min(solved.values())) for a in similarity})
        scores = {a: relevance[a] + NEIGHBOUR_WEIGHT * votes[a] for a in similarity}
        kind = "relevance"
    else:
        scores, kind = similarity, ("rrf" if ran == "hybrid" else "cosine")
    top = sorted(scores, key=lambda a: -scores[a])[:limit + 1]
    shown = _in_language(vectors, [a for a in top if (best[a].payload or {}).get("language") != language], language)
    results = [replace(_result(KB, a, scores[a], shown.get(a, best[a].payload or {}), ran, kind=kind),
                       similarity=similarity[a]) for a in top]
    return _with_margins(results, limit)


def _article_scores(hits, leads) -> tuple[dict[Any, Any], dict[Any, float], list[dict[Any, float]]]:
    """Each article's best hit, its similarity (its best section's score, or with `leads`, the
    procedure aspect, the mean of that and its lead section's) and the parts that similarity is
    made of (best section, lead section), each over every article."""
    best = _best_per_article(hits)
    scores = {a: hit.score for a, hit in best.items()}
    if leads is None:
        return best, scores, [scores]
    lead_best = _best_per_article(leads)
    lead = {a: hit.score for a, hit in lead_best.items()}
    # An article missing from a list scores at most that list's last score.
    floor_best, floor_lead = min(scores.values(), default=0.0), min(lead.values(), default=0.0)
    for a, hit in lead_best.items():
        best.setdefault(a, hit)
    parts = [{a: scores.get(a, floor_best) for a in best}, {a: lead.get(a, floor_lead) for a in best}]
    return best, {a: (parts[0][a] + parts[1][a]) / 2 for a in best}, parts


def _solved_by_neighbours(query: Embedding, vectors: VectorStore, aspect: str, primary: dict[str, Any],
                          exclude: Collection[int], k: int) -> dict[Any, float]:
    """Article -> how well it matches the resolutions of the resolved tickets nearest the query
    (each ticket's best section match, weighted by a softmax of the ticket's similarity to the
    query); empty where there are no such tickets (no tickets collection, none resolved yet)."""
    if k <= 0 or vectors.alias_target(TICKETS) is None:  # no tickets synced (yet): text similarity alone
        return {}
    excluded = {int(t) for t in exclude}
    near = vectors.search(TICKETS, aspect="symptom", dense=query.dense, limit=k + len(excluded), mode="dense",
                          filters={"status": list(RESOLVED)})
    near = [h for h in near if int((h.payload or {}).get("ticket_id", h.id)) not in excluded][:k]
    fixes = vectors.dense_vectors(TICKETS, "resolution", [h.id for h in near]) if near else {}
    near = [h for h in near if h.id in fixes]
    if not near:
        return {}
    sims = np.array([h.score for h in near], dtype=np.float64)
    weights = np.exp((sims - sims.max()) / NEIGHBOUR_TEMPERATURE)
    weights /= weights.sum()
    per_ticket = []
    for hit in near:
        matched = _best_per_article(vectors.search(KB, aspect=aspect, dense=fixes[hit.id], limit=KB_CANDIDATES,
                                                   mode="dense", filters=primary or None))
        per_ticket.append({a: h.score for a, h in matched.items()})
    articles = set().union(*per_ticket)
    # An article missing from a ticket's list scores at most that list's last score.
    floors = [min(m.values(), default=0.0) for m in per_ticket]
    return {a: float(sum(w * m.get(a, f) for w, m, f in zip(weights, per_ticket, floors))) for a in articles}


def _text_relevance(parts: list[dict[Any, float]]) -> dict[Any, float]:
    """The text similarity on the standard-score scale, each of its parts (best section, lead
    section) standardised before they are added: the mean of the raw cosines lets the part with the
    wider spread over the articles, the best section, outvote the lead, which is what carries a
    Korean question (alone, the best section puts the right article first for 0.46 of them, the
    lead for 0.55; docs/benchmarks.md, issue 22)."""
    total: dict[Any, float] = {}
    for part in parts:
        for a, v in _standardised(part).items():
            total[a] = total.get(a, 0.0) + v
    return _standardised(total)


def _standardised(scores: dict[Any, float]) -> dict[Any, float]:
    values = np.array(list(scores.values()), dtype=np.float64)
    spread = values.std() or 1.0
    return {a: float((v - values.mean()) / spread) for a, v in scores.items()}


def _with_margins(results: list[SearchResult], limit: int) -> list[SearchResult]:
    """The first `limit` results, each with its lead over the next (which may be one not shown)."""
    return [replace(r, margin=(r.score - results[n + 1].score) if n + 1 < len(results) else None)
            for n, r in enumerate(results[:limit])]


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


def _result(spec: CollectionSpec, item_id, score: float, p: dict[str, Any], ran: str, *, kind: str = "cosine") -> SearchResult:
    title = p.get("subject") if spec is TICKETS else p.get("title")
    status = p.get("status_name") or (None if p.get("status") is None else str(p.get("status")))
    if spec is KB:
        status = ARTICLE_STATUS.get(p.get("status"), status)
    return SearchResult(spec.name, item_id, float(score), str(title or ""), status, p.get("updated_at"), p,
                        mode=ran, language=p.get("language"), score_kind=kind)

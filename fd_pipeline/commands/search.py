"""`fd-pipeline search "text"`: hybrid search over the tickets (or KB) collection.

Hybrid fuses the dense vectors with the sparse ones (bge-m3's own, or the lexical BM25 vectors
of a model that has none); the output says which mode ran, since a model or query with no
sparse vector runs dense. KB results are articles, in the query's language where translated.
"""

from __future__ import annotations

import argparse
import json

from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

ASPECTS = sorted(set(TICKETS.aspects) | set(KB.aspects))


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="find similar tickets or KB procedures", description=__doc__)
    p.add_argument("text", help="the question or problem, in words")
    p.add_argument("--kb", action="store_true", help="search kb_procedures instead of support_tickets")
    p.add_argument("--aspect", choices=ASPECTS,
                   help="which vector: symptom|cause|resolution (tickets, default symptom), intent|procedure (KB, default procedure)")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--dense", action="store_true", help="dense only, no sparse (hybrid is the default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = search_env(args.text, kb=args.kb, aspect=args.aspect, limit=args.limit, mode="dense" if args.dense else "hybrid")
    if args.json:
        # Each result carries score_kind (what the score is), margin (its lead over the next) and, for
        # the KB, similarity (the text similarity alone); non-ASCII text stays text.
        print(json.dumps([r.as_dict() for r in results], indent=2, default=str, ensure_ascii=False))
    else:
        print(render(results))
    return 0


def search_env(text: str, **kwargs):
    """Search with the embedder and Qdrant the environment configures (FD_EMBED_*, QDRANT_*): the
    code location's own resources."""
    from fd_pipeline.resources import configured
    from fd_pipeline.search import search

    with configured("embedder").open() as embedder, configured("qdrant").open() as vectors:
        return search(text, embedder=embedder, vectors=vectors, **kwargs)


MODES = {"hybrid": "hybrid search (dense + sparse)", "dense": "dense search"}
# What the number is, per kind of score (SearchResult.score_kind); the README says the same.
SCORES = {
    "cosine": "score: cosine similarity of the question and the item's text (1: same meaning; unrelated "
              "texts still score about 0.7-0.8 with these models, so read the lead over the next hit)",
    "rrf": "score: reciprocal-rank fusion of the dense and sparse rankings (order only, not a similarity)",
    "relevance": "score: standard deviations above the average KB article for this question, from the text "
                 "similarity plus the articles that solved the most similar resolved tickets",
}
LEAD = ("lead: how far a hit is ahead of the next; on the demo desk the first KB hit was right for 92% of "
        "questions with a lead of 1 or more, about half with a lead under 0.25")


def render(results) -> str:
    if not results:
        return "no results"
    kind = results[0].score_kind
    lines = [f"{MODES.get(results[0].mode, results[0].mode)}; {SCORES.get(kind, kind)}"]
    if kind == "relevance":
        lines.append(LEAD)
    lines.append(f"{'score':>7}  {'lead':>6}  {'id':>12}  {'lang':<4}  {'status':<8} title")
    lines.extend(f"{r.score:7.3f}  {'' if r.margin is None else f'{r.margin:6.3f}':>6}  {str(r.id):>12}  "
                 f"{(r.language or ''):<4}  {(r.status or ''):<8} {r.title}" for r in results)
    return "\n".join(lines)

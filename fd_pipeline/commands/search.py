"""`fd-pipeline search "text"`: hybrid search over the tickets (or KB) collection."""

from __future__ import annotations

import argparse
import json

from fd_pipeline.vectorstore import KB, TICKETS

ASPECTS = sorted(set(TICKETS.aspects) | set(KB.aspects))


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="find similar tickets or KB procedures", description=__doc__)
    p.add_argument("text", help="the question or problem, in words")
    p.add_argument("--kb", action="store_true", help="search kb_procedures instead of support_tickets")
    p.add_argument("--aspect", choices=ASPECTS, help="which vector: symptom|cause|resolution (tickets), intent|procedure (KB)")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--dense", action="store_true", help="dense only, no sparse (hybrid is the default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = search_env(args.text, kb=args.kb, aspect=args.aspect, limit=args.limit, mode="dense" if args.dense else "hybrid")
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2, default=str))
    else:
        print(render(results))
    return 0


def search_env(text: str, **kwargs):
    """Search with the embedder and Qdrant the environment configures (FD_EMBED_*, QDRANT_*)."""
    from fd_pipeline.embedding import Embedder, EmbedderConfig
    from fd_pipeline.search import search
    from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig

    vectors = VectorStore(VectorStoreConfig.from_env())
    try:
        return search(text, embedder=Embedder(EmbedderConfig.from_env()), vectors=vectors, **kwargs)
    finally:
        vectors.close()


def render(results) -> str:
    if not results:
        return "no results"
    lines = [f"{'score':>7}  {'id':>10}  {'status':<10} title"]
    lines.extend(f"{r.score:7.4f}  {str(r.id):>10}  {(r.status or ''):<10} {r.title}" for r in results)
    return "\n".join(lines)

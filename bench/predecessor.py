"""The predecessor's way of syncing, rebuilt for a like-for-like comparison.

The old FastAPI sync walked the updated tickets and, per ticket in sequence: embedded it with
one encode call, upserted one point, and inserted one `sync_logs` row (its own commit). Here it
reads the same data as the pipeline (conversations included, so each ticket has the same three
texts) and writes the same vectors (dense + sparse) to a separate collection of the same kind of
store, so the only difference left is the per-item, unbatched, uncached flow.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa

from fd_pipeline.embedding import Embedding
from fd_pipeline.freshdesk import FreshdeskClient, MalformedItem
from fd_pipeline.knowledge_base.texts import article_documents, article_record
from fd_pipeline.tickets.texts import ticket_document, ticket_record
from fd_pipeline.vectorstore import CollectionSpec, Point, VectorStore
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

LEGACY_TICKETS = CollectionSpec("legacy_support_tickets", aspects=TICKETS.aspects)
LEGACY_KB = CollectionSpec("legacy_kb_procedures", aspects=KB.aspects)

_META = sa.MetaData()
SYNC_LOGS = sa.Table(
    "sync_logs",
    _META,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("collection", sa.Text, nullable=False, index=True),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("item_type", sa.Text, nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


def _embeddings(output: dict, count: int, max_tokens: int, token_counts: list[int]) -> list[Embedding]:
    dense = np.asarray(output["dense_vecs"], dtype=np.float32).reshape(count, -1)
    out = []
    for i in range(count):
        pairs = sorted((int(k), float(v)) for k, v in output["lexical_weights"][i].items())
        out.append(
            Embedding(
                dense=dense[i],
                sparse_indices=tuple(k for k, _ in pairs),
                sparse_values=tuple(v for _, v in pairs),
                tokens=min(token_counts[i], max_tokens),
                truncated=token_counts[i] > max_tokens,
            )
        )
    return out


def sync_like_predecessor(
    *,
    client: FreshdeskClient,
    flag_model,
    identity,
    vector_store: VectorStore,
    log_url: str,
    start: datetime,
    end: datetime,
    batch_size: int,
    max_tokens: int,
) -> dict:
    """Tickets updated in [start, end) and every published article, one item at a time."""
    engine = sa.create_engine(log_url)
    _META.create_all(engine)
    vector_store.ensure_collection(LEGACY_TICKETS, identity)
    vector_store.ensure_collection(LEGACY_KB, identity)
    tokenizer = flag_model.tokenizer
    seconds = {"embed": 0.0, "write": 0.0, "log": 0.0, "conversations": 0.0}
    counts = {"tickets": 0, "articles": 0, "texts": 0, "tokens": 0, "encode_calls": 0, "upserts": 0, "log_inserts": 0}

    def one(doc, spec: CollectionSpec, item_type: str) -> None:
        aspects = list(doc.texts)
        texts = [doc.texts[a] for a in aspects]
        if texts:
            t0 = time.perf_counter()
            lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]
            output = flag_model.encode(texts, batch_size=batch_size, max_length=max_tokens)
            vectors = dict(zip(aspects, _embeddings(output, len(texts), max_tokens, lengths)))
            seconds["embed"] += time.perf_counter() - t0
            counts["texts"] += len(texts)
            counts["tokens"] += sum(min(n, max_tokens) for n in lengths)
            counts["encode_calls"] += 1
            t0 = time.perf_counter()
            vector_store.upsert(spec, identity, [Point(id=doc.point_id, vectors=vectors, payload=doc.payload)])
            seconds["write"] += time.perf_counter() - t0
            counts["upserts"] += 1
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                SYNC_LOGS.insert().values(
                    id=str(uuid.uuid4()), collection=spec.name, item_id=doc.item_id, item_type=item_type,
                    synced_at=datetime.now(UTC),
                )
            )
        seconds["log"] += time.perf_counter() - t0
        counts["log_inserts"] += 1

    started = time.perf_counter()
    for ticket in client.iter_tickets_updated(start=start, end=end):
        if isinstance(ticket, MalformedItem):
            continue
        t0 = time.perf_counter()
        conversations = client.list_conversations(ticket.id)
        seconds["conversations"] += time.perf_counter() - t0
        one(ticket_document(ticket_record(ticket, conversations), removed=False), LEGACY_TICKETS, "ticket")
        counts["tickets"] += 1
    for article in client.iter_kb_articles():
        if isinstance(article, MalformedItem) or article.status != 2:
            continue
        one(article_documents(article_record(article), removed=False)[0], LEGACY_KB, "kb_article")
        counts["articles"] += 1
    wall = time.perf_counter() - started
    engine.dispose()
    seconds = {k: round(v, 3) for k, v in seconds.items()}
    # Listing pages and conversation reads together: what is left once the per-item work is out.
    seconds["fetch"] = round(wall - seconds["embed"] - seconds["write"] - seconds["log"], 3)
    return {"wall_s": round(wall, 3), "seconds": seconds, "counts": counts, "api": client.stats.as_dict()}

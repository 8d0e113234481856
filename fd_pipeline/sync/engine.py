"""Embed and write documents in large batches; record every item's outcome in the sync log.

Both domains share this: the assets only decide which documents are in scope.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fd_pipeline.embedding import Embedder, Embedding, EmbeddingFailure
from fd_pipeline.sync_state import ItemResult, StoredEmbedding, SyncStore
from fd_pipeline.vectorstore import CollectionSpec, Point, VectorStore

from .documents import Document

log = logging.getLogger(__name__)
MAX_ERRORS_KEPT = 20


@dataclass
class Report:
    """Counts for run metadata; keys stay the same from run to run so the UI can plot them."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def time(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def error(self, item_id: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{item_id}: {message}")


def batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _hashes(embedder: Embedder, doc: Document) -> dict[str, str]:
    return {aspect: embedder.content_hash(text) for aspect, text in doc.texts.items()}


def embed_documents(
    docs: Iterable[Document],
    *,
    embedder: Embedder,
    sync_store: SyncStore,
    collection: str,
    item_type: str,
    run_id: str | None,
    partition_key: str | None,
    batch_size: int = 512,
    report: Report | None = None,
    progress: Callable[[str], None] = log.info,
) -> Report:
    """Embed every text whose content hash is not cached yet, many documents per encode call."""
    report = report or Report()
    model = embedder.identity.key
    for chunk in batched((d for d in docs if not d.removed), batch_size):
        by_hash: dict[str, str] = {}
        owners: dict[str, list[Document]] = {}
        for doc in chunk:
            for aspect, h in _hashes(embedder, doc).items():
                by_hash[h] = doc.texts[aspect]
                owners.setdefault(h, []).append(doc)
        report.add("documents", len(chunk))
        report.add("texts", sum(len(d.texts) for d in chunk))
        cached = sync_store.existing_hashes(by_hash)
        missing = [h for h in by_hash if h not in cached]
        report.add("cache_hits", len(by_hash) - len(missing))
        if not missing:
            continue
        started = time.perf_counter()
        results = embedder.embed([by_hash[h] for h in missing])
        report.time("embed", time.perf_counter() - started)
        stored: list[StoredEmbedding] = []
        failures: dict[str, ItemResult] = {}
        for h, result in zip(missing, results, strict=True):
            if isinstance(result, Embedding):
                stored.append(
                    StoredEmbedding(h, model, result.dense, result.sparse_indices, result.sparse_values, result.tokens, result.truncated)
                )
                report.add("tokens", result.tokens)
                report.add("truncated", int(result.truncated))
            elif isinstance(result, EmbeddingFailure):
                for doc in owners[h]:
                    failures[doc.item_id] = ItemResult(
                        doc.item_id, "failed", doc.source_updated_at, error=f"embedding failed: {result.error}", stage="embed"
                    )
        report.add("embedded", len(stored))
        progress(
            f"{collection}: {report.counts.get('documents', 0)} documents, "
            f"{report.counts.get('embedded', 0)} texts embedded, {report.counts.get('cache_hits', 0)} cached"
        )
        started = time.perf_counter()
        sync_store.put_embeddings(stored)
        if failures:
            sync_store.record_results(collection, item_type, list(failures.values()), run_id=run_id, partition_key=partition_key)
            for failure in failures.values():
                report.error(failure.item_id, failure.error or "")
            report.add("failed", len(failures))
        report.time("store", time.perf_counter() - started)
    return report


def write_documents(
    docs: Iterable[Document],
    *,
    embedder: Embedder,
    sync_store: SyncStore,
    vector_store: VectorStore,
    spec: CollectionSpec,
    item_type: str,
    run_id: str | None,
    partition_key: str | None,
    batch_size: int = 512,
    report: Report | None = None,
    progress: Callable[[str], None] = log.info,
) -> Report:
    """Upsert new and changed points, delete removed ones, and log every item's outcome.

    A point whose stored hashes and payload equal the document's is left alone; the sync log
    still records it, so a re-run converges to the same state and repairs a wiped collection.
    """
    report = report or Report()
    identity = embedder.identity
    collection = spec.name
    for chunk in batched(docs, batch_size):
        results: list[ItemResult] = []
        removed = [d for d in chunk if d.removed]
        live = [d for d in chunk if not d.removed]
        started = time.perf_counter()
        if removed:
            vector_store.delete(spec, identity, [d.point_id for d in removed])
            report.add("deleted", len(removed))
            results += [ItemResult(d.item_id, "deleted", d.source_updated_at) for d in removed]
        hashes = {d.item_id: _hashes(embedder, d) for d in live}
        vectors = sync_store.get_embeddings(h for hs in hashes.values() for h in hs.values())
        existing = vector_store.retrieve(spec, identity, [d.point_id for d in live]) if live else {}
        prior_failures = {
            s.item_id: s for s in sync_store.get_items(collection, [d.item_id for d in live]).values() if s.status == "failed"
        }
        points: list[Point] = []
        for doc in live:
            doc_hashes = hashes[doc.item_id]
            lacking = [aspect for aspect, h in doc_hashes.items() if h not in vectors]
            if lacking:
                prior = prior_failures.get(doc.item_id)
                if not (prior and prior.stage == "embed" and prior.source_updated_at == doc.source_updated_at):
                    message = f"no embedding for {', '.join(lacking)}"
                    results.append(ItemResult(doc.item_id, "failed", doc.source_updated_at, error=message, stage="write"))
                    report.error(doc.item_id, message)
                report.add("failed")
                continue
            payload = {**doc.payload, "content_hashes": doc_hashes, "payload_hash": doc.payload_hash, "model": identity.key}
            current = existing.get(doc.point_id)
            if current is None:
                report.add("new")
            elif _same(current, payload):
                report.add("unchanged")
            else:
                report.add("changed")
            if current is None or not _same(current, payload):
                points.append(Point(id=doc.point_id, vectors={a: vectors[h] for a, h in doc_hashes.items()}, payload=payload))
            results.append(
                ItemResult(
                    doc.item_id,
                    "synced",
                    doc.source_updated_at,
                    content_hashes=doc_hashes,
                    payload_hash=doc.payload_hash,
                    model=identity.key,
                )
            )
        if points:
            report.add("upserted", vector_store.upsert(spec, identity, points))
        report.time("write", time.perf_counter() - started)
        started = time.perf_counter()
        sync_store.record_results(collection, item_type, results, run_id=run_id, partition_key=partition_key)
        report.time("log", time.perf_counter() - started)
        progress(
            f"{collection}: {report.counts.get('new', 0)} new, {report.counts.get('changed', 0)} changed, "
            f"{report.counts.get('unchanged', 0)} unchanged, {report.counts.get('deleted', 0)} deleted, "
            f"{report.counts.get('failed', 0)} failed"
        )
    return report


def _same(current: dict[str, Any], payload: dict[str, Any]) -> bool:
    return (
        current.get("content_hashes") == payload["content_hashes"]
        and current.get("payload_hash") == payload["payload_hash"]
        and current.get("model") == payload["model"]
    )


def record_failures(
    store: SyncStore, collection: str, item_type: str, failures: list[ItemResult], report: Report, *, run_id, partition_key
) -> None:
    if failures:
        store.record_results(collection, item_type, failures, run_id=run_id, partition_key=partition_key)
        report.add("failed", len(failures))
        for f in failures:
            report.error(f.item_id, f.error or "")


def promote_when_complete(vector_store: VectorStore, store: SyncStore, spec: CollectionSpec, identity) -> bool:
    """Point the public alias at this model's collection once no synced item is left on another model."""
    if vector_store.alias_target(spec) == vector_store.physical_name(spec, identity):
        return False
    if store.stale_model_ids(spec.name, identity.key):
        return False
    vector_store.promote(spec, identity)
    log.info("%s now serves model %s", spec.name, identity.key)
    return True


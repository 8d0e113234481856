"""Embed and write documents in large batches; record every item's outcome in the sync log.

Both domains share this: the assets only decide which documents are in scope. The embedding
step hashes each document it is given, embeds what the cache lacks and keeps the documents in the
sync log; the writing step takes kept documents as they are (no parsing, no hashing, no model).
Failures of every stage reach the sync log through `record_failures`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fd_pipeline.documents import Document, hash_basis
from fd_pipeline.embedding import Embedder, Embedding, EmbeddingFailure, ModelIdentity
from fd_pipeline.sync_log import ItemResult, SyncLog
from fd_pipeline.vectorstore import CollectionSpec, Point, VectorStore

from .reports import EmbedReport, StepReport, WriteReport

log = logging.getLogger(__name__)
# A long step says what it is doing at least this often (seconds).
PROGRESS_EVERY_S = 10.0


def batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Heartbeat:
    """Logs what a step is doing every `every` seconds while it runs, from a background thread, so a
    long encode or write call never leaves the run silent."""

    def __init__(self, progress: Callable[[str], None], status: Callable[[str, float], str], every: float = PROGRESS_EVERY_S):
        self._progress, self._status, self._every = progress, status, every
        self._doing, self._since = "starting", time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="fd-progress", daemon=True)

    def doing(self, what: str) -> None:
        self._doing, self._since = what, time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            self._progress(self._status(self._doing, time.monotonic() - self._since))

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _for(seconds: float | None) -> str:
    return "" if seconds is None else f" for {seconds:.0f} s"


def embed_documents(
    docs: Iterable[Document],
    *,
    embedder: Embedder,
    sync_log: SyncLog,
    collection: str,
    item_type: str,
    run_id: str | None,
    partition_key: str | None,
    batch_size: int = 512,
    whole: bool = False,
    report: EmbedReport | None = None,
    progress: Callable[[str], None] = log.info,
    progress_every: float = PROGRESS_EVERY_S,
) -> EmbedReport:
    """Hash every document, embed each text whose content hash is not cached yet (many documents
    per encode call), and keep the hashed documents, removed ones included, for the writing step.

    With `whole` the documents are all of the collection: kept documents not among them are dropped.
    """
    report = report if report is not None else EmbedReport(item_type=item_type)
    basis = hash_basis(embedder.identity)
    built: set[str] = set()

    def status(doing: str, seconds: float | None = None) -> str:
        c = report.counts
        return (f"{collection}: {doing}{_for(seconds)}; so far {c['documents']} documents, "
                f"{c['embedded']} texts embedded, {c['cached']} cached, {c['deduplicated']} duplicates")

    with Heartbeat(progress, status, progress_every) as beat:
        for chunk in batched((d.hashed(embedder.content_hash, basis) for d in docs), batch_size):
            built.update(d.item_id for d in chunk)
            failures: list[ItemResult] = []
            _embed_missing([d for d in chunk if not d.removed], embedder, sync_log, report, beat, failures)
            started = time.perf_counter()
            sync_log.put_documents(collection, chunk, run_id=run_id, partition_key=partition_key)
            record_failures(sync_log, collection, item_type, failures, report, run_id=run_id, partition_key=partition_key)
            report.time("store", time.perf_counter() - started)
            progress(status("batch embedded"))
            beat.doing("reading documents")
        if whole:
            sync_log.drop_documents(collection, sync_log.document_ids(collection) - built)
    return report


def _embed_missing(
    chunk: list[Document], embedder: Embedder, sync_log: SyncLog, report: EmbedReport, beat: Heartbeat, failures: list[ItemResult]
) -> None:
    """Embed and cache the texts of `chunk` the cache lacks; documents whose text failed go to `failures`."""
    by_hash: dict[str, str] = {}
    owners: dict[str, list[Document]] = {}
    for doc in chunk:
        at = doc.source_updated_at
        report.add("documents", at=at)
        report.add("texts", len(doc.texts), at=at)
        for aspect, h in doc.content_hashes.items():
            if h in by_hash:
                report.add("deduplicated", at=at)
            by_hash[h] = doc.texts[aspect]
            owners.setdefault(h, []).append(doc)
    cached = sync_log.existing_hashes(by_hash)
    for h in cached:
        report.add("cached", at=owners[h][0].source_updated_at)
    missing = [h for h in by_hash if h not in cached]
    if not missing:
        return
    beat.doing(f"embedding {len(missing)} texts")
    started = time.perf_counter()
    results = embedder.embed([by_hash[h] for h in missing])
    report.time("embed", time.perf_counter() - started)
    beat.doing("storing embeddings")
    stored: dict[str, Embedding] = {}
    failed: dict[str, ItemResult] = {}
    for h, result in zip(missing, results, strict=True):
        at = owners[h][0].source_updated_at
        if isinstance(result, Embedding):
            stored[h] = result
            report.add("embedded", at=at)
            report.add("tokens", result.tokens, at=at)
            report.add("truncated", int(result.truncated), at=at)
        elif isinstance(result, EmbeddingFailure):
            for doc in owners[h]:
                failed[doc.item_id] = ItemResult(
                    doc.item_id, "failed", doc.source_updated_at, error=f"embedding failed: {result.error}", stage="embed"
                )
    started = time.perf_counter()
    sync_log.put_embeddings(embedder.identity.key, stored)
    report.time("store", time.perf_counter() - started)
    failures.extend(failed.values())


def write_documents(
    docs: Iterable[Document],
    *,
    identity: ModelIdentity,
    sync_log: SyncLog,
    vector_store: VectorStore,
    spec: CollectionSpec,
    whole: bool = False,
    item_type: str,
    run_id: str | None,
    partition_key: str | None,
    batch_size: int = 512,
    report: WriteReport | None = None,
    progress: Callable[[str], None] = log.info,
    progress_every: float = PROGRESS_EVERY_S,
) -> WriteReport:
    """Upsert new and changed points, delete removed ones, and log every item's outcome.

    `docs` are kept documents (hashed by the embedding step); one hashed for another model than
    `identity` (or another token limit) has no vectors here. A point whose stored hashes and
    payload equal the document's is left alone; the sync log still records it, so a re-run
    converges to the same state and repairs a wiped collection. With `whole` the documents are
    the whole collection, which is reconciled with them: any point they do not account for leaves
    it (the KB is listed whole every run, tickets only by window).
    """
    report = report if report is not None else WriteReport(item_type=item_type)
    collection = spec.name
    basis = hash_basis(identity)
    live_ids: set = set()  # points the documents account for, superseded ones included

    def status(doing: str, seconds: float | None = None) -> str:
        c = report.counts
        return (f"{collection}: {doing}{_for(seconds)}; so far {c['new']} new, {c['changed']} changed, "
                f"{c['unchanged']} unchanged, {c['deleted']} deleted, {c['failed_write']} failed")

    with Heartbeat(progress, status, progress_every) as beat:
        for chunk in batched(docs, batch_size):
            beat.doing(f"writing a batch of {len(chunk)} documents")
            live_ids.update(d.point_id for d in chunk if not d.removed)
            results: list[ItemResult] = []
            failures: list[ItemResult] = []
            known = sync_log.get_items(collection, [d.item_id for d in chunk])
            chunk = _not_superseded(chunk, known, report)
            removed = [d for d in chunk if d.removed]
            live = [d for d in chunk if not d.removed]
            started = time.perf_counter()
            if removed:
                vector_store.delete(spec, identity, [d.point_id for d in removed])
                for d in removed:
                    report.add("deleted", at=d.source_updated_at)
                results += [ItemResult(d.item_id, "deleted", d.source_updated_at) for d in removed]
            vectors = sync_log.get_embeddings(h for d in live if d.hashed_for == basis for h in d.content_hashes.values())
            existing = vector_store.retrieve(spec, identity, [d.point_id for d in live]) if live else {}
            prior_failures = {d.item_id: known[d.item_id] for d in live if d.item_id in known and known[d.item_id].status == "failed"}
            points: list[Point] = []
            for doc in live:
                at = doc.source_updated_at
                hashes = doc.content_hashes if doc.hashed_for == basis else {}
                lacking = [aspect for aspect in doc.texts if hashes.get(aspect) not in vectors]
                if lacking:
                    prior = prior_failures.get(doc.item_id)
                    if prior and prior.stage == "embed" and prior.source_updated_at == doc.source_updated_at:
                        report.add("failed_write", at=at)  # its embedding failure is already logged
                    else:
                        failures.append(ItemResult(doc.item_id, "failed", at, error=f"no embedding for {', '.join(lacking)}", stage="write"))
                    continue
                payload = {**doc.payload, "content_hashes": hashes, "payload_hash": doc.payload_hash, "model": identity.key}
                current = existing.get(doc.point_id)
                if current is not None and _same(current, payload):
                    report.add("unchanged", at=at)
                else:
                    report.add("new" if current is None else "changed", at=at)
                    report.add("upserted", at=at)
                    points.append(Point(id=doc.point_id, vectors={a: vectors[h] for a, h in hashes.items()}, payload=payload))
                results.append(
                    ItemResult(doc.item_id, "synced", at, content_hashes=hashes, payload_hash=doc.payload_hash, model=identity.key)
                )
            if points:
                vector_store.upsert(spec, identity, points)
            report.time("write", time.perf_counter() - started)
            started = time.perf_counter()
            sync_log.record_results(collection, item_type, results, run_id=run_id, partition_key=partition_key)
            record_failures(sync_log, collection, item_type, failures, report, run_id=run_id, partition_key=partition_key)
            report.time("log", time.perf_counter() - started)
            progress(status("batch written"))
    if whole:
        stray = [pid for pid in vector_store.scroll_ids(spec, identity) if pid not in live_ids]
        vector_store.delete(spec, identity, stray)
        report.add("deleted", len(stray))  # no document, so no hour of its own: the range's last
    return report


def _not_superseded(chunk: list[Document], known: dict, report: WriteReport) -> list[Document]:
    """The documents no run has written a newer version of.

    Ranges of a backfill run at once and finish in any order: a ticket that moved hours between
    two ranges' fetches may reach the writer from the older range after the newer one wrote it.
    The item log holds the newest version written (it never regresses), so an older document is
    left out and counted as superseded instead of putting the old point back.
    """
    kept = []
    for doc in chunk:
        state = known.get(doc.item_id)
        if state is not None and state.source_updated_at is not None and state.source_updated_at > doc.source_updated_at:
            report.add("superseded", at=doc.source_updated_at)
        else:
            kept.append(doc)
    return kept


def _same(current: dict[str, Any], payload: dict[str, Any]) -> bool:
    return (
        current.get("content_hashes") == payload["content_hashes"]
        and current.get("payload_hash") == payload["payload_hash"]
        and current.get("model") == payload["model"]
    )


def record_failures(
    store: SyncLog, collection: str, item_type: str, failures: list[ItemResult], report: StepReport, *, run_id, partition_key
) -> None:
    """Log items that failed in this stage and count them as the stage's failures: the one way
    a failure of any stage (fetch, parse, embed, write) reaches the sync log."""
    if failures:
        store.record_results(collection, item_type, failures, run_id=run_id, partition_key=partition_key)
        for f in failures:
            report.fail(f.item_id, f.error or "", at=f.source_updated_at)


def promote_when_complete(vector_store: VectorStore, store: SyncLog, spec: CollectionSpec, identity) -> bool:
    """Point the public alias at this model's collection once no synced item is left on another model."""
    if vector_store.alias_target(spec) == vector_store.physical_name(spec, identity):
        return False
    if store.stale_model_ids(spec.name, identity.key):
        return False
    vector_store.promote(spec, identity)
    log.info("%s now serves model %s", spec.name, identity.key)
    return True


"""What every asset of this project does around its recipe: the partition scope, run bookkeeping
in the sync log, and metadata whose numeric keys stay the same from run to run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from fd_pipeline.freshdesk import ApiStats
from fd_pipeline.partitions import check_range
from fd_pipeline.resources import EmbedderResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.documents import Document
from fd_pipeline.sync.engine import Report, embed_documents, promote_when_complete, record_failures, write_documents
from fd_pipeline.sync_state import ItemResult, SyncStore
from fd_pipeline.vectorstore import CollectionSpec

COUNT_KEYS = (
    "fetched", "new", "changed", "unchanged", "removed", "deleted", "failed", "retried",
    "conversation_calls", "documents", "texts", "embedded", "cache_hits", "tokens", "truncated", "upserted",
)
SECOND_KEYS = ("fetch", "embed", "store", "write", "log")


@dataclass(frozen=True)
class Scope:
    start: datetime
    end: datetime
    partition_key: str
    first: str
    last: str


def scope_of(context: dg.AssetExecutionContext) -> Scope:
    keys = context.partition_key_range
    check_range(keys.start, keys.end)
    window = context.partition_time_window
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return Scope(window.start, window.end, label, keys.start, keys.end)


@contextmanager
def tracked_run(store: SyncStore, collection: str, context: dg.AssetExecutionContext, scope: Scope) -> Iterator[dict]:
    """Record the materialisation in sync_runs: success with counts, or failure with the error."""
    run_pk = store.start_run(collection, run_id=context.run_id, partition_start=scope.first, partition_end=scope.last,
                             dagster_instance=context.instance)
    holder: dict = {}
    try:
        yield holder
    except Exception as exc:
        try:
            store.finish_run(run_pk, status="failure", error=str(exc)[:2000])
        except Exception:  # the store itself may be what failed
            context.log.warning("could not record the failed run in the sync log")
        raise
    store.finish_run(run_pk, status="success", counts=holder.get("counts"))


def metadata(report: Report, *, api: ApiStats | None = None, extra: dict | None = None) -> dict:
    md: dict = {f"count_{k}": dg.MetadataValue.int(report.counts.get(k, 0)) for k in COUNT_KEYS}
    md.update({f"seconds_{k}": dg.MetadataValue.float(round(report.seconds.get(k, 0.0), 3)) for k in SECOND_KEYS})
    embed_s = report.seconds.get("embed", 0.0)
    md["texts_per_second"] = dg.MetadataValue.float(round(report.counts.get("embedded", 0) / embed_s, 2) if embed_s else 0.0)
    if api is not None:
        md["api_calls"] = dg.MetadataValue.int(api.calls)
        md["api_credits"] = dg.MetadataValue.int(api.credits)
        md["api_throttled"] = dg.MetadataValue.int(api.throttled)
        md["api_retries"] = dg.MetadataValue.int(api.retries)
        md["api_wait_seconds"] = dg.MetadataValue.float(round(api.waited_s, 3))
    md["first_errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors) or "none")
    md.update(extra or {})
    return md


def check_failure_ratio(report: Report, ratio: float, what: str) -> None:
    failed = report.counts.get("failed", 0)
    total = max(1, report.counts.get("documents", 0) + report.counts.get("fetched", 0) + report.counts.get("deleted", 0))
    if failed and failed / total > ratio:
        raise dg.Failure(
            description=f"{failed} of {total} {what} failed (more than FD_MAX_FAILURE_RATIO={ratio}); "
            "the rest is synced and the failures are in the sync log for the next run to retry",
            metadata=metadata(report),
        )


# Documents in scope for a run: (store, partition scope, model key, failures sink or None) -> documents.
DocumentSource = Callable[[SyncStore, Scope, str, list[ItemResult] | None], Iterable[Document]]


def embedding_step(
    context: dg.AssetExecutionContext,
    *,
    spec: CollectionSpec,
    item_type: str,
    documents: DocumentSource,
    embedder: EmbedderResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The body of both `*_embeddings` assets: embed what is not cached, record what failed."""
    scope = scope_of(context)
    model = embedder.get()
    run = {"run_id": context.run_id, "partition_key": scope.partition_key}
    with sync_log.open() as store:
        failures: list[ItemResult] = []
        report = embed_documents(
            documents(store, scope, model.identity.key, failures),
            embedder=model, sync_store=store, collection=spec.name, item_type=item_type,
            batch_size=sync_settings.batch(), progress=context.log.info, **run,
        )
        record_failures(store, spec.name, item_type, failures, report, **run)
    check_failure_ratio(report, sync_settings.failure_ratio(), f"{item_type} texts")
    return dg.MaterializeResult(metadata=metadata(report, extra={"model": model.identity.key}))


def collection_step(
    context: dg.AssetExecutionContext,
    *,
    spec: CollectionSpec,
    item_type: str,
    documents: DocumentSource,
    embedder: EmbedderResource,
    qdrant: QdrantResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
    remove_strays: bool = False,
) -> dg.MaterializeResult:
    """The body of both collection assets: write changed points, delete removed ones, log every item.

    With `remove_strays` the whole collection is reconciled: any point the documents do not
    account for leaves it (the KB is listed whole every run, tickets only by window).
    """
    scope = scope_of(context)
    model = embedder.get()
    with sync_log.open() as store, qdrant.open() as vectors:
        with tracked_run(store, spec.name, context, scope) as run:
            vectors.ensure_collection(spec, model.identity)
            live: set = set()

            def remember(docs: Iterable[Document]) -> Iterator[Document]:
                for doc in docs:
                    if not doc.removed:
                        live.add(doc.point_id)
                    yield doc

            report = write_documents(
                remember(documents(store, scope, model.identity.key, None)),
                embedder=model, sync_store=store, vector_store=vectors, spec=spec, item_type=item_type,
                run_id=context.run_id, partition_key=scope.partition_key, batch_size=sync_settings.batch(),
                progress=context.log.info,
            )
            if remove_strays:
                stray = [pid for pid in vectors.scroll_ids(spec, model.identity) if pid not in live]
                vectors.delete(spec, model.identity, stray)
                report.add("deleted", len(stray))
            promoted = promote_when_complete(vectors, store, spec, model.identity)
            run["counts"] = report.counts
            points = vectors.count(spec)
    check_failure_ratio(report, sync_settings.failure_ratio(), f"{item_type}s")
    return dg.MaterializeResult(
        metadata=metadata(report, extra={"points": dg.MetadataValue.int(points), "model": model.identity.key, "alias_moved": promoted})
    )

"""The bodies of the embeddings and collection assets, shared by every domain: build or read the
documents in scope, embed or write them, record the outcome in the sync log, publish the figures."""

import dagster as dg

from fd_pipeline import catalog
from fd_pipeline.domain import Domain
from fd_pipeline.resources import EmbedderResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.run_metadata import check_failure_ratio, finish, publish, run_figures
from fd_pipeline.run_scope import scope_of, sole_holder
from fd_pipeline.sync.engine import embed_documents, promote_when_complete, record_failures, write_documents
from fd_pipeline.sync.reports import EmbedReport, WriteReport
from fd_pipeline.sync_log import ItemResult, SyncLog


def embedding_step(
    context: dg.AssetExecutionContext,
    domain: Domain,
    *,
    embedder: EmbedderResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The body of every `*_embeddings` asset: build the domain's documents in scope, embed what is
    not cached, keep the documents, record what failed. For a domain whose documents are the whole
    collection (`whole`: the KB), kept documents not among them are dropped."""
    spec, item_type = domain.spec, domain.item_type
    scope = scope_of(context)
    run = {"run_id": context.run_id, "partition_key": scope.partition_key}
    with sync_log.open() as store, embedder.open() as model:
        failures: list[ItemResult] = []
        report = embed_documents(
            domain.documents(store, scope, sync_settings, model.identity.key, failures),
            embedder=model, sync_log=store, collection=spec.name, item_type=item_type, whole=domain.whole,
            report=scope.report(EmbedReport, item_type=item_type, items=domain.items), batch_size=sync_settings.sync_batch, progress=context.log.info, **run,
        )
        # Stored records that no longer parse are documents this stage could not embed; a
        # document kept from an earlier version must not be written in their place.
        for failure in failures:
            report.add("documents", at=failure.source_updated_at)
        store.drop_documents(spec.name, [f.item_id for f in failures])
        record_failures(store, spec.name, item_type, failures, report, **run)
    return finish(context, scope, report, sync_settings.max_failure_ratio, model=model.identity.key,
                  **catalog.model_metadata(spec, model.identity))


def collection_step(
    context: dg.AssetExecutionContext,
    domain: Domain,
    *,
    embedder: EmbedderResource,
    qdrant: QdrantResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The body of every collection asset: write changed points, delete removed ones, log every item.

    It reads the documents the embedding step kept and the model's identity (no weights loaded).
    With `whole` the documents are the whole collection (see `write_documents`). The run is
    recorded in the sync log's runs: success with its counts, or failure with the error.
    """
    spec, item_type = domain.spec, domain.item_type
    scope = scope_of(context)
    identity = embedder.identity()
    with sole_holder(context), sync_log.open() as store, qdrant.open() as vectors:
        run_pk = store.start_run(spec.name, run_id=context.run_id, partition_start=scope.first, partition_end=scope.last,
                                 dagster_instance=context.instance)
        report: WriteReport | None = None
        try:
            vectors.ensure_collection(spec, identity)
            report = write_documents(
                domain.kept(store, scope, identity.key),
                identity=identity, sync_log=store, vector_store=vectors, spec=spec, item_type=item_type, whole=domain.whole,
                run_id=context.run_id, partition_key=scope.partition_key, batch_size=sync_settings.sync_batch,
                report=scope.report(WriteReport, item_type=item_type, items=domain.items), progress=context.log.info,
            )
            promoted = promote_when_complete(vectors, store, spec, identity)
            points = vectors.count(spec)
            # Before the sync run is recorded, so a failed ratio is a failed sync there too.
            check_failure_ratio(report, sync_settings.max_failure_ratio)
        except Exception as exc:
            _record_failed_run(context, store, run_pk, exc, report)
            raise
        store.finish_run(run_pk, status="success", counts=dict(report.counts))
    return publish(context, scope, report, run_figures(
        scope, report, points=dg.MetadataValue.int(points), model=identity.key, alias_moved=promoted,
        **{"dagster/row_count": dg.MetadataValue.int(points)}, **catalog.model_metadata(spec, identity),
    ))


def _record_failed_run(context: dg.AssetExecutionContext, store: SyncLog, run_pk: int, exc: Exception,
                       report: WriteReport | None) -> None:
    """The sync run failed with `exc`: recorded with the counts of what was written, if anything was."""
    try:
        store.finish_run(run_pk, status="failure", error=str(exc)[:2000], counts=dict(report.counts) if report else None)
    except Exception:  # noqa: BLE001 - the store itself may be what failed; the run's own error is raised
        context.log.warning("could not record the failed run in the sync log")

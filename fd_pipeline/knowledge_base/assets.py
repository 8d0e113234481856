"""raw_articles -> article_embeddings -> kb_procedures, on the same hourly partitions as tickets."""


import dagster as dg

from fd_pipeline.asset_helpers import check_failure_ratio, metadata, scope_of, tracked_run
from fd_pipeline.partitions import HOURLY
from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.engine import embed_documents, promote_when_complete, record_failures, write_documents
from fd_pipeline.sync_state import ItemResult
from fd_pipeline.vectorstore import KB

from .fetch import fetch_articles
from .scope import article_documents

GROUP = "knowledge_base"
COLLECTION = KB.name


@dg.asset(
    group_name=GROUP,
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"freshdesk", "sql"},
)
def raw_articles(
    context: dg.AssetExecutionContext,
    freshdesk: FreshdeskResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The knowledge base as Freshdesk serves it: every category, nested folder and article.

    Articles have no `updated_since`, so each run lists the tree and compares it with the store:
    drafts, deleted articles and articles moved out of the synced categories are stored as removed.
    """
    scope = scope_of(context)
    with sync_log.open() as store, freshdesk.client() as client:
        report = fetch_articles(
            client,
            store,
            languages=sync_settings.languages(),
            category_ids=sync_settings.categories(),
            include_drafts=sync_settings.drafts(),
            run_id=context.run_id,
            partition_key=scope.partition_key,
        )
        api = client.stats.snapshot()
    return dg.MaterializeResult(metadata=metadata(report, api=api))


@dg.asset(
    group_name=GROUP,
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_articles],
    kinds={"pytorch", "sql"},
)
def article_embeddings(
    context: dg.AssetExecutionContext,
    embedder: EmbedderResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """bge-m3 dense and sparse vectors of each published article's intent (title, tags, keywords)
    and procedure (body); only texts whose content hash is new are embedded."""
    scope = scope_of(context)
    model = embedder.get()
    with sync_log.open() as store:
        parse_failures: list[ItemResult] = []
        docs = article_documents(store, failures=parse_failures)
        report = embed_documents(
            docs, embedder=model, sync_store=store, collection=COLLECTION, item_type="kb_article",
            run_id=context.run_id, partition_key=scope.partition_key, batch_size=sync_settings.batch(), progress=context.log.info,
        )
        record_failures(store, COLLECTION, "kb_article", parse_failures, report, run_id=context.run_id, partition_key=scope.partition_key)
    check_failure_ratio(report, sync_settings.failure_ratio(), "article texts")
    return dg.MaterializeResult(metadata=metadata(report, extra={"model": model.identity.key}))


@dg.asset(
    group_name=GROUP,
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[article_embeddings],
    kinds={"qdrant", "sql"},
)
def kb_procedures(
    context: dg.AssetExecutionContext,
    embedder: EmbedderResource,
    qdrant: QdrantResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The Qdrant collection of KB procedures: intent and procedure vectors per published article.

    Reconciles the whole collection with the stored KB: removed articles and any stray point leave it.
    """
    scope = scope_of(context)
    model = embedder.get()
    with sync_log.open() as store, qdrant.open() as vectors:
        with tracked_run(store, COLLECTION, context, scope) as run:
            vectors.ensure_collection(KB, model.identity)
            docs = list(article_documents(store))
            report = write_documents(
                docs, embedder=model, sync_store=store, vector_store=vectors, spec=KB, item_type="kb_article",
                run_id=context.run_id, partition_key=scope.partition_key, batch_size=sync_settings.batch(), progress=context.log.info,
            )
            live = {d.point_id for d in docs if not d.removed}
            stray = [pid for pid in vectors.scroll_ids(KB, model.identity) if pid not in live]
            vectors.delete(KB, model.identity, stray)
            report.add("deleted", len(stray))
            promoted = promote_when_complete(vectors, store, KB, model.identity)
            run["counts"] = report.counts
            points = vectors.count(KB)
    check_failure_ratio(report, sync_settings.failure_ratio(), "articles")
    return dg.MaterializeResult(
        metadata=metadata(report, extra={"points": dg.MetadataValue.int(points), "model": model.identity.key, "alias_moved": promoted})
    )

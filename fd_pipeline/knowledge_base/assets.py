"""raw_articles -> article_embeddings -> kb_procedures, on the same hourly partitions as tickets."""


import dagster as dg

from fd_pipeline.asset_helpers import collection_step, embedding_step, finish, scope_of
from fd_pipeline.partitions import HOURLY_ASSET
from fd_pipeline.pools import writer_pool
from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.engine import ArticleFetchReport
from fd_pipeline.vectorstore import KB

from .fetch import fetch_articles
from .scope import article_documents

GROUP = "knowledge_base"
POOL = writer_pool(KB.name)


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
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
    with sync_log.open() as store, freshdesk.open() as client:
        report = fetch_articles(
            client,
            store,
            languages=tuple(sync_settings.kb_languages),
            category_ids=tuple(sync_settings.kb_categories) or None,
            include_drafts=sync_settings.kb_include_drafts,
            run_id=context.run_id,
            partition_key=scope.partition_key,
            report=scope.report(ArticleFetchReport),
            progress=context.log.info,
        )
        api = client.stats.snapshot()
    return finish(context, scope, report, sync_settings.max_failure_ratio, api=api)


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
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
    return embedding_step(
        context, spec=KB, item_type="kb_article", documents=_built, whole=True,
        embedder=embedder, sync_log=sync_log, sync_settings=sync_settings,
    )


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
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
    return collection_step(
        context, spec=KB, item_type="kb_article", documents=_kept, remove_strays=True,
        embedder=embedder, qdrant=qdrant, sync_log=sync_log, sync_settings=sync_settings,
    )


def _built(store, _scope, _model_key, failures):
    """Every stored article: a KB is small and has no updated_since, so each run reconciles it whole."""
    return article_documents(store, failures=failures)


def _kept(store, _scope, _model_key):
    return store.iter_documents(KB.name)

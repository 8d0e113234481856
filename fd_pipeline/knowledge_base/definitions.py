"""The knowledge-base domain: raw_articles -> article_embeddings -> kb_procedures, on the same hourly
partitions as tickets."""

import dagster as dg

from fd_pipeline.hourly_asset import collection_asset, embeddings_asset, raw_asset
from fd_pipeline.resources import (
    EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource,
)
from fd_pipeline.run_metadata import finish
from fd_pipeline.run_scope import scope_of, sole_holder
from fd_pipeline.steps import collection_step, embedding_step
from fd_pipeline.sync.reports import ArticleFetchReport

from .domain import DOMAIN
from .fetch import fetch_articles
from .languages import kb_languages


@raw_asset(DOMAIN)
def raw_articles(
    context: dg.AssetExecutionContext, freshdesk: FreshdeskResource, sync_log: SyncLogResource, sync_settings: SyncSettingsResource
) -> dg.MaterializeResult:
    """The knowledge base as Freshdesk serves it: every category, nested folder and article.

    Articles have no `updated_since`, so each run lists the tree and compares it with the store:
    drafts, deleted articles and articles moved out of the synced categories are stored as removed.
    Translations: every language the help desk has, unless FD_KB_LANGUAGES narrows it.
    """
    scope = scope_of(context)
    with sole_holder(context), sync_log.open() as store, freshdesk.open(context.run_id) as client:
        report = fetch_articles(
            client,
            store,
            languages=kb_languages(client, sync_settings.kb_languages, store),
            category_ids=tuple(sync_settings.kb_categories) or None,
            include_drafts=sync_settings.kb_include_drafts,
            run_id=context.run_id,
            partition_key=scope.partition_key,
            report=scope.report(ArticleFetchReport),
            progress=context.log.info,
        )
        api = client.stats.snapshot()
    return finish(context, scope, report, sync_settings.max_failure_ratio, api=api)


@embeddings_asset(DOMAIN)
def article_embeddings(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, sync_log: SyncLogResource, sync_settings: SyncSettingsResource
) -> dg.MaterializeResult:
    """Vectors of each published article's intent (title, tags, keywords) and procedure (body
    sections) from the configured model: dense, plus sparse where the model has them (bge-m3's
    own; lexical with FD_EMBED_LEXICAL=on). Only texts whose content hash is new are embedded. The documents
    of the whole KB are kept for kb_procedures."""
    return embedding_step(context, DOMAIN, embedder=embedder, sync_log=sync_log, sync_settings=sync_settings)


@collection_asset(DOMAIN)
def kb_procedures(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, qdrant: QdrantResource, sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The Qdrant collection of KB procedures: intent and procedure vectors per published article.

    Written from the documents article_embeddings kept; reconciles the whole collection with them:
    removed articles and any stray point leave it."""
    return collection_step(context, DOMAIN, embedder=embedder, qdrant=qdrant, sync_log=sync_log, sync_settings=sync_settings)


defs = dg.Definitions(assets=[raw_articles, article_embeddings, kb_procedures])

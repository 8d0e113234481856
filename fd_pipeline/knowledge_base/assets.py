"""raw_articles -> article_embeddings -> kb_procedures, on the same hourly partitions as tickets."""


import dagster as dg

from fd_pipeline.asset_helpers import finish, raw_asset, scope_of, sole_holder, stage_assets
from fd_pipeline.catalog import KB_PAYLOAD
from fd_pipeline.partitions import KB_ASSETS
from fd_pipeline.resources import FreshdeskResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.engine import ArticleFetchReport
from fd_pipeline.vectorstore import KB

from .fetch import fetch_articles
from .languages import kb_languages
from .scope import article_documents

GROUP = "knowledge_base"


@raw_asset(KB_ASSETS, group=GROUP)
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


def _built(store, _scope, _sync_settings, _model_key, failures):
    """Every stored article: a KB is small and has no updated_since, so each run reconciles it whole."""
    return article_documents(store, failures=failures)


def _kept(store, _scope, _model_key):
    return store.iter_documents(KB.name)


article_embeddings, kb_procedures = stage_assets(
    KB_ASSETS, group=GROUP, spec=KB, item_type="kb_article", built=_built, kept=_kept, whole=True,
    payload=KB_PAYLOAD,
    descriptions=(
        """Vectors of each published article's intent (title, tags, keywords) and procedure (body
        sections) from the configured model: dense, plus sparse where the model has them (bge-m3's
        own; lexical with FD_EMBED_LEXICAL=on). Only texts whose content hash is new are embedded. The documents
        of the whole KB are kept for kb_procedures.""",
        """The Qdrant collection of KB procedures: intent and procedure vectors per published article.

        Written from the documents article_embeddings kept; reconciles the whole collection with them:
        removed articles and any stray point leave it.""",
    ),
)

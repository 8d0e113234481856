"""raw_tickets -> ticket_embeddings -> support_tickets, hourly partitions, one run for a whole range."""


import dagster as dg

from fd_pipeline.asset_helpers import collection_step, embedding_step, finish, scope_of
from fd_pipeline.partitions import HOURLY_ASSET
from fd_pipeline.pools import writer_pool
from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.engine import TicketFetchReport
from fd_pipeline.vectorstore import TICKETS

from .fetch import fetch_tickets
from .scope import kept_ticket_documents, ticket_documents

GROUP = "tickets"
COLLECTION = TICKETS.name
POOL = writer_pool(COLLECTION)


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
    kinds={"freshdesk", "sql"},
)
def raw_tickets(
    context: dg.AssetExecutionContext,
    freshdesk: FreshdeskResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """Tickets updated in the partition's hours, with their conversations, stored as Freshdesk sent them.

    Deleted and spam tickets of the window are stored as removed; tickets whose fetch failed before
    are read again. Conversations are fetched only for tickets that changed since the stored copy.
    """
    scope = scope_of(context)
    with sync_log.open() as store, freshdesk.open() as client:
        # The retry queue: every failed ticket is read again from Freshdesk, whatever its partition.
        retry = [s.item_id for s in store.failed_items(COLLECTION, limit=sync_settings.retry_limit) if s.item_id.isdigit()]
        report = fetch_tickets(
            client, store, start=scope.start, end=scope.end, retry_ids=retry, run_id=context.run_id,
            partition_key=scope.partition_key, conversation_workers=sync_settings.conversation_workers,
            report=scope.report(TicketFetchReport), progress=context.log.info,
        )
        api = client.stats.snapshot()
    return finish(
        context, scope, report, sync_settings.max_failure_ratio, api=api,
        window=f"{scope.start.isoformat()} .. {scope.end.isoformat()}",
    )


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
    deps=[raw_tickets],
    kinds={"pytorch", "sql"},
)
def ticket_embeddings(
    context: dg.AssetExecutionContext,
    embedder: EmbedderResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """bge-m3 dense and sparse vectors of each ticket's symptom, cause and resolution texts.

    Cached by content hash: only texts that changed (or a new model) are embedded, in large batches.
    """
    return embedding_step(
        context, spec=TICKETS, item_type="ticket", documents=_built(sync_settings.cause_field or None),
        embedder=embedder, sync_log=sync_log, sync_settings=sync_settings,
    )


@dg.asset(
    group_name=GROUP,
    **HOURLY_ASSET,
    pool=POOL,
    deps=[ticket_embeddings],
    kinds={"qdrant", "sql"},
)
def support_tickets(
    context: dg.AssetExecutionContext,
    embedder: EmbedderResource,
    qdrant: QdrantResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The Qdrant collection of similar past tickets: symptom, cause and resolution vectors per ticket.

    New and changed tickets are upserted, deleted and spam tickets removed, and every ticket's
    outcome (synced, deleted, failed) written to the sync log.
    """
    return collection_step(
        context, spec=TICKETS, item_type="ticket", documents=_kept,
        embedder=embedder, qdrant=qdrant, sync_log=sync_log, sync_settings=sync_settings,
    )


def _built(cause_field: str | None):
    """The window's tickets, the retry queue's and any left on another model, built from raw records."""

    def documents(store, scope, model_key, failures):
        return ticket_documents(
            store, start=scope.start, end=scope.end, model=model_key, cause_field=cause_field, failures=failures
        )

    return documents


def _kept(store, scope, model_key):
    """The same scope, as the embedding step kept it."""
    return kept_ticket_documents(store, start=scope.start, end=scope.end, model=model_key)

"""The tickets domain: raw_tickets -> ticket_embeddings -> support_tickets, on hourly partitions,
one run for a whole range."""

import dagster as dg

from fd_pipeline.hourly_asset import collection_asset, embeddings_asset, raw_asset
from fd_pipeline.resources import (
    EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource,
)
from fd_pipeline.run_metadata import finish
from fd_pipeline.run_scope import scope_of, sole_holder
from fd_pipeline.steps import collection_step, embedding_step
from fd_pipeline.sync.reports import TicketFetchReport

from .domain import DOMAIN
from .fetch import fetch_tickets


@raw_asset(DOMAIN)
def raw_tickets(
    context: dg.AssetExecutionContext, freshdesk: FreshdeskResource, sync_log: SyncLogResource, sync_settings: SyncSettingsResource
) -> dg.MaterializeResult:
    """Tickets updated in the partition's hours, with their conversations, stored as Freshdesk sent them.

    Deleted and spam tickets of the window are stored as removed; tickets whose fetch failed before
    are read again. Conversations are fetched only for tickets that changed since the stored copy.
    """
    scope = scope_of(context)
    with sole_holder(context), sync_log.open() as store, freshdesk.open(context.run_id) as client:
        # The retry queue: every failed ticket is read again from Freshdesk, whatever its partition.
        retry = [s.item_id for s in store.failed_items(DOMAIN.spec.name, limit=sync_settings.retry_limit) if s.item_id.isdigit()]
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


@embeddings_asset(DOMAIN)
def ticket_embeddings(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, sync_log: SyncLogResource, sync_settings: SyncSettingsResource
) -> dg.MaterializeResult:
    """Vectors of each ticket's symptom, cause and resolution texts from the configured model: dense,
    plus sparse where the model has them (bge-m3's own; lexical with FD_EMBED_LEXICAL=on).

    Each ticket's document (texts, payload, hashes) is built once from its raw record and kept for
    support_tickets. Cached by content hash: only texts that changed (or a new model) are embedded,
    in large batches."""
    return embedding_step(context, DOMAIN, embedder=embedder, sync_log=sync_log, sync_settings=sync_settings)


@collection_asset(DOMAIN)
def support_tickets(
    context: dg.AssetExecutionContext, embedder: EmbedderResource, qdrant: QdrantResource, sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """The Qdrant collection of similar past tickets: symptom, cause and resolution vectors per ticket.

    Written from the documents ticket_embeddings kept: new and changed tickets are upserted,
    deleted and spam tickets removed, and every ticket's outcome (synced, deleted, failed) written
    to the sync log."""
    return collection_step(context, DOMAIN, embedder=embedder, qdrant=qdrant, sync_log=sync_log, sync_settings=sync_settings)


defs = dg.Definitions(assets=[raw_tickets, ticket_embeddings, support_tickets])

"""raw_tickets -> ticket_embeddings -> support_tickets, hourly partitions, one run for a whole range."""


import dagster as dg

from fd_pipeline.asset_helpers import finish, raw_asset, scope_of, sole_holder, stage_assets
from fd_pipeline.catalog import TICKET_PAYLOAD
from fd_pipeline.partitions import TICKET_ASSETS
from fd_pipeline.resources import FreshdeskResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.engine import TicketFetchReport
from fd_pipeline.vectorstore import TICKETS

from .fetch import fetch_tickets
from .scope import kept_ticket_documents, ticket_documents

GROUP = "tickets"


@raw_asset(TICKET_ASSETS, group=GROUP)
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
        retry = [s.item_id for s in store.failed_items(TICKETS.name, limit=sync_settings.retry_limit) if s.item_id.isdigit()]
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


def _built(store, scope, sync_settings, model_key, failures):
    """The window's tickets, the retry queue's and any left on another model, built from raw records."""
    return ticket_documents(store, start=scope.start, end=scope.end, model=model_key,
                            cause_field=sync_settings.cause_field or None, failures=failures)


def _kept(store, scope, model_key):
    """The same scope, as the embedding step kept it."""
    return kept_ticket_documents(store, start=scope.start, end=scope.end, model=model_key)


ticket_embeddings, support_tickets = stage_assets(
    TICKET_ASSETS, group=GROUP, spec=TICKETS, item_type="ticket", built=_built, kept=_kept,
    payload=TICKET_PAYLOAD,
    descriptions=(
        """Vectors of each ticket's symptom, cause and resolution texts from the configured model: dense,
        plus sparse where the model has them (bge-m3's own; lexical with FD_EMBED_LEXICAL=on).

        Each ticket's document (texts, payload, hashes) is built once from its raw record and kept for
        support_tickets. Cached by content hash: only texts that changed (or a new model) are embedded,
        in large batches.""",
        """The Qdrant collection of similar past tickets: symptom, cause and resolution vectors per ticket.

        Written from the documents ticket_embeddings kept: new and changed tickets are upserted,
        deleted and spam tickets removed, and every ticket's outcome (synced, deleted, failed) written
        to the sync log.""",
    ),
)

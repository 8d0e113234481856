"""The tickets domain, declared once: its names, collection, documents, job and schedule."""

from fd_pipeline.domain import Domain

from .collection import TICKET_ASSETS, TICKET_PAYLOAD, TICKETS
from .scope import kept_ticket_documents, ticket_documents


def _built(store, scope, sync_settings, model_key, failures):
    """The window's tickets, the retry queue's and any left on another model, built from raw records."""
    return ticket_documents(store, start=scope.start, end=scope.end, model=model_key,
                            cause_field=sync_settings.cause_field or None, failures=failures)


def _kept(store, scope, model_key):
    """The same scope, as the embedding step kept it."""
    return kept_ticket_documents(store, start=scope.start, end=scope.end, model=model_key)


DOMAIN = Domain(
    name="tickets", group="tickets", chain=TICKET_ASSETS, item_type="ticket", items="tickets",
    spec=TICKETS, payload=TICKET_PAYLOAD, documents=_built, kept=_kept, whole=False,
    job_description="Sync tickets updated in the partition's hour(s) into support_tickets.",
    schedule_minute=5, schedule_description="Tickets updated in the hour that just closed, at :05.",
)

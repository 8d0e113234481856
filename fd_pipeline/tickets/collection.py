"""`support_tickets`: one point per ticket with a symptom, cause and resolution vector; the fields
searches filter on (status, priority, tags, product, language, dates), the payload's columns as
the UI shows them, and the names of the chain that fills it."""

from fd_pipeline.catalog import SYNC_COLUMNS
from fd_pipeline.domain import Chain
from fd_pipeline.vectorstore import CollectionSpec

TICKET_INDEXES: tuple[tuple[str, str], ...] = (
    ("ticket_id", "integer"),
    ("status", "integer"),
    ("status_name", "keyword"),
    ("priority", "integer"),
    ("priority_name", "keyword"),
    ("type", "keyword"),
    ("tags", "keyword"),
    ("source", "integer"),
    ("group_id", "integer"),
    ("product_id", "integer"),
    ("language", "keyword"),
    ("created_at", "datetime"),
    ("updated_at", "datetime"),
)
TICKETS = CollectionSpec("support_tickets", aspects=("symptom", "cause", "resolution"), payload_indexes=TICKET_INDEXES)

TICKET_PAYLOAD = (
    ("ticket_id", "int", "Freshdesk ticket id (also the point id)"),
    ("subject", "string", "the ticket's subject"),
    ("description", "string", "the first message as plain text, up to 2,000 characters"),
    ("status", "int", "Freshdesk status code"),
    ("status_name", "string", "open, pending, resolved, closed or custom_<code>"),
    ("priority", "int", "Freshdesk priority code"),
    ("priority_name", "string", "low, medium, high or urgent"),
    ("source", "int", "Freshdesk source code"),
    ("source_name", "string", "email, portal, phone, chat, ..."),
    ("type", "string", "the ticket type, if any"),
    ("tags", "list<string>", "the ticket's tags"),
    ("group_id", "int", "the assigned group"),
    ("product_id", "int", "the product"),
    ("company_id", "int", "the requester's company"),
    ("requester_id", "int", "the requester"),
    ("responder_id", "int", "the assigned agent"),
    ("custom_fields", "json", "Freshdesk custom fields as sent"),
    ("language", "string", "detected language of the symptom text (ko, en, ...)"),
    ("created_at", "timestamp", "UTC, ISO 8601"),
    ("updated_at", "timestamp", "UTC, ISO 8601; decides the ticket's hourly partition"),
    ("cause_text", "string", "the cause text that was embedded, up to 1,000 characters"),
    ("resolution_text", "string", "the resolution text that was embedded, up to 1,000 characters"),
    *SYNC_COLUMNS,
)

TICKET_ASSETS = Chain("raw_tickets", "ticket_embeddings", TICKETS.name)

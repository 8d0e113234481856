"""The emulator's mutable rows: what a fake Freshdesk account stores, before serialisation.

Timestamps are int epoch seconds (UTC) so the indexes compare cheaply; `shapes.py` turns rows
into the exact JSON shapes Freshdesk serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def iso(ts: int) -> str:
    """Epoch seconds -> Freshdesk's `YYYY-MM-DDTHH:MM:SSZ`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class TicketRow:
    id: int
    subject: str
    description_html: str
    description_text: str
    status: int
    priority: int
    source: int
    type: str | None
    tags: list[str]
    custom_fields: dict
    requester_id: int
    responder_id: int | None
    group_id: int | None
    company_id: int | None
    product_id: int | None
    created_at: int
    updated_at: int
    due_by: int
    fr_due_by: int
    is_escalated: bool = False
    fr_escalated: bool = False
    spam: bool = False
    deleted: bool = False
    language: str = "en"
    topic: int | None = None          # index into generator.TOPICS; None for spam
    corrupt: str | None = None        # "bad_field" | "unembeddable"
    status_updated_at: int = 0


@dataclass(slots=True)
class ConversationRow:
    id: int
    ticket_id: int
    body_html: str
    body_text: str
    incoming: bool
    private: bool
    source: int
    user_id: int
    from_email: str | None
    to_emails: list[str] | None
    created_at: int
    updated_at: int


@dataclass(slots=True)
class AgentRow:
    id: int
    name: str
    email: str
    occasional: bool
    available: bool
    ticket_scope: int                 # 1 global, 2 group, 3 restricted
    time_zone: str
    created_at: int
    updated_at: int
    last_login_at: int
    agent_level_id: int = 1           # the gamification level (1 beginner .. 6 guru)


@dataclass(slots=True)
class ContactRow:
    """A requester as the account's contact; `updated_at` moves when they last wrote in."""

    id: int
    name: str
    email: str
    company_id: int | None
    language: str
    time_zone: str
    job_title: str | None
    created_at: int
    updated_at: int


@dataclass(slots=True)
class TimeEntryRow:
    id: int
    ticket_id: int
    agent_id: int
    company_id: int | None
    billable: bool
    note: str
    minutes: int
    executed_at: int
    created_at: int
    updated_at: int


@dataclass(slots=True)
class RatingRow:
    """A requester's answer to the satisfaction survey sent when the ticket was resolved."""

    id: int
    ticket_id: int
    user_id: int
    agent_id: int | None
    group_id: int | None
    rating: int
    feedback: str | None
    created_at: int
    updated_at: int


@dataclass(slots=True, kw_only=True)
class _KbSectionRow:
    """What a KB category and a KB folder both hold."""

    id: int
    name: str
    name_ko: str
    description: str | None
    created_at: int
    updated_at: int


@dataclass(slots=True, kw_only=True)
class CategoryRow(_KbSectionRow):
    """The top of a KB tree: one product's folders hang below it."""


@dataclass(slots=True, kw_only=True)
class FolderRow(_KbSectionRow):
    """A KB folder: directly under its category, or a subfolder of another folder."""

    category_id: int
    parent_folder_id: int | None


@dataclass(slots=True)
class ArticleTranslation:
    title: str
    description_html: str
    description_text: str
    status: int
    created_at: int
    updated_at: int


@dataclass(slots=True)
class ArticleRow:
    id: int
    title: str
    description_html: str
    description_text: str
    status: int
    type: int
    tags: list[str]
    folder_id: int
    category_id: int
    agent_id: int
    hits: int
    thumbs_up: int
    thumbs_down: int
    created_at: int
    updated_at: int
    topic: int | None = None
    translations: dict[str, ArticleTranslation] = field(default_factory=dict)

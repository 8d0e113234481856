"""`kb_procedures`: one point per published article section (translations apart), with an intent
and a procedure vector; searches filter on folder, category, tags and language. Also the
payload's columns as the UI shows them, the chain's asset names, and how an article's point and
sync-log item are named (a translation gets its own)."""

import uuid

from fd_pipeline.catalog import SYNC_COLUMNS
from fd_pipeline.domain import Chain
from fd_pipeline.vectorstore import CollectionSpec

KB_INDEXES: tuple[tuple[str, str], ...] = (
    ("article_id", "integer"),
    ("status", "integer"),
    ("folder_id", "integer"),
    ("category_id", "integer"),
    ("folder_path", "keyword"),
    ("tags", "keyword"),
    ("language", "keyword"),
    ("translation", "bool"),
    ("updated_at", "datetime"),
)
KB = CollectionSpec("kb_procedures", aspects=("intent", "procedure"), payload_indexes=KB_INDEXES)

KB_PAYLOAD = (
    ("article_id", "int", "Freshdesk solution article id"),
    ("title", "string", "the article's title"),
    ("description", "string", "the body as plain text, up to 500 characters"),
    ("content", "string", "the body as plain text, up to 8,000 characters"),
    ("folder_id", "int", "the article's folder"),
    ("category_id", "int", "the folder's category"),
    ("folder_path", "list<string>", "category and folder names, outermost first"),
    ("status", "int", "2 = published (drafts are not synced unless FD_KB_INCLUDE_DRAFTS)"),
    ("tags", "list<string>", "the article's tags"),
    ("language", "string", "the article's language (ko, en, ...)"),
    ("translation", "bool", "whether the article is a translation of another"),
    ("created_at", "timestamp", "UTC, ISO 8601"),
    ("updated_at", "timestamp", "UTC, ISO 8601"),
    ("sections", "int", "how many points (sections) the article was split into"),
    ("section", "int", "this point's section, from 0"),
    *SYNC_COLUMNS,
)

KB_ASSETS = Chain("raw_articles", "article_embeddings", KB.name)

_KB_NAMESPACE = uuid.UUID("5b0c2f4e-8f3c-4f57-9d0b-7a2f3c1e6d11")


def kb_point_id(article_id: int, translation_language: str | None) -> int | str:
    """The Freshdesk id for the original article; a uuid5 of id and language for a translation."""
    if not translation_language:
        return article_id
    return str(uuid.uuid5(_KB_NAMESPACE, f"{article_id}:{translation_language}"))


def kb_item_id(article_id: int, translation_language: str | None) -> str:
    return f"{article_id}:{translation_language}" if translation_language else str(article_id)

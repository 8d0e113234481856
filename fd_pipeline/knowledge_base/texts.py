"""Pure functions: a stored KB article record -> its document (intent and procedure texts + payload)."""

from __future__ import annotations

from typing import Any

from fd_pipeline.freshdesk import Article
from fd_pipeline.freshdesk.html import html_to_text
from fd_pipeline.sync.documents import Document, clip, detect_language, kb_item_id, kb_point_id

PUBLISHED = 2
ASPECTS = ("intent", "procedure")


def article_record(article: Article) -> dict[str, Any]:
    return {
        "article": article.raw,
        "folder_path": list(article.folder_path),
        "language": article.language,
        "translation": article.translation,
    }


def _translated(article: Article) -> str | None:
    return (article.language or "unknown") if article.translation else None


def article_key(article: Article) -> str:
    return kb_item_id(article.id, _translated(article))


def _keywords(raw: dict[str, Any]) -> list[str]:
    seo = raw.get("seo_data") or {}
    words = seo.get("meta_keywords") if isinstance(seo, dict) else None
    if isinstance(words, str):
        return [w.strip() for w in words.split(",") if w.strip()]
    return [str(w) for w in words or []]


def article_texts(article: Article) -> dict[str, str]:
    """Intent: the title with tags and keywords (the question it answers). Procedure: the body."""
    extras = list(dict.fromkeys([*article.tags, *_keywords(article.raw)]))
    intent = article.title.strip()
    if extras:
        intent = f"{intent}\n{', '.join(extras)}" if intent else ", ".join(extras)
    procedure = (html_to_text(article.description_html) if article.description_html else article.description_text).strip()
    return {aspect: text for aspect, text in {"intent": intent, "procedure": procedure}.items() if text}


def article_document(record: dict[str, Any], *, removed: bool) -> Document:
    article = Article.from_raw(
        record["article"],
        folder_path=tuple(record.get("folder_path") or ()),
        language=record.get("language"),
        translation=bool(record.get("translation")),
    )
    texts = {} if removed else article_texts(article)
    payload = {} if removed else {
        "article_id": article.id,
        "title": article.title,
        "description": clip(texts.get("procedure"), 500),
        "content": clip(texts.get("procedure"), 8000),
        "folder_id": article.folder_id,
        "category_id": article.category_id,
        "folder_path": list(article.folder_path),
        "status": article.status,
        "tags": list(article.tags),
        "language": article.language or detect_language(texts.get("procedure", article.title)),
        "created_at": article.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": article.updated_at.isoformat().replace("+00:00", "Z"),
    }
    return Document(
        item_id=kb_item_id(article.id, _translated(article)),
        point_id=kb_point_id(article.id, _translated(article)),
        source_updated_at=article.updated_at,
        texts=texts,
        payload=payload,
        removed=removed,
    )

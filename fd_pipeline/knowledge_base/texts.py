"""Pure functions: an article as Freshdesk sent it -> the raw record kept of it -> its documents (one per body section: intent and procedure texts + payload)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fd_pipeline.freshdesk import Article
from fd_pipeline.freshdesk.html import html_to_text
from fd_pipeline.documents import Document, clip, detect_language
from fd_pipeline.knowledge_base.collection import kb_item_id, kb_point_id

PUBLISHED = 2
ASPECTS = ("intent", "procedure")
# Estimated tokens per section: with the title and the model's prefix it stays under the 512
# tokens of bge-m3's and e5's window, so no section is cut.
SECTION_TOKENS = 400
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_SECTION_NAMESPACE = uuid.UUID("0f4a8f9e-4c53-4a0e-9a57-6b0b1f7d2c31")


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


def _article(record: dict[str, Any]) -> Article:
    return Article.from_raw(
        record["article"],
        folder_path=tuple(record.get("folder_path") or ()),
        language=record.get("language"),
        translation=bool(record.get("translation")),
    )


def _estimated_tokens(text: str) -> float:
    # Measured on the desk with multilingual-e5's tokenizer (XLM-R family, as bge-m3's): about
    # 1.8 Hangul syllables and 3.9 other characters per token; rounded down to stay under.
    hangul = len(_HANGUL.findall(text))
    return hangul / 1.5 + (len(text) - hangul) / 3.5


def split_sections(body: str, budget: float = SECTION_TOKENS) -> list[str]:
    """The body cut at paragraph breaks into sections of at most `budget` estimated tokens.

    A paragraph over the budget is cut at line, then sentence, then word boundaries; a heading
    (a short last paragraph) moves on with the text it introduces. Same body, same sections.
    """
    sections: list[list[str]] = [[]]
    size = 0.0
    # Blocks leave room for a heading carried in front of them (80 characters at most).
    for block in _blocks(body, budget - 30):
        cost = _estimated_tokens(block) + 1
        if sections[-1] and size + cost > budget:
            carried = [sections[-1].pop()] if _is_heading(sections[-1][-1]) else []
            if not sections[-1]:
                sections.pop()
            sections.append(carried)
            size = sum(_estimated_tokens(b) + 1 for b in carried)
        sections[-1].append(block)
        size += cost
    return ["\n\n".join(blocks) for blocks in sections if blocks]


def _blocks(body: str, budget: float) -> list[str]:
    out: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", body)):
        if paragraph:
            out.extend(_cut(paragraph, budget, ("\n", ". ", "。", " ")))
    return out


def _cut(text: str, budget: float, separators: tuple[str, ...]) -> list[str]:
    if _estimated_tokens(text) <= budget:
        return [text]
    if not separators:  # one unbroken run: cut by characters
        step = max(1, int(budget * 1.5))
        return [text[i:i + step] for i in range(0, len(text), step)]
    separator, rest = separators[0], separators[1:]
    pieces = [p for p in text.split(separator) if p.strip()]
    if len(pieces) < 2:
        return _cut(text, budget, rest)
    joined: list[str] = []
    for piece in pieces:
        candidate = f"{joined[-1]}{separator}{piece}" if joined else piece
        if joined and _estimated_tokens(candidate) <= budget:
            joined[-1] = candidate
        else:
            joined.append(piece)
    return [part for piece in joined for part in _cut(piece.strip(), budget, rest)]


def _is_heading(block: str) -> bool:
    return "\n" not in block and len(block) <= 80 and not block.rstrip().endswith((".", "。", "!", "?", ":"))


def section_point_id(article_id: int, translation_language: str | None, section: int) -> int | str:
    """Section 0 keeps the article's point id; later sections get a uuid5 of article, language, section."""
    if section == 0:
        return kb_point_id(article_id, translation_language)
    return str(uuid.uuid5(_SECTION_NAMESPACE, f"{article_id}:{translation_language or ''}#{section}"))


def section_item_id(article_item_id: str, section: int) -> str:
    return article_item_id if section == 0 else f"{article_item_id}#{section}"


def parse_section_item_id(item_id: str) -> tuple[int, str | None, int] | None:
    """(article id, translation language or None, section) of a section item id "ID[:LANG]#N" (N >= 1)."""
    match = re.fullmatch(r"(\d+)(?::([^#]+))?#(\d+)", item_id)
    if not match or int(match[3]) < 1:
        return None
    return int(match[1]), match[2], int(match[3])


def article_documents(record: dict[str, Any], *, removed: bool) -> list[Document]:
    """The article as one document per section of its body (see `split_sections`).

    Section 0 carries the intent (title, tags, keywords) and keeps the article's item and point
    ids, so a short article is one point as before; every section carries the article's payload
    plus `section`/`sections`, and a section's procedure text starts with the title for context.
    A removed article yields its section 0 only: the KB's reconciliation removes the rest.
    """
    article = _article(record)
    translated = _translated(article)
    base_item = kb_item_id(article.id, translated)
    if removed:
        return [Document(item_id=base_item, point_id=kb_point_id(article.id, translated),
                         source_updated_at=article.updated_at, texts={}, payload={}, removed=True)]
    texts = article_texts(article)
    body = texts.get("procedure", "")
    sections = split_sections(body) if body else []
    payload = {
        "article_id": article.id,
        "title": article.title,
        "description": clip(body, 500),
        "content": clip(body, 8000),
        "folder_id": article.folder_id,
        "category_id": article.category_id,
        "folder_path": list(article.folder_path),
        "status": article.status,
        "tags": list(article.tags),
        "language": article.language or detect_language(body or article.title),
        "translation": bool(article.translation),
        "created_at": article.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": article.updated_at.isoformat().replace("+00:00", "Z"),
        "sections": max(1, len(sections)),
    }
    docs = []
    for n in range(max(1, len(sections))):
        section_texts = {"intent": texts["intent"]} if n == 0 and "intent" in texts else {}
        if sections:
            section_texts["procedure"] = sections[0] if len(sections) == 1 else f"{article.title}\n\n{sections[n]}"
        docs.append(Document(
            item_id=section_item_id(base_item, n),
            point_id=section_point_id(article.id, translated, n),
            source_updated_at=article.updated_at,
            texts=section_texts,
            payload={**payload, "section": n},
        ))
    return docs

"""Pure functions: a ticket as Freshdesk sent it -> the raw record kept of it -> its document
(symptom, cause, resolution texts + payload)."""

from __future__ import annotations

import re
from typing import Any

from fd_pipeline.freshdesk import Conversation, Ticket
from fd_pipeline.freshdesk.html import html_to_text, strip_quoted_and_signature
from fd_pipeline.documents import Document, clip, detect_language

STATUS_NAMES = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
PRIORITY_NAMES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}
SOURCE_NAMES = {1: "email", 2: "portal", 3: "phone", 7: "chat", 9: "feedback_widget", 10: "outbound_email"}
RESOLVED_STATUSES = frozenset({4, 5})
ASPECTS = ("symptom", "cause", "resolution")
# Characters of conversation kept per aspect on top of the subject and description: about one
# model window (512 tokens is ~2,000 English or ~1,000 Korean characters). A thread of 40 messages
# would otherwise be cut by the model at its first screen, keeping the oldest back-and-forth and
# losing the latest state; see `_latest_within`.
THREAD_CHARS = 2000


def ticket_record(ticket: Ticket, conversations: list[Conversation] | None = None) -> dict[str, Any]:
    """What the raw store keeps for a ticket: the ticket's and its conversations' JSON as Freshdesk
    sent them (no conversations for a removed ticket)."""
    return {
        "ticket": ticket.raw,
        "conversations": None if conversations is None else [c.raw for c in conversations],
    }


def _clean(html: str | None, text: str | None) -> str:
    # The HTML marks quoted replies (blockquote, freshdesk_quote); *_text does not, so prefer HTML.
    body = html_to_text(html, drop_quotes=True) if html else ""
    return strip_quoted_and_signature(body or text or "").strip()


# A requester's closing word ("That fixed it, thank you!", "해결되었습니다. 감사합니다!") says the
# ticket is over, not what was wrong: in a symptom it only pulls the ticket towards every other
# resolved one. Whole sentences of thanks or "solved" go; a sentence with anything else in it stays.
_THANKS_SENTENCE = re.compile(
    r"^(?:(?:ok(?:ay)?|great|perfect|awesome|brilliant|yes|yep)[,!. ]*)?"
    r"(?:(?:that|this|it|which|everything|all)(?:'s| is| has)? ?)?"
    r"(?:(?:(?:now )?(?:fixed|solved|resolved|sorted|worked|works(?: now)?|working(?: now)?|did the trick|helped)"
    r"(?: it| the (?:problem|issue))?(?: now)?)|(?:problem|issue) (?:is )?(?:fixed|solved|resolved|gone))?"
    r"[,!. ]*(?:(?:many |so much |again )?(?:thanks|thank you|thx|cheers|much appreciated|appreciate it)"
    r"(?: (?:so much|very much|a lot|again|for (?:the|your) help))*)?[.!~ ]*$",
    re.IGNORECASE,
)
_THANKS_SENTENCE_KO = re.compile(
    r"^(?:(?:덕분에|이제|드디어|네|아)[,. ]*)*"
    r"(?:(?:문제가 |모두 |다 |잘 )?(?:해결(?:되었|됐|됩니다|되었어|됐어)\S*|(?:잘 )?(?:됩니다|되네요|돼요|됐어요|되었습니다)))?"
    r"[,.! ~]*(?:(?:정말|진심으로|너무|대단히) ?)?(?:감사합니다|감사드립니다|감사해요|고맙습니다|고마워요)?[.!~^ ]*$"
)
_THANKS_WORD = re.compile(r"thank|thx|cheers|appreciate|fixed|solved|resolved|sorted|work|trick|helped|"
                          r"감사|고맙|고마|해결|됩니다|되네요|돼요|됐어요|되었습니다", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?~])\s+|\n+")


def _is_thanks(sentence: str) -> bool:
    s = sentence.strip()
    return bool(_THANKS_WORD.search(s)) and bool(_THANKS_SENTENCE.match(s) or _THANKS_SENTENCE_KO.match(s))


def without_thanks(text: str) -> str:
    """`text` less the sentences that only thank or say the problem is solved ("" if that is all)."""
    if not text:
        return text
    kept = [s for s in _SENTENCES.split(text) if s.strip() and not _is_thanks(s)]
    if len(kept) == len([s for s in _SENTENCES.split(text) if s.strip()]):
        return text  # nothing to drop: keep the text's own line breaks
    return "\n".join(kept)


def _join(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def _only_asks(text: str) -> bool:
    return len(text) < 400 and text.rstrip().endswith(("?", "？"))


def _latest_within(messages: list[str], budget: int = THREAD_CHARS) -> list[str]:
    """The newest messages whose cleaned texts fit `budget` characters (the newest always), in
    thread order, each distinct text once: in a long thread the last replies carry the current
    state and the fix, and "still happening, please help" twenty times says nothing new."""
    kept: list[str] = []
    seen: set[str] = set()
    used = 0
    for text in reversed(messages):
        if not text or text in seen:
            continue
        if kept and used + len(text) > budget:
            break
        kept.append(text)
        seen.add(text)
        used += len(text)
    return kept[::-1]


def ticket_texts(ticket: Ticket, conversations: list[Conversation], *, cause_field: str | None = None) -> dict[str, str]:
    """Symptom: subject, description, requester follow-ups. Cause: private notes (or a custom
    field). Resolution: agents' public replies that do more than ask a question, only once the
    ticket is resolved or closed.

    Long threads: the subject and the first description are always kept (they state the problem);
    of the follow-ups, notes and replies each aspect keeps the latest that fit `THREAD_CHARS`
    (`_latest_within`), so the final reply, the one that says what was done, is never cut."""
    ordered = sorted(conversations, key=lambda c: (c.created_at, c.id))
    symptom = _join(
        [ticket.subject.strip(), _clean(ticket.description_html, ticket.description_text)]
        + _latest_within([without_thanks(_clean(c.body_html, c.body_text)) for c in ordered
                          if c.incoming and not c.private])
    )
    cause = ""
    if cause_field:
        value = ticket.custom_fields.get(cause_field)
        cause = str(value).strip() if value not in (None, "") else ""
    if not cause:
        cause = _join(_latest_within([_clean(c.body_html, c.body_text) for c in ordered if c.private]))
    resolution = ""
    if ticket.status in RESOLVED_STATUSES:
        replies = [_clean(c.body_html, c.body_text) for c in ordered if not c.incoming and not c.private]
        # A reply that only asks ("Could you send the version?") says nothing about the fix.
        answers = [r for r in replies if not _only_asks(r)] or replies
        resolution = _join(_latest_within(answers))
    texts = {"symptom": symptom, "cause": cause, "resolution": resolution}
    return {aspect: text for aspect, text in texts.items() if text}


def ticket_payload(ticket: Ticket, texts: dict[str, str]) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "description": clip(_clean(ticket.description_html, ticket.description_text), 2000),
        "status": ticket.status,
        "status_name": STATUS_NAMES.get(ticket.status, f"custom_{ticket.status}"),
        "priority": ticket.priority,
        "priority_name": PRIORITY_NAMES.get(ticket.priority, str(ticket.priority)),
        "source": ticket.source,
        "source_name": SOURCE_NAMES.get(ticket.source, str(ticket.source)),
        "type": ticket.type,
        "tags": list(ticket.tags),
        "group_id": ticket.group_id,
        "product_id": ticket.product_id,
        "company_id": ticket.company_id,
        "requester_id": ticket.requester_id,
        "responder_id": ticket.responder_id,
        "custom_fields": ticket.custom_fields,
        "language": detect_language(texts.get("symptom", ticket.subject)),
        "created_at": ticket.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": ticket.updated_at.isoformat().replace("+00:00", "Z"),
        "cause_text": clip(texts.get("cause"), 1000),
        "resolution_text": clip(texts.get("resolution"), 1000),
    }


def ticket_document(record: dict[str, Any], *, removed: bool, cause_field: str | None = None) -> Document:
    """The document of a stored record; raises on a record that does not parse."""
    ticket = Ticket.from_raw(record["ticket"])
    conversations = [Conversation.from_raw(c) for c in record.get("conversations") or []]
    texts = {} if removed else ticket_texts(ticket, conversations, cause_field=cause_field)
    return Document(
        item_id=str(ticket.id),
        point_id=ticket.id,
        source_updated_at=ticket.updated_at,
        texts=texts,
        payload={} if removed else ticket_payload(ticket, texts),
        removed=removed,
    )

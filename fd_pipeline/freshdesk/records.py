"""Typed, immutable views of Freshdesk JSON objects.

`from_raw` raises `ValueError`/`TypeError` on a record it cannot trust; the client turns that
into a `MalformedItem` so a listing goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from fd_pipeline.freshdesk.html import html_to_text

__all__ = ["Ticket", "Conversation", "Article", "MalformedItem", "parse_timestamp"]


def parse_timestamp(value: Any, name: str = "timestamp") -> datetime:
    """Freshdesk's `YYYY-MM-DDTHH:MM:SSZ` (or any ISO-8601) as an aware UTC datetime; naive is UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError as exc:
            raise ValueError(f"{name} is not an ISO-8601 timestamp: {value!r}") from exc
    else:
        raise ValueError(f"{name} is missing or not a string: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_timestamp(value: Any, name: str) -> datetime | None:
    return None if value is None else parse_timestamp(value, name)


def _req_int(raw: dict, key: str) -> int:
    value = raw.get(key)
    # bool is an int subclass; a JSON true as an id is corruption, not an id.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _opt_int(raw: dict, key: str) -> int | None:
    return None if raw.get(key) is None else _req_int(raw, key)


def _opt_str(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{key} must be a string or null, got {type(value).__name__}")


def _bool(raw: dict, key: str) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise ValueError(f"{key} must be a boolean, got {value!r}")


def _tags(raw: dict) -> tuple[str, ...]:
    value = raw.get("tags")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"tags must be a list of strings, got {value!r}")
    return tuple(value)


def _each(parse: Callable[[dict, str], Any], raw: dict, *keys: str) -> dict[str, Any]:
    """The fields named as their JSON keys, each read by `parse`."""
    return {key: parse(raw, key) for key in keys}


def _html_and_text(raw: dict, key: str) -> dict[str, str | None]:
    """Freshdesk's HTML `key` and its `{key}_text` twin as the fields `{key}_html` and `{key}_text`."""
    html = _opt_str(raw, key)
    text = _opt_str(raw, f"{key}_text")
    # Freshdesk omits the text twin on some objects; derive it rather than embed markup.
    return {f"{key}_html": html, f"{key}_text": text if text is not None else html_to_text(html)}


def _require_dict(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
    return raw


@dataclass(frozen=True)
class _Record:
    """A parsed Freshdesk object: its id, and the JSON it came from as sent."""

    id: int
    raw: dict[str, Any] = field(repr=False, compare=False, kw_only=True)

    @classmethod
    def from_raw(cls, raw: Any, **context: Any) -> Self:
        raw = _require_dict(raw)
        return cls(id=_req_int(raw, "id"), **cls._parse(raw, **context), raw=raw)

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """The fields other than `id` and `raw`, read from the JSON object."""
        raise NotImplementedError


@dataclass(frozen=True)
class Ticket(_Record):
    subject: str
    description_html: str | None
    description_text: str
    status: int | None
    priority: int | None
    source: int | None
    type: str | None
    tags: tuple[str, ...]
    custom_fields: dict[str, Any]
    spam: bool
    deleted: bool
    requester_id: int | None
    responder_id: int | None
    group_id: int | None
    company_id: int | None
    product_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> dict[str, Any]:
        custom = raw.get("custom_fields")
        if custom is None:
            custom = {}
        if not isinstance(custom, dict):
            raise ValueError(f"custom_fields must be an object, got {custom!r}")
        return dict(
            subject=_opt_str(raw, "subject") or "",
            **_html_and_text(raw, "description"),
            **_each(_opt_int, raw, "status", "priority", "source"),
            type=_opt_str(raw, "type"),
            tags=_tags(raw),
            custom_fields=dict(custom),
            **_each(_bool, raw, "spam", "deleted"),
            **_each(_opt_int, raw, "requester_id", "responder_id", "group_id", "company_id", "product_id"),
            created_at=parse_timestamp(raw.get("created_at"), "created_at"),
            updated_at=parse_timestamp(raw.get("updated_at"), "updated_at"),
        )


@dataclass(frozen=True)
class Conversation(_Record):
    ticket_id: int | None
    body_html: str | None
    body_text: str
    incoming: bool
    private: bool
    source: int | None
    user_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> dict[str, Any]:
        created = parse_timestamp(raw.get("created_at"), "created_at")
        return dict(
            ticket_id=_opt_int(raw, "ticket_id"),
            **_html_and_text(raw, "body"),
            **_each(_bool, raw, "incoming", "private"),
            **_each(_opt_int, raw, "source", "user_id"),
            created_at=created,
            updated_at=_opt_timestamp(raw.get("updated_at"), "updated_at") or created,
        )


@dataclass(frozen=True)
class Article(_Record):
    title: str
    description_html: str | None
    description_text: str
    status: int | None
    tags: tuple[str, ...]
    folder_id: int | None
    category_id: int | None
    folder_path: tuple[str, ...]
    language: str | None
    created_at: datetime
    updated_at: datetime
    # True when read through a `/{language}` translation endpoint: same id as the original.
    translation: bool = False

    @classmethod
    def _parse(
        cls,
        raw: dict[str, Any],
        *,
        folder_path: tuple[str, ...] = (),
        language: str | None = None,
        translation: bool = False,
    ) -> dict[str, Any]:
        return dict(
            title=_opt_str(raw, "title") or "",
            **_html_and_text(raw, "description"),
            status=_opt_int(raw, "status"),
            tags=_tags(raw),
            **_each(_opt_int, raw, "folder_id", "category_id"),
            folder_path=tuple(folder_path),
            language=language if language is not None else _opt_str(raw, "language"),
            created_at=parse_timestamp(raw.get("created_at"), "created_at"),
            updated_at=parse_timestamp(raw.get("updated_at"), "updated_at"),
            translation=translation,
        )


@dataclass(frozen=True)
class MalformedItem:
    """A record that failed to parse; the listing that met it went on."""

    kind: str  # "ticket" | "kb_article" | "conversation"
    item_id: str | None
    endpoint: str
    error: str
    raw: Any = field(repr=False, compare=False)

    @classmethod
    def from_error(cls, kind: str, raw: Any, endpoint: str, exc: Exception) -> MalformedItem:
        item_id = raw.get("id") if isinstance(raw, dict) else None
        return cls(
            kind=kind,
            item_id=None if item_id is None else str(item_id),
            endpoint=endpoint,
            error=f"{type(exc).__name__}: {exc}",
            raw=raw,
        )

"""Turning what could not be read into failed items of the sync log."""

from __future__ import annotations

from datetime import datetime

from fd_pipeline.freshdesk import MalformedItem
from fd_pipeline.freshdesk.records import parse_timestamp
from fd_pipeline.sync_log import ItemResult, RawRecord


def item_updated_at(item) -> datetime | None:
    """When a fetched item (a record or a MalformedItem) was last updated, as far as can be read."""
    return lenient_updated_at(item.raw) if isinstance(item, MalformedItem) else item.updated_at


def lenient_updated_at(raw: object) -> datetime | None:
    if isinstance(raw, dict):
        try:
            return parse_timestamp(raw.get("updated_at"), "updated_at")
        except (TypeError, ValueError):
            return None
    return None


def malformed_result(item: MalformedItem, *, item_id: str | None = None) -> ItemResult:
    key = item_id or item.item_id or f"unknown:{item.endpoint}"
    return ItemResult(
        key, "failed", lenient_updated_at(item.raw), error=f"malformed {item.kind} from {item.endpoint}: {item.error}", stage="fetch"
    )


def unreadable_result(record: RawRecord, exc: Exception) -> ItemResult:
    """A stored record that no longer builds a document (the parse stage failed on it)."""
    return ItemResult(record.item_id, "failed", record.source_updated_at, error=f"stored record: {exc}", stage="parse")

"""Turn a SearchFilter (or a plain dict) into a Qdrant filter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from qdrant_client import models

from fd_pipeline.vectorstore.records import SearchFilter


def to_qdrant_filter(filters: SearchFilter | Mapping[str, Any] | models.Filter | None) -> models.Filter | None:
    """A dict maps a field to a value (equal), a list/tuple/set (any of), or {"gte": .., "lt": ..} (range)."""
    if filters is None or isinstance(filters, models.Filter):
        return filters
    if isinstance(filters, SearchFilter):
        filters = _search_filter_fields(filters)
    conditions = [_condition(key, value) for key, value in filters.items() if value is not None]
    return models.Filter(must=conditions) if conditions else None


def _search_filter_fields(f: SearchFilter) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": f.status,
        "tags": _as_list(f.tags),
        "language": f.language,
        "folder_id": f.folder_id,
        "category_id": f.category_id,
    }
    if f.updated_gte is not None or f.updated_lt is not None:
        fields["updated_at"] = {"gte": f.updated_gte, "lt": f.updated_lt}
    if f.created_gte is not None or f.created_lt is not None:
        fields["created_at"] = {"gte": f.created_gte, "lt": f.created_lt}
    return fields


def _as_list(value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return [value]
    return list(value)


def _condition(key: str, value: Any) -> models.FieldCondition:
    if isinstance(value, Mapping):
        bounds = {op: value.get(op) for op in ("gt", "gte", "lt", "lte")}
        unknown = set(value) - set(bounds)
        if unknown:
            raise ValueError(f"range on {key!r} accepts gt/gte/lt/lte, not {sorted(unknown)}")
        if any(isinstance(b, (datetime, date)) for b in bounds.values()):
            return models.FieldCondition(key=key, range=models.DatetimeRange(**bounds))
        return models.FieldCondition(key=key, range=models.Range(**bounds))
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        if not values:
            raise ValueError(f"filter on {key!r} has an empty list of values")
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))

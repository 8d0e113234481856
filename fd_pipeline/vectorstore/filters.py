"""Payload filters: a SearchFilter (or a plain dict) becomes engine-neutral conditions, then each
engine's own filter type (qdrant-client `models.Filter` for servers and `:memory:`, qdrant-edge's
`Filter` for the embedded default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from qdrant_client import models

from fd_pipeline.vectorstore.records import SearchFilter

_RANGE_OPS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Condition:
    """One payload condition: `eq` one value, `any` of several values, or a `range` (bounds by op)."""

    key: str
    kind: str
    value: Any


FilterInput = SearchFilter | Mapping[str, Any] | models.Filter | None


def conditions(filters: SearchFilter | Mapping[str, Any] | None) -> list[Condition]:
    """A dict maps a field to a value (equal), a list/tuple/set (any of), or {"gte": .., "lt": ..} (range)."""
    if filters is None:
        return []
    if isinstance(filters, SearchFilter):
        filters = _search_filter_fields(filters)
    return [_condition(key, value) for key, value in filters.items() if value is not None]


def to_qdrant_filter(filters: FilterInput) -> models.Filter | None:
    """qdrant-client's filter (a `models.Filter` passes through unchanged)."""
    if filters is None or isinstance(filters, models.Filter):
        return filters
    must = [_client_condition(c) for c in conditions(filters)]
    return models.Filter(must=must) if must else None


def to_edge_filter(filters: FilterInput) -> Any:
    """qdrant-edge's filter; a qdrant-client `models.Filter` is translated (field conditions only)."""
    import qdrant_edge as qe

    if filters is None:
        return None
    if isinstance(filters, models.Filter):
        return _edge_from_client(filters)
    must = [_edge_condition(c) for c in conditions(filters)]
    return qe.Filter(must=must) if must else None


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


def _condition(key: str, value: Any) -> Condition:
    if isinstance(value, Mapping):
        unknown = set(value) - set(_RANGE_OPS)
        if unknown:
            raise ValueError(f"range on {key!r} accepts gt/gte/lt/lte, not {sorted(unknown)}")
        return Condition(key, "range", {op: value.get(op) for op in _RANGE_OPS})
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        if not values:
            raise ValueError(f"filter on {key!r} has an empty list of values")
        return Condition(key, "any", values)
    return Condition(key, "eq", value)


def _is_datetime_range(bounds: Mapping[str, Any]) -> bool:
    return any(isinstance(b, (datetime, date)) for b in bounds.values())


def _client_condition(c: Condition) -> models.FieldCondition | models.Filter:
    if c.kind == "range":
        if _is_datetime_range(c.value):
            return models.FieldCondition(key=c.key, range=models.DatetimeRange(**c.value))
        return models.FieldCondition(key=c.key, range=models.Range(**c.value))
    if c.kind == "any" and any(isinstance(v, bool) for v in c.value):  # MatchAny takes strings or integers only
        return models.Filter(should=[models.FieldCondition(key=c.key, match=models.MatchValue(value=v)) for v in c.value])
    if c.kind == "any":
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=c.value))
    return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))


def _iso(value: Any) -> str | None:
    """RFC 3339 for qdrant-edge's datetime ranges; a naive datetime is taken as UTC."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).isoformat()
    raise ValueError(f"not a datetime bound: {value!r}")


def _edge_range(bounds: Mapping[str, Any], datetimes: bool) -> Any:
    import qdrant_edge as qe

    if datetimes:
        return qe.RangeDateTime(**{op: _iso(v) for op, v in bounds.items() if v is not None})
    return qe.RangeFloat(**{op: float(v) for op, v in bounds.items() if v is not None})


def _edge_match_value(key: str, value: Any) -> Any:
    import numpy as np
    import qdrant_edge as qe

    # qdrant-edge 0.9.0 reads a Python bool as the integer 0/1, which never matches a stored
    # bool; numpy's bool is not an int, so it arrives as a bool.
    return qe.FieldCondition(key=key, match=qe.MatchValue(np.bool_(value) if isinstance(value, bool) else value))


def _edge_any(key: str, values: list) -> Any:
    import qdrant_edge as qe

    if any(isinstance(v, bool) for v in values):  # MatchAny takes strings or integers only
        return qe.Filter(should=[_edge_match_value(key, v) for v in values])
    return qe.FieldCondition(key=key, match=qe.MatchAny(values))


def _edge_condition(c: Condition) -> Any:
    import qdrant_edge as qe

    if c.kind == "range":
        return qe.FieldCondition(key=c.key, range=_edge_range(c.value, _is_datetime_range(c.value)))
    if c.kind == "any":
        return _edge_any(c.key, c.value)
    return _edge_match_value(c.key, c.value)


def _edge_from_client(f: models.Filter) -> Any:
    import qdrant_edge as qe

    def many(items: Any) -> list | None:
        if items is None:
            return None
        items = items if isinstance(items, list) else [items]
        return [_edge_from_client_condition(i) for i in items]

    return qe.Filter(must=many(f.must), should=many(f.should), must_not=many(f.must_not))


def _edge_from_client_condition(c: Any) -> Any:
    import qdrant_edge as qe

    if isinstance(c, models.Filter):
        return _edge_from_client(c)
    if not isinstance(c, models.FieldCondition):
        raise ValueError(f"the embedded engine takes field conditions and nested filters, not {type(c).__name__}")
    if c.range is not None:
        bounds = {op: getattr(c.range, op) for op in _RANGE_OPS}
        return qe.FieldCondition(key=c.key, range=_edge_range(bounds, isinstance(c.range, models.DatetimeRange)))
    match = c.match
    if isinstance(match, models.MatchValue):
        return _edge_match_value(c.key, match.value)
    if isinstance(match, models.MatchAny):
        return _edge_any(c.key, list(match.any))
    if isinstance(match, models.MatchExcept):
        return qe.FieldCondition(key=c.key, match=qe.MatchExcept(list(match.except_)))
    raise ValueError(f"the embedded engine cannot translate the condition on {c.key!r}")

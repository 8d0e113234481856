"""A document: what one source item becomes before it is embedded and written to Qdrant."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


@dataclass(frozen=True)
class Document:
    """One item of a collection: texts per aspect (empty aspects absent) and the point payload.

    Built from a raw record by the domain's texts module; the embedding step adds the hashes
    (`hashed`) and keeps it in the sync log, where the collection step reads it back as it is.
    `content_hashes` (aspect -> hash of the text) are valid for the model named by `hashed_for`
    (see `hash_basis`); empty until hashed.
    """

    item_id: str
    point_id: int | str
    source_updated_at: datetime
    texts: dict[str, str] = field(repr=False)
    payload: dict[str, Any] = field(repr=False)
    removed: bool = False
    content_hashes: dict[str, str] = field(default_factory=dict, repr=False)
    payload_hash: str | None = field(default=None, repr=False)
    hashed_for: str | None = None

    def hashed(self, content_hash: Callable[[str], str], basis: str) -> Document:
        """This document with the hash of each text (`content_hash` of the model `basis` names) and of its payload."""
        return replace(
            self,
            content_hashes={aspect: content_hash(text) for aspect, text in self.texts.items()},
            payload_hash=stable_hash(self.payload),
            hashed_for=basis,
        )


def hash_basis(identity: Any) -> str:
    """What a text's content hash depends on besides the text: the model identity's key and its
    token limit (which the key leaves out). Hashes kept under another basis are not this model's."""
    return f"{identity.key}/{identity.max_tokens}"


def stable_hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def detect_language(text: str) -> str:
    """'ko' when a fair share of the letters are Hangul, else 'en' (the desk's two languages)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    hangul = sum(1 for c in letters if _HANGUL.match(c))
    return "ko" if hangul / len(letters) >= 0.2 else "en"


def clip(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

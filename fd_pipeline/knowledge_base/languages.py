"""Which KB translations a sync reads: every language the help desk has, unless FD_KB_LANGUAGES narrows it.

A customer asks in their own language; the answer should come back in it wherever the KB has a
translation, without anyone having to name the languages first. The desk says which it has in
`GET /settings/helpdesk` (`supported_languages`); where the plan or the key cannot read that, the
translations themselves tell: the KB's first category is asked for in each of Freshdesk's
language codes, and the answer is remembered in the sync store for a day, since that costs one
call per code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

ALL = "all"
NONE = "none"
# The language codes Freshdesk accepts for KB translations (its "supported languages" list).
FRESHDESK_LANGUAGES = (
    "ar", "bs", "bg", "ca", "zh-CN", "zh-TW", "hr", "cs", "da", "nl", "et", "fi", "fr", "de", "el", "he", "hu",
    "is", "id", "it", "ja-JP", "ko", "lv-LV", "lt", "ms", "nb-NO", "pl", "pt-BR", "pt-PT", "ro", "ru-RU", "sr",
    "sk", "sl", "es-LA", "es", "sv-SE", "th", "tr", "uk", "vi", "en",
)
DISCOVERED_KEY = "kb_languages_discovered"
REDISCOVER_AFTER = timedelta(days=1)


def wanted_languages(setting: Sequence[str]) -> tuple[str, ...] | None:
    """FD_KB_LANGUAGES as a list of codes; None for "every language the desk has" (unset or `all`);
    `none` reads the primary language only."""
    codes = [c.strip() for c in setting if c and c.strip()]
    if not codes or any(c.lower() == ALL for c in codes):
        return None
    if any(c.lower() == NONE for c in codes):
        return ()
    return tuple(dict.fromkeys(codes))


def kb_languages(client: Any, setting: Sequence[str], store: Any | None = None,
                 now: datetime | None = None) -> tuple[str, ...]:
    """The translation languages to sync (never the primary one): FD_KB_LANGUAGES when it names
    them, else the help desk's supported languages, else those the KB has translations in."""
    wanted = wanted_languages(setting)
    if wanted is not None:
        return wanted
    settings = client.helpdesk_languages()
    if settings is not None:
        return settings[1]
    now = now or datetime.now(UTC)
    remembered = store.get_meta(DISCOVERED_KEY) if store is not None else None
    if isinstance(remembered, dict) and isinstance(remembered.get("languages"), list):
        try:
            fresh = now - datetime.fromisoformat(str(remembered.get("at"))) < REDISCOVER_AFTER
        except ValueError:
            fresh = False
        if fresh:
            return tuple(str(c) for c in remembered["languages"])
    found = client.kb_translated_into(FRESHDESK_LANGUAGES)
    primary = "en" if "en" in found else None
    languages = tuple(c for c in found if c != primary)
    log.info("help desk settings not readable: KB translations found in %s", ", ".join(languages) or "no language")
    if store is not None:
        store.set_meta(DISCOVERED_KEY, {"languages": list(languages), "at": now.isoformat()})
    return languages

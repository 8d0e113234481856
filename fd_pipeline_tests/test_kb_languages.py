"""Which KB translations a sync reads (issue 22): every language the help desk has, read from
`GET /settings/helpdesk`, unless FD_KB_LANGUAGES narrows it; on a plan that refuses that endpoint,
the languages the KB's translations exist in, remembered in the sync store for a day.
Against the emulator over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fd_pipeline.emulator import server as emulator_server
from fd_pipeline.freshdesk import FreshdeskClient
from fd_pipeline.knowledge_base.fetch import fetch_articles
from fd_pipeline.knowledge_base.languages import FRESHDESK_LANGUAGES, kb_languages, wanted_languages
from fd_pipeline.sync_log import SyncLog


def _client(emu) -> FreshdeskClient:
    return FreshdeskClient(api_key=emu.api_key, base_url=emu.base_url, backoff_base=0.01, backoff_cap=0.05)


def test_the_setting_narrows_or_leaves_the_choice_to_the_desk():
    assert wanted_languages([]) is None and wanted_languages(["all"]) is None and wanted_languages([" "]) is None
    assert wanted_languages(["none"]) == ()
    assert wanted_languages(["ko", "ja", "ko"]) == ("ko", "ja")


def test_every_language_of_the_help_desk_unless_the_setting_names_them(make_emulator, sqlite_url):
    emu = make_emulator(tickets=10, articles=40)
    with _client(emu) as client:
        assert client.helpdesk_languages() == ("en", ("ko",))
        assert kb_languages(client, []) == ("ko",)
        calls = client.stats.calls
        assert kb_languages(client, ["none"]) == ()
        assert kb_languages(client, ["ko"]) == ("ko",)
        assert client.stats.calls == calls  # named languages: the desk is not asked
        store = SyncLog(sqlite_url)
        try:
            fetch_articles(client, store, languages=kb_languages(client, []))
            stored = {r.item_id for batch in store.iter_raw("kb_article") for r in batch}
        finally:
            store.close()
    translated = {a.id for a in emu.desk.articles.values() if "ko" in a.translations}
    assert translated and {f"{a}:ko" for a in translated} <= stored


class _PlanWithoutHelpdeskSettings:
    """The emulator behind a gateway that refuses `/settings/helpdesk` as Freshdesk does on a plan
    or for a role without it (403 access_denied); every other path goes through untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == "/api/v2/settings/helpdesk":
            body = json.dumps({"code": "access_denied", "message": "You are not authorized to perform this action."})
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send)


def test_without_the_settings_endpoint_the_translations_tell(make_emulator, sqlite_url, monkeypatch):
    gate = emulator_server.ApiGate
    monkeypatch.setattr(emulator_server, "ApiGate", lambda emu: _PlanWithoutHelpdeskSettings(gate(emu)))
    emu = make_emulator(tickets=10, articles=40)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    store = SyncLog(sqlite_url)
    try:
        with _client(emu) as client:
            assert client.helpdesk_languages() is None
            calls = client.stats.calls
            assert kb_languages(client, [], store, now=now) == ("ko",)
            probed = client.stats.calls - calls
            assert probed == len(FRESHDESK_LANGUAGES) + 2  # the settings, the categories, one per code
            calls = client.stats.calls
            # Remembered: the next sync within a day asks only for the settings again.
            assert kb_languages(client, [], store, now=now + timedelta(hours=20)) == ("ko",)
            assert client.stats.calls - calls == 1
            calls = client.stats.calls
            assert kb_languages(client, [], store, now=now + timedelta(days=2)) == ("ko",)
            assert client.stats.calls - calls == probed
    finally:
        store.close()


@pytest.mark.parametrize("status", [401])
def test_a_wrong_key_still_fails_at_once(make_emulator, status):
    emu = make_emulator(tickets=10, articles=10)
    from fd_pipeline.freshdesk import FreshdeskAuthError

    with FreshdeskClient(api_key="wrong-key-123", base_url=emu.base_url) as client:
        with pytest.raises(FreshdeskAuthError, match=str(status)):
            kb_languages(client, [])

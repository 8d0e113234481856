"""The emulator serves what a generic "every stream" Freshdesk client reads, in Freshdesk's shapes.

Checked against the public API reference: /settings/helpdesk names the languages the KB's
translations are in (and every translation the KB serves is in one of them).
"""

from __future__ import annotations

import httpx

from fd_pipeline.emulator.handlers import LANGUAGES


def test_helpdesk_settings_name_the_languages_the_kb_is_translated_into(shared_emulator):
    emu = shared_emulator
    with httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"), timeout=30) as client:
        r = client.get("/api/v2/settings/helpdesk")
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"primary_language", "supported_languages", "portal_languages"}
        assert body["primary_language"] == "en"
        assert body["primary_language"] not in body["supported_languages"]
        assert set(body["portal_languages"]) <= set(body["supported_languages"])
        assert r.headers["X-RateLimit-Used-CurrentRequest"] == "1"
        translated = {lang for a in emu.desk.articles.values() for lang in a.translations}
        assert translated and translated <= set(body["supported_languages"])
        for lang in body["supported_languages"]:
            assert client.get(f"/api/v2/solutions/categories/{lang}").status_code == 200
        assert set(LANGUAGES) == {body["primary_language"], *body["supported_languages"]}
        assert client.get("/api/v2/settings/helpdesk", auth=("wrong", "X")).status_code == 401

"""The Freshdesk emulator behaves as /work/shared/freshdesk-api-facts.md says, over real HTTP.

Checked: exact shapes with nulls and `YYYY-MM-DDTHH:MM:SSZ` timestamps, no description on
list calls without include=description, Basic auth (401 invalid_credentials, 403), 404
bodies, pagination with `link` and the exact page-301 body, per_page validation, the 30-day
default window, deleted/spam filters, ordering, include credits in `X-RateLimit-*`, 429 +
Retry-After with a short window (and sub-limits), every fault type, TLS with the generated
CA, mutations bumping `updated_at`, determinism, ground truth, the admin endpoints, the CLI,
and a 50,000-ticket account listing quickly. What third-party clients need: `include=company`
alone and with every other include, `/agents` paged and `/agents/me`, extra certificate names
that verify (`--tls-hostname`), solutions lists paging at 30 with `link` (and the project's
client reading a paged tree whole), and a real API key masked in the CLI banner.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fd_pipeline.emulator import Emulator, FaultConfig
from fd_pipeline.emulator.handlers import PAGE_301_BODY
from fd_pipeline.emulator.faults import FaultInjector

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
TICKET_KEYS = {
    "cc_emails", "fwd_emails", "reply_cc_emails", "ticket_cc_emails", "fr_escalated", "spam", "deleted",
    "email_config_id", "group_id", "priority", "requester_id", "responder_id", "source", "company_id",
    "status", "subject", "association_type", "support_email", "to_emails", "product_id", "id", "type",
    "due_by", "fr_due_by", "is_escalated", "custom_fields", "created_at", "updated_at",
    "associated_tickets_count", "tags", "nr_due_by", "nr_escalated",
}
CONVERSATION_KEYS = {"id", "body", "body_text", "incoming", "private", "source", "user_id", "ticket_id",
                     "from_email", "to_emails", "cc_emails", "bcc_emails", "attachments", "created_at",
                     "updated_at", "last_edited_at", "category"}
ARTICLE_KEYS = {"id", "type", "title", "description", "description_text", "status", "tags", "folder_id",
                "category_id", "agent_id", "hierarchy", "hits", "thumbs_up", "thumbs_down", "seo_data",
                "created_at", "updated_at"}
AGENT_KEYS = {"available", "occasional", "id", "ticket_scope", "signature", "group_ids", "role_ids", "skill_ids",
              "available_since", "contact", "created_at", "updated_at", "last_active_at", "type", "focus_mode",
              "deactivated", "agent_level_id", "freshcaller_agent", "freshchat_agent"}
AGENT_CONTACT_KEYS = {"active", "email", "job_title", "language", "last_login_at", "mobile", "name", "phone",
                      "time_zone", "created_at", "updated_at"}


def ts(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def walk(client: httpx.Client, path: str, params: dict) -> list[dict]:
    """Follow `link` headers to the end."""
    out: list[dict] = []
    r = client.get(path, params=params)
    while True:
        assert r.status_code == 200, r.text
        out.extend(r.json())
        link = r.headers.get("link")
        if not link:
            return out
        r = client.get(re.match(r"<([^>]+)>", link).group(1))


def since(emu: Emulator, hours: float) -> str:
    return (emu.clock.now() - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_ticket_shapes_nulls_and_no_description_without_include(emulator, emulator_client):
    r = emulator_client.get("/api/v2/tickets", params={"updated_since": since(emulator, 48), "per_page": 100})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    tickets = r.json()
    assert len(tickets) == 100
    for t in tickets:
        assert set(t) == TICKET_KEYS, set(t) ^ TICKET_KEYS
        assert isinstance(t["id"], int) and t["status"] in (2, 3, 4, 5) and 1 <= t["priority"] <= 4
        for k in ("created_at", "updated_at", "due_by", "fr_due_by"):
            assert TS.match(t[k]), t[k]
        assert all(k.startswith("cf_") for k in t["custom_fields"])
        assert t["deleted"] is False and t["spam"] is False
    assert any(t["type"] is None for t in tickets) and any(t["responder_id"] is None for t in tickets)
    assert any(v is None for t in tickets for v in t["custom_fields"].values())
    assert any(HANGUL.search(t["subject"]) for t in tickets) and any(not HANGUL.search(t["subject"]) for t in tickets)

    r = emulator_client.get("/api/v2/tickets", params={"updated_since": since(emulator, 48), "per_page": 100,
                                                       "include": "description,requester,stats"})
    full = r.json()
    assert [t["id"] for t in full] == [t["id"] for t in tickets]
    for t in full:
        assert set(t) == TICKET_KEYS | {"description", "description_text", "requester", "stats"}
        assert set(t["requester"]) == {"id", "name", "email", "mobile", "phone"}
    descs = [t["description"] for t in full]
    assert any("<blockquote>" in d or "&gt; " in d for d in descs), "quoted earlier mails"
    assert any("Best regards" in d or "감사합니다" in d for d in descs), "signatures"

    one = emulator_client.get(f"/api/v2/tickets/{tickets[0]['id']}").json()
    assert {"description", "description_text", "attachments"} <= set(one)


def test_auth_and_not_found_bodies(emulator):
    url = emulator.base_url + "/api/v2/tickets"
    for auth in (None, ("wrong-key", "X")):
        r = httpx.get(url, auth=auth)
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "invalid_credentials"
        assert "x-ratelimit-remaining" in r.headers and "retry-after" not in r.headers
    r = httpx.get(url, auth=(emulator.restricted_api_key, "X"))
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "access_denied"
    assert httpx.get(url, auth=(emulator.api_key, "anything")).status_code == 200
    for path in ("/api/v2/tickets/999999", "/api/v2/tickets/999999/conversations",
                 "/api/v2/solutions/articles/1", "/api/v2/solutions/folders/1/articles"):
        r = httpx.get(emulator.base_url + path, auth=(emulator.api_key, "X"))
        assert r.status_code == 404
        body = r.json()
        assert set(body) == {"description", "errors"} and body["errors"][0]["code"] == "not_found"
        assert "field" not in body["errors"][0]


def test_pagination_link_header_and_page_301(make_emulator, emulator_now):
    emu = make_emulator(tickets=900, span_hours=240)
    client = httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"))
    start = since(emu, 240)
    got = walk(client, "/api/v2/tickets", {"updated_since": start, "order_by": "updated_at",
                                           "order_type": "asc", "per_page": 100})
    ids = [t["id"] for t in got]
    assert len(ids) == len(set(ids))
    live = {t.id for t in emu.desk.tickets.values() if not t.deleted and not t.spam}
    assert set(ids) == live
    stamps = [t["updated_at"] for t in got]
    assert stamps == sorted(stamps)
    r = client.get("/api/v2/tickets", params={"updated_since": start, "per_page": 100, "page": 9})
    assert "link" not in r.headers  # last page
    r = client.get("/api/v2/tickets", params={"updated_since": start, "per_page": 100, "page": 8})
    assert 'rel="next"' in r.headers["link"] and "page=9" in r.headers["link"]

    r = client.get("/api/v2/tickets", params={"page": 301, "per_page": 100})
    assert r.status_code == 400
    assert r.json() == PAGE_301_BODY
    assert r.text == ('{"description":"Validation failed","errors":[{"field":"page","message":"You cannot access '
                      'tickets beyond the 300th page. Please provide a smaller page number.","code":"invalid_value"}]}')
    assert client.get("/api/v2/tickets", params={"page": 300}).status_code == 200
    for bad in ("101", "0", "abc"):
        r = client.get("/api/v2/tickets", params={"per_page": bad})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "per_page"
    assert len(client.get("/api/v2/tickets", params={"updated_since": start}).json()) == 30  # default
    assert client.get("/api/v2/tickets", params={"per_page": 100}).status_code == 200
    assert client.get("/api/v2/tickets", params={"updated_since": "not a date"}).status_code == 400
    assert client.get("/api/v2/tickets", params={"order_by": "subject"}).status_code == 400


def test_default_window_is_30_days_of_created_at(make_emulator):
    emu = make_emulator(tickets=600)
    client = httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"))
    cutoff = emu.clock.now() - timedelta(days=30)
    got = walk(client, "/api/v2/tickets", {"per_page": 100})
    expected = {t.id for t in emu.desk.tickets.values()
                if not t.deleted and not t.spam and t.created_at >= cutoff.timestamp()}
    assert {t["id"] for t in got} == expected
    assert all(ts(t["created_at"]) >= cutoff for t in got)
    created = [t["created_at"] for t in got]
    assert created == sorted(created, reverse=True)  # created_at desc by default
    with_since = walk(client, "/api/v2/tickets", {"per_page": 100, "updated_since": since(emu, 48)})
    assert any(ts(t["created_at"]) < cutoff for t in with_since), "older tickets only come with updated_since"


def test_deleted_and_spam_only_through_their_filter(emulator, emulator_client):
    params = {"updated_since": since(emulator, 48), "per_page": 100}
    live = walk(emulator_client, "/api/v2/tickets", params)
    deleted = walk(emulator_client, "/api/v2/tickets", {**params, "filter": "deleted"})
    spam = walk(emulator_client, "/api/v2/tickets", {**params, "filter": "spam"})
    assert deleted and spam
    assert all(t["deleted"] is True for t in deleted) and all(t["spam"] is True for t in spam)
    assert not any(t["deleted"] or t["spam"] for t in live)
    assert len(live) + len(deleted) + len(spam) == len(emulator.desk.tickets)
    tid = live[0]["id"]
    emulator.clock.advance(60)
    emulator.delete_ticket(tid)
    recent = {"updated_since": emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert [t["id"] for t in emulator_client.get("/api/v2/tickets", params={**recent, "filter": "deleted"}).json()] == [tid]
    assert emulator_client.get("/api/v2/tickets", params=recent).json() == []
    emulator.clock.advance(60)
    emulator.restore_ticket(tid)
    recent = {"updated_since": emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert [t["id"] for t in emulator_client.get("/api/v2/tickets", params=recent).json()] == [tid]
    assert emulator_client.get("/api/v2/tickets", params={"filter": "bogus"}).status_code == 400


def test_order_by_and_order_type(emulator, emulator_client):
    base = {"updated_since": since(emulator, 48), "per_page": 100}
    for order_by in ("created_at", "updated_at", "due_by", "status"):
        for order_type in ("asc", "desc"):
            got = walk(emulator_client, "/api/v2/tickets", {**base, "order_by": order_by, "order_type": order_type})
            keys = [t[order_by] for t in got]
            assert keys == sorted(keys, reverse=order_type == "desc"), (order_by, order_type)


def test_include_costs_two_credits_each_and_conversations(emulator, emulator_client):
    def used(params, path="/api/v2/tickets"):
        r = emulator_client.get(path, params=params)
        assert r.status_code == 200
        return int(r.headers["X-RateLimit-Used-CurrentRequest"]), int(r.headers["x-ratelimit-remaining"])

    assert used({})[0] == 1
    u, rem = used({"include": "description"})
    assert u == 3
    u2, rem2 = used({"include": "description,requester,stats"})
    assert u2 == 7 and rem2 == rem - 7
    assert int(emulator_client.get("/api/v2/tickets").headers["x-ratelimit-total"]) == 700

    long_id = next(t.id for t in emulator.desk.tickets.values() if len(emulator.desk.conversations(t.id)) > 30)
    assert used({"include": "conversations"}, f"/api/v2/tickets/{long_id}")[0] == 3
    shown = emulator_client.get(f"/api/v2/tickets/{long_id}", params={"include": "conversations"}).json()
    assert len(shown["conversations"]) == 10
    r = emulator_client.get(f"/api/v2/tickets/{long_id}/conversations")
    assert len(r.json()) == 30 and 'rel="next"' in r.headers["link"]
    convs = walk(emulator_client, f"/api/v2/tickets/{long_id}/conversations", {})
    assert len(convs) == len(emulator.desk.conversations(long_id)) > 30
    assert [c["id"] for c in convs[:10]] == [c["id"] for c in shown["conversations"]]
    for c in convs:
        assert CONVERSATION_KEYS <= set(c) and c["ticket_id"] == long_id and TS.match(c["created_at"])
    assert emulator.stats.conversation_calls[long_id] >= 4
    # Resolved threads carry a public agent reply and usually a private note with the cause.
    resolved = [t.id for t in emulator.desk.tickets.values() if t.status in (4, 5) and not t.spam]
    kinds = set()
    for tid in resolved[:40]:
        for c in emulator_client.get(f"/api/v2/tickets/{tid}/conversations").json():
            kinds.add((c["incoming"], c["private"]))
    assert {(False, False), (False, True), (True, False)} <= kinds
    assert any(not emulator.desk.conversations(t) for t in resolved), "some tickets have no conversations"


def test_solutions_tree_with_nested_folders_drafts_and_translations(emulator, emulator_client):
    cats = emulator_client.get("/api/v2/solutions/categories").json()
    assert len(cats) >= 3 and all(TS.match(c["created_at"]) for c in cats)
    seen_articles, nested, statuses = [], False, set()

    def visit(folder):
        nonlocal nested
        assert set(folder) >= {"id", "name", "parent_folder_id", "hierarchy"}
        nested |= len(folder["hierarchy"]) >= 4
        arts = walk(emulator_client, f"/api/v2/solutions/folders/{folder['id']}/articles", {})
        for a in arts:
            assert ARTICLE_KEYS <= set(a) and a["folder_id"] == folder["id"]
            assert a["hierarchy"][0]["type"] == "category" and a["hierarchy"][-1]["data"]["id"] == folder["id"]
            statuses.add(a["status"])
        seen_articles.extend(arts)
        for sub in emulator_client.get(f"/api/v2/solutions/folders/{folder['id']}/subfolders").json():
            assert sub["parent_folder_id"] == folder["id"]
            visit(sub)

    for c in cats:
        for f in emulator_client.get(f"/api/v2/solutions/categories/{c['id']}/folders").json():
            assert f["parent_folder_id"] is None
            visit(f)
    assert nested and statuses == {1, 2}
    assert {a["id"] for a in seen_articles} == set(emulator.desk.articles)

    translated = next(a for a in emulator.desk.articles.values() if "ko" in a.translations)
    untranslated = next(a for a in emulator.desk.articles.values() if "ko" not in a.translations)
    ko = emulator_client.get(f"/api/v2/solutions/articles/{translated.id}/ko").json()
    assert HANGUL.search(ko["title"]) and ko["id"] == translated.id
    assert emulator_client.get(f"/api/v2/solutions/articles/{untranslated.id}/ko").status_code == 404
    ko_list = emulator_client.get(f"/api/v2/solutions/folders/{translated.folder_id}/articles/ko").json()
    assert translated.id in {a["id"] for a in ko_list} and untranslated.id not in {a["id"] for a in ko_list}
    assert HANGUL.search(emulator_client.get("/api/v2/solutions/categories/ko").json()[1]["name"])


def test_rate_limit_429_retry_after_and_sub_limit(make_emulator):
    emu = make_emulator(plan="trial", rate_window_s=3)
    client = httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"))
    emu.rate_limiter.reset()
    assert client.get("/api/v2/tickets", params={"per_page": 500}).status_code == 400  # invalid still counts
    assert client.get("/api/v2/tickets", params={"include": "description"}).headers["x-ratelimit-remaining"] == "46"
    codes = [client.get("/api/v2/tickets/1000").status_code for _ in range(47)]
    assert codes[:46] == [200] * 46 and codes[46] == 429
    r = client.get("/api/v2/tickets/1000")
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 3
    assert r.json()["errors"][0]["code"] == "rate_limit_exceeded" and r.headers["x-ratelimit-remaining"] == "0"
    time.sleep(int(r.headers["retry-after"]))
    assert client.get("/api/v2/tickets/1000").status_code == 200
    assert emu.stats.throttled == 2

    growth = make_emulator(plan="growth", rate_window_s=5)
    client = httpx.Client(base_url=growth.base_url, auth=(growth.api_key, "X"))
    growth.rate_limiter.reset()
    codes = [client.get("/api/v2/tickets").status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert client.get("/api/v2/tickets/1000").status_code == 200  # the overall budget is not spent
    assert "retry-after" not in client.get("/api/v2/tickets/1001").headers


def test_every_fault_type_is_observable(emulator):
    # A read timeout no answer comes near on a loaded machine, below the "timeout" fault's sleep.
    client = httpx.Client(base_url=emulator.base_url, auth=(emulator.api_key, "X"), timeout=5.0)
    kinds = ["429", "500", "502", "503", "slow", "timeout", "drop", "truncate", "malformed"]
    emulator.set_faults(FaultConfig(schedule={n + 1: k for n, k in enumerate(kinds)}, slow_s=0.3,
                                    timeout_s=15.0, retry_after_s=2, burst_429=1))
    seen = {}
    for kind in kinds:
        t0 = time.monotonic()
        try:
            r = client.get("/api/v2/tickets", params={"updated_since": since(emulator, 48)})
            seen[kind] = (r.status_code, r, time.monotonic() - t0)
        except httpx.HTTPError as exc:
            seen[kind] = (type(exc), None, time.monotonic() - t0)
    assert seen["429"][0] == 429 and seen["429"][1].headers["retry-after"] == "2"
    assert seen["500"][0] == 500 and seen["500"][1].json()["errors"]
    assert seen["502"][0] == 502 and seen["502"][1].headers["content-type"].startswith("text/html")
    assert seen["503"][0] == 503
    assert seen["slow"][0] == 200 and seen["slow"][2] >= 0.3
    assert seen["timeout"][0] is httpx.ReadTimeout
    assert seen["drop"][0] is httpx.RemoteProtocolError
    for kind in ("truncate", "malformed"):
        assert seen[kind][0] == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(seen[kind][1].text)
    for kind in ("429", "500", "502", "503", "slow", "truncate", "malformed"):
        assert "x-ratelimit-total" in seen[kind][1].headers, kind
        assert ("retry-after" in seen[kind][1].headers) == (kind == "429"), kind
    assert dict(emulator.stats.faults) == {k: 1 for k in kinds}
    assert client.get("/api/v2/tickets").status_code == 200  # the schedule is spent

    emulator.set_faults(FaultConfig(fail_once=(("/api/v2/tickets", 2),)))
    params = {"updated_since": since(emulator, 48), "page": 2}
    assert client.get("/api/v2/tickets", params=params).status_code == 500
    assert client.get("/api/v2/tickets", params=params).status_code == 200
    assert client.get("/api/v2/tickets", params={**params, "page": 1}).status_code == 200


def test_random_faults_are_deterministic_and_bursty():
    cfg = FaultConfig(seed=3, rate_429=0.05, burst_429=4, rate_500=0.05, rate_drop=0.05, rate_truncate=0.05)
    runs = []
    for _ in range(2):
        inj = FaultInjector(cfg)
        runs.append([inj.decide("/api/v2/tickets", 1) for _ in range(400)])
    assert runs[0] == runs[1]
    assert {"429", "500", "drop", "truncate"} <= set(runs[0])
    i = runs[0].index("429")
    assert runs[0][i: i + 4] == ["429"] * 4
    limited = FaultInjector(FaultConfig(seed=3, rate_500=1.0, paths=("/api/v2/solutions",)))
    assert limited.decide("/api/v2/tickets", 1) is None and limited.decide("/api/v2/solutions/categories", 1) == "500"


def test_tls_with_generated_ca(make_emulator, tmp_path):
    emu = make_emulator(tickets=20, tls=True, cert_dir=tmp_path / "tls")
    assert emu.base_url.startswith("https://127.0.0.1:") and os.path.exists(emu.ca_file)
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    r = httpx.get(emu.base_url + "/api/v2/tickets", auth=(emu.api_key, "X"), verify=ctx)
    assert r.status_code == 200 and "https://127.0.0.1" in (r.headers.get("link") or "https://127.0.0.1")
    r = httpx.get(emu.base_url.replace("127.0.0.1", "localhost") + "/api/v2/tickets/1000",
                  auth=(emu.api_key, "X"), verify=ctx, headers={"Host": "acme.freshdesk.com"})
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_url + "/api/v2/tickets", auth=(emu.api_key, "X"))


def test_mutations_bump_updated_at_and_show_in_listings(emulator, emulator_client):
    desk = emulator.desk
    live = sorted(t.id for t in desk.tickets.values() if not t.deleted and not t.spam)
    emulator.clock.advance(3600)
    now_s = emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def recent_ids():
        return [t["id"] for t in emulator_client.get("/api/v2/tickets", params={
            "updated_since": now_s, "order_by": "updated_at", "order_type": "asc"}).json()]

    assert recent_ids() == []
    emulator.update_ticket(live[0], subject="Changed subject", priority=4)
    before = len(desk.conversations(live[1]))
    cid = emulator.add_conversation(live[1], "<div>Still broken</div>", incoming=True)
    emulator.resolve_ticket(live[2], body="<ol><li>Do this</li></ol>")
    new_id = emulator.create_ticket("New ticket", "<div>Hello</div>", topic=0)
    assert sorted(recent_ids()) == sorted([live[0], live[1], live[2], new_id])
    t0 = emulator_client.get(f"/api/v2/tickets/{live[0]}").json()
    assert t0["subject"] == "Changed subject" and t0["priority"] == 4 and t0["updated_at"] == now_s
    convs = walk(emulator_client, f"/api/v2/tickets/{live[1]}/conversations", {})
    assert len(convs) == before + 1 and convs[-1]["id"] == cid and convs[-1]["incoming"] is True
    assert emulator_client.get(f"/api/v2/tickets/{live[2]}").json()["status"] == 4
    assert new_id > max(live) and emulator.ground_truth[new_id] == desk.topic_article[0]

    emulator.clock.advance(60)
    emulator.corrupt_ticket(live[3], how="bad_field")
    emulator.corrupt_ticket(live[4], how="unembeddable")
    r = emulator_client.get("/api/v2/tickets", params={"updated_since": emulator.clock.now().isoformat(),
                                                       "include": "description"})
    by_id = {t["id"]: t for t in r.json()}
    assert by_id[live[3]]["created_at"] == "yesterday" and by_id[live[3]]["priority"] == "high"
    assert isinstance(by_id[live[3]]["id"], int)
    assert "\\ud800" in r.text and by_id[live[4]]["subject"].endswith("\ud800")
    with pytest.raises(UnicodeEncodeError):
        by_id[live[4]]["description"].encode("utf-8")
    emulator.clock.advance(60)
    emulator.repair_ticket(live[3])
    emulator.repair_ticket(live[4])
    fixed = emulator_client.get(f"/api/v2/tickets/{live[3]}").json()
    assert TS.match(fixed["created_at"]) and isinstance(fixed["priority"], int)
    assert ts(fixed["updated_at"]) == emulator.clock.now()
    assert "\\ud800" not in emulator_client.get(f"/api/v2/tickets/{live[4]}").text

    emulator.clock.advance(60)
    changed = emulator.mutate_random(fraction=0.1, seed=5)
    assert abs(len(changed) - round(0.1 * len(live))) <= 1
    assert all(desk.tickets[i].updated_at == emulator.clock.timestamp() for i in changed)
    assert emulator.mutate_random(fraction=0.1, seed=5) != [] and len(set(changed)) == len(changed)

    art = next(a for a in desk.articles.values() if a.status == 2)
    folder = art.folder_id
    emulator.clock.advance(60)
    emulator.unpublish_article(art.id)
    a = emulator_client.get(f"/api/v2/solutions/articles/{art.id}").json()
    assert a["status"] == 1 and ts(a["updated_at"]) == emulator.clock.now()
    emulator.edit_article(art.id, title="New title")
    other = next(f for f in desk.folders if f != folder)
    emulator.move_article(art.id, other)
    a = emulator_client.get(f"/api/v2/solutions/articles/{art.id}").json()
    assert a["title"] == "New title" and a["folder_id"] == other
    emulator.delete_article(art.id)
    assert emulator_client.get(f"/api/v2/solutions/articles/{art.id}").status_code == 404
    assert art.id not in {x["id"] for x in emulator_client.get(f"/api/v2/solutions/folders/{other}/articles").json()}


def test_same_seed_same_data_and_ground_truth_is_consistent(emulator_now):
    a = Emulator(seed=11, tickets=200, articles=40, now=emulator_now)
    b = Emulator(seed=11, tickets=200, articles=40, now=emulator_now)
    c = Emulator(seed=12, tickets=200, articles=40, now=emulator_now)
    from fd_pipeline.emulator.shapes import conversation_json, ticket_json

    def dump(e):
        return [(ticket_json(t, description=True), [conversation_json(x) for x in e.desk.conversations(t.id)])
                for t in e.desk.tickets.values()]

    assert dump(a) == dump(b) and dump(a) != dump(c)
    assert a.ground_truth == b.ground_truth
    assert [(x.id, x.title, x.folder_id) for x in a.desk.articles.values()] == \
        [(x.id, x.title, x.folder_id) for x in b.desk.articles.values()]

    from fd_pipeline.emulator import generator as gen
    gt = a.ground_truth
    assert len(gt) >= 0.9 * sum(1 for t in a.desk.tickets.values() if not t.spam)
    checked = 0
    for tid, aid in gt.items():
        t, art = a.desk.tickets[tid], a.desk.articles[aid]
        assert art.status == 2 and art.topic == t.topic
        if t.product_id is not None:
            assert art.category_id - gen.CATEGORY_ID_START == t.product_id - gen.PRODUCT_ID_START
        first_step = gen.topic_fix(t.topic).steps[0]  # the fix of this ticket's product
        replies = [x for x in a.desk.conversations(tid) if not x.incoming and not x.private and "<ol>" in x.body_html]
        if replies and t.language == "en":
            assert first_step in replies[-1].body_text and first_step in art.description_text
            checked += 1
    assert checked >= 10


def test_admin_endpoints(emulator, emulator_client):
    admin = httpx.Client(base_url=emulator.base_url + "/_emulator")
    assert admin.post("/clock", json={"advance": 120}).json()["now"] == \
        (emulator.clock.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = admin.post("/mutate", json={"op": "update_ticket", "tid": 1000, "subject": "Via admin"})
    assert r.status_code == 200
    assert emulator_client.get("/api/v2/tickets/1000").json()["subject"] == "Via admin"
    ids = admin.post("/mutate", json={"op": "mutate_random", "fraction": 0.05, "seed": 2}).json()["result"]
    assert ids and all(emulator.desk.tickets[i].updated_at == emulator.clock.timestamp() for i in ids)
    assert admin.post("/mutate", json={"op": "os_system"}).status_code == 400
    gt = admin.get("/ground_truth").json()
    assert {int(k): v for k, v in gt.items()} == emulator.ground_truth
    admin.post("/faults", json={"schedule": {"1": "503"}})
    assert emulator_client.get("/api/v2/tickets").status_code == 503
    stats = admin.get("/stats").json()
    assert stats["faults"] == {"503": 1} and stats["by_endpoint"]["GET /api/v2/tickets/{ticket_id}"] == 1
    assert stats["requests"] == 2 and stats["desk"]["tickets"] == 300


def _emulator_cli(tmp_path, *args, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fd_pipeline.cli", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, preexec_fn=preexec_fn,
        env={**os.environ, "PYTHONPATH": os.getcwd()})


def _stopped_by(proc: subprocess.Popen, signum: int) -> int:
    """Send `signum` and wait for the exit code: minutes, not seconds, on a loaded machine (a
    signal that is ignored never stops it, so a longer wait costs nothing when all is well).
    SIGKILL afterwards if it is still running, whatever happened."""
    try:
        proc.send_signal(signum)
        return proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _banner(proc: subprocess.Popen) -> list[str]:
    """The lines the CLI prints before it serves, up to its "Ctrl-C stops." line."""
    banner: list[str] = []
    while not banner or "Ctrl-C stops." not in banner[-1]:
        line = proc.stdout.readline()
        assert line, "".join(banner)
        banner.append(line)
    return banner


def test_cli_serves_until_interrupted(tmp_path):
    proc = _emulator_cli(tmp_path, "--tickets", "50", "--articles", "10")
    stopped = False
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)\s+\(api key: (\S+),", line)
        assert m, line
        r = httpx.get(m.group(1) + "/api/v2/tickets", params={"updated_since": "2000-01-01"},
                      auth=(m.group(2), "X"))
        assert r.status_code == 200 and r.json()
        stopped = True
        assert _stopped_by(proc, signal.SIGINT) == 0
    finally:
        if not stopped:
            _stopped_by(proc, signal.SIGKILL)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_stops_on_a_signal_its_parent_ignored(tmp_path, signum):
    """Started with SIGINT and SIGTERM ignored (what a background job of a non-interactive shell,
    or a Dagster process started that way, hands down), each still stops it."""
    proc = _emulator_cli(tmp_path, "--tickets", "10", "--articles", "2", preexec_fn=_ignore_stop_signals)
    stopped = False
    try:
        _banner(proc)  # serving, its handlers installed
        ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", Path(f"/proc/{proc.pid}/status").read_text()).group(1), 16)
        assert not ignored & (1 << (signum - 1))  # it is handled now, not ignored
        stopped = True
        assert _stopped_by(proc, signum) == 0
        assert "stopping" in proc.stdout.read()
    finally:
        if not stopped:
            _stopped_by(proc, signal.SIGKILL)


def test_fifty_thousand_tickets_generate_and_list_to_the_page_cap(emulator_now):
    # Speed is measured by bench/emulator_bench.py; a test on a loaded machine checks the behaviour.
    emu = Emulator(seed=1, tickets=50_000, articles=60, now=emulator_now)
    with emu, httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"), timeout=120) as client:
        params = {"updated_since": since(emu, 24), "order_by": "updated_at", "order_type": "asc", "per_page": 100}
        client.get("/api/v2/tickets", params=params)
        for page in (1, 150, 300):
            r = client.get("/api/v2/tickets", params={**params, "page": page, "include": "description"})
            assert r.status_code == 200 and len(r.json()) == 100
        assert client.get("/api/v2/tickets", params={**params, "page": 301}).status_code == 400


def test_include_company_alone_and_with_every_other_include(emulator, emulator_client):
    window = {"updated_since": since(emulator, 48), "per_page": 100}
    r = emulator_client.get("/api/v2/tickets", params={**window, "include": "company"})
    assert r.status_code == 200 and r.headers["X-RateLimit-Used-CurrentRequest"] == "3"
    tickets = r.json()
    assert tickets
    for t in tickets:
        assert set(t) == TICKET_KEYS | {"company"}
        if t["company_id"] is None:
            assert t["company"] is None
        else:
            assert set(t["company"]) == {"id", "name"} and t["company"]["id"] == t["company_id"]
            assert isinstance(t["company"]["name"], str) and t["company"]["name"]
    assert any(t["company"] is None for t in tickets) and any(t["company"] for t in tickets)

    r = emulator_client.get("/api/v2/tickets", params={**window, "include": "requester,company,stats"})
    assert r.status_code == 200 and r.headers["X-RateLimit-Used-CurrentRequest"] == "7"
    r = emulator_client.get("/api/v2/tickets", params={**window, "include": "description,requester,stats,company"})
    assert r.status_code == 200 and r.headers["X-RateLimit-Used-CurrentRequest"] == "9"
    full = r.json()
    assert [t["id"] for t in full] == [t["id"] for t in tickets]
    for t, alone in zip(full, tickets):
        assert set(t) == TICKET_KEYS | {"description", "description_text", "requester", "stats", "company"}
        assert t["company"] == alone["company"] and t["requester"]["id"] == t["requester_id"]
        assert TS.match(t["stats"]["status_updated_at"])

    with_company = next(t for t in tickets if t["company"])
    one = emulator_client.get(f"/api/v2/tickets/{with_company['id']}", params={"include": "company"}).json()
    assert one["company"] == with_company["company"]
    for bad in ("companies", "conversations", "requester,company,owner", ","):
        r = emulator_client.get("/api/v2/tickets", params={**window, "include": bad})
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["field"] == "include" and "company" in r.json()["errors"][0]["message"]


def test_agents_pages_with_link_and_me_is_the_key_owner(emulator, emulator_client):
    r = emulator_client.get("/api/v2/agents")
    assert r.status_code == 200 and "link" not in r.headers
    agents = r.json()
    assert len(agents) == len(emulator.desk.agents) >= 8
    for a in agents:
        assert set(a) == AGENT_KEYS and set(a["contact"]) == AGENT_CONTACT_KEYS
        assert a["type"] == "support_agent" and a["ticket_scope"] in (1, 2, 3)
        assert isinstance(a["available"], bool) and isinstance(a["occasional"], bool)
        assert "@" in a["contact"]["email"] and a["contact"]["name"]
        for k in ("created_at", "updated_at"):
            assert TS.match(a[k]) and TS.match(a["contact"][k])
    ids = [a["id"] for a in agents]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # The generator's responders and note authors are all agents of the account.
    responders = {t.responder_id for t in emulator.desk.tickets.values() if t.responder_id}
    assert responders and responders <= set(ids)

    r = emulator_client.get("/api/v2/agents", params={"per_page": 3})
    assert len(r.json()) == 3 and 'rel="next"' in r.headers["link"] and "page=2" in r.headers["link"]
    assert [a["id"] for a in walk(emulator_client, "/api/v2/agents", {"per_page": 3})] == ids
    last = -(-len(ids) // 3)
    assert "link" not in emulator_client.get("/api/v2/agents", params={"per_page": 3, "page": last}).headers
    assert emulator_client.get("/api/v2/agents", params={"per_page": 3, "page": last + 1}).json() == []
    for bad in ({"per_page": 101}, {"page": 0}, {"state": "parttime"}):
        r = emulator_client.get("/api/v2/agents", params=bad)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] in bad

    occasional = emulator_client.get("/api/v2/agents", params={"state": "occasional"}).json()
    fulltime = emulator_client.get("/api/v2/agents", params={"state": "fulltime"}).json()
    assert occasional and all(a["occasional"] for a in occasional)
    assert len(occasional) + len(fulltime) == len(ids)
    email = agents[2]["contact"]["email"]
    assert [a["id"] for a in emulator_client.get("/api/v2/agents", params={"email": email.upper()}).json()] == [ids[2]]

    me = emulator_client.get("/api/v2/agents/me")
    assert me.status_code == 200 and me.json() == agents[0] and me.json()["ticket_scope"] == 1
    assert emulator_client.get(f"/api/v2/agents/{ids[1]}").json() == agents[1]
    assert emulator_client.get("/api/v2/agents/1").status_code == 404
    assert httpx.get(emulator.base_url + "/api/v2/agents/me").status_code == 401


def _https_get(port: int, api_key: str, name: str, path: str, ca_file: str) -> httpx.Response:
    """GET over TLS to 127.0.0.1:port while presenting and verifying `name` (SNI and the certificate's
    name check), as a client configured for https://<name> reaches the emulator."""
    ctx = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(verify=ctx, auth=(api_key, "X")) as client:
        return client.get(f"https://127.0.0.1:{port}{path}", headers={"Host": name},
                          extensions={"sni_hostname": name})


def test_tls_hostname_is_in_the_certificate_and_verifies(make_emulator, tmp_path):
    cert_dir = tmp_path / "tls"
    emu = make_emulator(tickets=20, tls=True, cert_dir=cert_dir, tls_hostnames=["acme.freshdesk.com"])
    r = _https_get(emu.port, emu.api_key, "acme.freshdesk.com", "/api/v2/agents/me", emu.ca_file)
    assert r.status_code == 200 and r.json()["id"] == emu.desk.me_agent_id
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _https_get(emu.port, emu.api_key, "other.freshdesk.com", "/api/v2/agents/me", emu.ca_file)
    # Plain ssl: the handshake verifies the name against the CA file.
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="acme.freshdesk.com") as tls:
        assert ("DNS", "acme.freshdesk.com") in tls.getpeercert()["subjectAltName"]
    ca_before = open(emu.ca_file, "rb").read()
    emu.stop()

    # A restart asking for another name reissues the server certificate from the same CA: trust survives.
    again = make_emulator(tickets=20, tls=True, cert_dir=cert_dir,
                          tls_hostnames=["acme.freshdesk.com", "*.example-desk.test"])
    assert open(again.ca_file, "rb").read() == ca_before
    for name in ("eu.example-desk.test", "acme.freshdesk.com"):
        assert _https_get(again.port, again.api_key, name, "/api/v2/agents", again.ca_file).status_code == 200
    assert oct(os.stat(cert_dir / "ca-key.pem").st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="host name"):
        Emulator(tickets=1, articles=1, tls=True, tls_hostnames=["bad name.freshdesk.com"])


def test_solutions_lists_page_at_30_with_link_and_the_client_reads_the_whole_tree(make_emulator):
    from fd_pipeline.freshdesk import FreshdeskClient

    emu = make_emulator(tickets=10, articles=12)
    client = httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"))
    admin = lambda **body: client.post("/_emulator/mutate", json=body).json()["result"]  # noqa: E731
    first_cat = admin(op="add_category", name="Bulk 0", description="paged")
    for n in range(1, 33):
        emu.add_category(f"Bulk {n}")
    top = admin(op="add_folder", name="Folder 0", category_id=first_cat)
    for n in range(1, 31):
        emu.add_folder(f"Folder {n}", category_id=first_cat)
    parent = emu.add_folder("Parent", category_id=first_cat)
    admin(op="add_folder", name="Sub 0", parent_folder_id=parent)
    for n in range(1, 32):
        emu.add_folder(f"Sub {n}", parent_folder_id=parent)
    for n in range(70):
        emu.add_article(top, f"Article {n}", f"<p>Body {n}</p>", status=1 + n % 2)
    desk = emu.desk
    lists = {
        "/api/v2/solutions/categories": sorted(desk.categories),
        f"/api/v2/solutions/categories/{first_cat}/folders":
            sorted(f.id for f in desk.folders.values() if f.category_id == first_cat and f.parent_folder_id is None),
        f"/api/v2/solutions/folders/{parent}/subfolders":
            sorted(f.id for f in desk.folders.values() if f.parent_folder_id == parent),
        f"/api/v2/solutions/folders/{top}/articles": sorted(a.id for a in desk.articles.values() if a.folder_id == top),
    }
    for path, expected in lists.items():
        assert len(expected) > 30, path
        r = client.get(path)
        assert r.status_code == 200 and [x["id"] for x in r.json()] == expected[:30], path
        assert 'rel="next"' in r.headers["link"] and "page=2" in r.headers["link"], path
        assert [x["id"] for x in walk(client, path, {})] == expected, path
        assert [x["id"] for x in walk(client, path, {"per_page": 7})] == expected, path
        r = client.get(path, params={"per_page": 100})
        assert [x["id"] for x in r.json()] == expected and "link" not in r.headers, path
        last = -(-len(expected) // 30)
        assert "link" not in client.get(path, params={"page": last}).headers, path
        assert client.get(path, params={"page": last + 1}).json() == [], path
        for bad in ({"per_page": 101}, {"per_page": 0}, {"page": "x"}):
            r = client.get(path, params=bad)
            assert r.status_code == 400 and r.json()["errors"][0]["field"] in bad, (path, bad)
    ko = walk(client, "/api/v2/solutions/categories/ko", {})
    assert len(ko) == len(desk.categories) and client.get("/api/v2/solutions/categories/ko").headers["link"]

    with FreshdeskClient(api_key=emu.api_key, base_url=emu.base_url, max_retries=1) as fd:
        read = [a.id for a in fd.iter_kb_articles()]
    assert sorted(read) == sorted(desk.articles) and len(read) == len(set(read))


def test_cli_masks_a_real_api_key_and_names_extra_tls_hosts(tmp_path):
    key = "s3cr3t-freshdesk-key-9f2a"
    proc = _emulator_cli(tmp_path, "--tickets", "20", "--articles", "5", "--api-key", key,
                         "--tls-hostname", "acme.freshdesk.com", "--cert-dir", str(tmp_path / "tls"))
    stopped = False
    try:
        text = "".join(_banner(proc))
        assert key not in text and "****9f2a" in text, text
        assert "acme.freshdesk.com" in text and "--cacert" in text
        port = int(re.search(r"https://127\.0\.0\.1:(\d+)", text).group(1))
        ca = str(tmp_path / "tls" / "ca.pem")
        assert _https_get(port, key, "acme.freshdesk.com", "/api/v2/agents/me", ca).status_code == 200
        stopped = True
        assert _stopped_by(proc, signal.SIGINT) == 0
    finally:
        if not stopped:
            _stopped_by(proc, signal.SIGKILL)

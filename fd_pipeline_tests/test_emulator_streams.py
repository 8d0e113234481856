"""The emulator serves what a generic "every stream" Freshdesk client reads, in Freshdesk's shapes.

Checked against the public API reference (and the schemas third-party connectors require): one
test per endpoint (contacts, companies, groups, roles, products, ticket_fields, time entries,
satisfaction ratings, surveys, /settings/helpdesk, the new conversation and agent fields), a
generic walk of every endpoint that pages by `link` and reads each list's children with 0 non-2xx
answers, every id on a ticket resolving to the record it names, the contacts list's own credit
sub-limit, and per-request latency that delays each answer without serialising them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx
import pytest

from fd_pipeline.emulator import Emulator
from fd_pipeline.emulator.handlers import LANGUAGES

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CONTACT_KEYS = {"active", "address", "avatar", "company_id", "view_all_tickets", "custom_fields", "deleted",
                "description", "email", "id", "job_title", "language", "mobile", "name", "other_emails",
                "other_companies", "phone", "tags", "time_zone", "twitter_id", "facebook_id", "unique_external_id",
                "csat_rating", "preferred_source", "created_at", "updated_at"}
COMPANY_KEYS = {"id", "name", "description", "note", "domains", "created_at", "updated_at", "custom_fields",
                "health_score", "account_tier", "renewal_date", "industry"}
GROUP_KEYS = {"id", "name", "description", "escalate_to", "unassigned_for", "business_hour_id", "group_type",
              "agent_ids", "auto_ticket_assign", "created_at", "updated_at"}
ROLE_KEYS = {"id", "name", "description", "default", "created_at", "updated_at"}
PRODUCT_KEYS = {"id", "name", "description", "primary_email", "default", "created_at", "updated_at"}
TICKET_FIELD_KEYS = {"id", "name", "label", "description", "position", "required_for_closure", "required_for_agents",
                     "type", "default", "customers_can_edit", "label_for_customers", "required_for_customers",
                     "displayed_to_customers", "created_at", "updated_at"}
TIME_ENTRY_KEYS = {"billable", "note", "id", "timer_running", "agent_id", "ticket_id", "company_id", "time_spent",
                   "executed_at", "start_time", "created_at", "updated_at"}
RATING_KEYS = {"id", "survey_id", "user_id", "agent_id", "feedback", "group_id", "ticket_id", "created_at",
               "updated_at", "ratings"}
EVER = "2000-01-01T00:00:00Z"


def walk(client: httpx.Client, path: str, params: dict | None = None) -> list[dict]:
    """Every page of a list, following `link`; each page must be a 200."""
    out: list[dict] = []
    r = client.get(path, params=params or {})
    while True:
        assert r.status_code == 200, (path, r.status_code, r.text)
        out.extend(r.json())
        link = r.headers.get("link")
        if not link:
            return out
        r = client.get(re.match(r"<([^>]+)>", link).group(1))


@pytest.fixture
def client(shared_emulator):
    with httpx.Client(base_url=shared_emulator.base_url, auth=(shared_emulator.api_key, "X"), timeout=60) as c:
        yield c


def _stamps(obj: dict, *keys: str) -> None:
    for k in keys:
        assert TS.match(obj[k]), (k, obj[k])


def test_helpdesk_settings_name_the_languages_the_kb_is_translated_into(shared_emulator, client):
    r = client.get("/api/v2/settings/helpdesk")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"primary_language", "supported_languages", "portal_languages"}
    assert body["primary_language"] == "en"
    assert body["primary_language"] not in body["supported_languages"]
    assert set(body["portal_languages"]) <= set(body["supported_languages"])
    assert r.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    translated = {lang for a in shared_emulator.desk.articles.values() for lang in a.translations}
    assert translated and translated <= set(body["supported_languages"])
    for lang in body["supported_languages"]:
        assert client.get(f"/api/v2/solutions/categories/{lang}").status_code == 200
    assert set(LANGUAGES) == {body["primary_language"], *body["supported_languages"]}
    assert client.get("/api/v2/settings/helpdesk", auth=("wrong", "X")).status_code == 401


def test_contacts_are_the_requesters_paged_and_filtered(shared_emulator, client):
    desk = shared_emulator.desk
    contacts = walk(client, "/api/v2/contacts", {"per_page": 100})
    requesters = {t.requester_id for t in desk.tickets.values()}
    assert [c["id"] for c in contacts] == sorted(requesters)
    first = client.get("/api/v2/contacts")
    assert len(first.json()) == 30 and 'rel="next"' in first.headers["link"]
    for c in contacts:
        assert set(c) == CONTACT_KEYS
        _stamps(c, "created_at", "updated_at")
        assert c["created_at"] <= c["updated_at"] and "@" in c["email"] and c["name"]
        assert c["language"] in LANGUAGES and c["active"] is True and c["deleted"] is False
    assert {c["language"] for c in contacts} == {"en", "ko"}
    one = contacts[5]
    assert client.get(f"/api/v2/contacts/{one['id']}").json() == one
    assert client.get("/api/v2/contacts/1").status_code == 404
    assert [c["id"] for c in client.get("/api/v2/contacts", params={"email": one["email"].upper()}).json()] == [one["id"]]
    with_company = next(c for c in contacts if c["company_id"])
    by_company = walk(client, "/api/v2/contacts", {"company_id": with_company["company_id"], "per_page": 100})
    assert by_company and all(c["company_id"] == with_company["company_id"] for c in by_company)
    assert len(by_company) == sum(c["company_id"] == with_company["company_id"] for c in contacts)
    cut = sorted(c["updated_at"] for c in contacts)[len(contacts) // 2]
    recent = walk(client, "/api/v2/contacts", {"_updated_since": cut, "per_page": 100})
    assert recent and {c["id"] for c in recent} == {c["id"] for c in contacts if c["updated_at"] >= cut}
    assert client.get("/api/v2/contacts", params={"state": "deleted"}).json() == []
    assert len(client.get("/api/v2/contacts", params={"state": "verified"}).json()) == 30
    for bad in ({"state": "gone"}, {"_updated_since": "yesterday"}, {"company_id": "x"}, {"per_page": 101}):
        r = client.get("/api/v2/contacts", params=bad)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] in bad


def test_companies_groups_roles_and_products(shared_emulator, client):
    agents = {a["id"]: a for a in walk(client, "/api/v2/agents")}
    companies = walk(client, "/api/v2/companies")
    assert len(companies) == 20 and 'rel="next"' not in client.get("/api/v2/companies").headers.get("link", "")
    assert len(client.get("/api/v2/companies", params={"per_page": 7}).json()) == 7
    for c in companies:
        assert set(c) == COMPANY_KEYS and c["name"] and c["domains"]
        _stamps(c, "created_at", "updated_at")
    assert client.get(f"/api/v2/companies/{companies[3]['id']}").json() == companies[3]
    assert client.get("/api/v2/companies/9").status_code == 404

    groups = walk(client, "/api/v2/groups")
    assert groups
    for g in groups:
        assert set(g) == GROUP_KEYS and g["name"] and g["agent_ids"]
        _stamps(g, "created_at", "updated_at")
        assert g["escalate_to"] in agents
        for aid in g["agent_ids"]:
            assert g["id"] in agents[aid]["group_ids"]  # membership agrees from both sides
    assert {gid for a in agents.values() for gid in a["group_ids"]} == {g["id"] for g in groups}
    assert client.get(f"/api/v2/groups/{groups[0]['id']}").json() == groups[0]

    roles = walk(client, "/api/v2/roles")
    assert {r["name"] for r in roles} >= {"Account Administrator", "Administrator", "Supervisor", "Agent"}
    for r in roles:
        assert set(r) == ROLE_KEYS
        _stamps(r, "created_at", "updated_at")
    assert {rid for a in agents.values() for rid in a["role_ids"]} <= {r["id"] for r in roles}
    me = client.get("/api/v2/agents/me").json()
    assert next(r for r in roles if r["id"] in me["role_ids"])["name"] == "Account Administrator"

    products = walk(client, "/api/v2/products")
    for p in products:
        assert set(p) == PRODUCT_KEYS and "@" in p["primary_email"]
    assert client.get(f"/api/v2/products/{products[-1]['id']}").json() == products[-1]


def test_agents_carry_the_fields_of_the_real_list(client):
    for a in walk(client, "/api/v2/agents"):
        assert a["freshcaller_agent"] is False and a["freshchat_agent"] is False and a["deactivated"] is False
        assert isinstance(a["agent_level_id"], int) and a["group_ids"] and a["role_ids"]


def test_conversations_carry_their_category(shared_emulator, client):
    desk = shared_emulator.desk
    seen = set()
    for tid in sorted(desk.tickets)[:40]:
        for c in client.get(f"/api/v2/tickets/{tid}/conversations").json():
            expected = 1 if c["incoming"] else (2 if c["private"] else 3)
            assert c["category"] == expected
            seen.add(c["category"])
    assert seen == {1, 2, 3}
    r = client.get("/api/v2/tickets/1000/conversations", params={"per_page": 1})
    assert r.text.count('"category"') == 1 or r.json() == []


def test_ticket_fields_describe_the_tickets(shared_emulator, client):
    fields = client.get("/api/v2/ticket_fields")
    assert fields.status_code == 200 and "link" not in fields.headers
    fields = fields.json()
    for f in fields:
        assert TICKET_FIELD_KEYS <= set(f)
        _stamps(f, "created_at", "updated_at")
    by_name = {f["name"]: f for f in fields}
    groups = {g["id"] for g in walk(client, "/api/v2/groups")}
    assert set(by_name["group"]["choices"].values()) == groups
    assert {int(k) for k in by_name["status"]["choices"]} == {2, 3, 4, 5}
    tickets = shared_emulator.desk.tickets.values()
    custom = {f["name"] for f in fields if not f["default"]}
    assert custom == {k for t in tickets for k in t.custom_fields}
    plans = {t.custom_fields["cf_plan"] for t in tickets} - {None}
    assert plans <= set(by_name["cf_plan"]["choices"])
    only = client.get("/api/v2/ticket_fields", params={"type": "default_status"}).json()
    assert [f["name"] for f in only] == ["status"]
    assert client.get("/api/v2/ticket_fields", params={"type": "nonsense"}).status_code == 400
    assert client.get(f"/api/v2/ticket_fields/{by_name['priority']['id']}").json() == by_name["priority"]


def test_time_entries_per_ticket_and_for_the_account(shared_emulator, client):
    desk = shared_emulator.desk
    entries = walk(client, "/api/v2/time_entries", {"per_page": 100})
    assert len(entries) > 30
    live = {t.id for t in desk.tickets.values() if not (t.deleted or t.spam)}
    for e in entries:
        assert set(e) == TIME_ENTRY_KEYS
        _stamps(e, "executed_at", "start_time", "created_at", "updated_at")
        assert re.match(r"^\d\d:\d\d$", e["time_spent"]) and e["timer_running"] is False
        t = desk.tickets[e["ticket_id"]]
        assert e["ticket_id"] in live and e["agent_id"] == t.responder_id and e["company_id"] == t.company_id
    tid = entries[0]["ticket_id"]
    mine = client.get(f"/api/v2/tickets/{tid}/time_entries").json()
    assert mine == [e for e in entries if e["ticket_id"] == tid]
    assert client.get("/api/v2/tickets/999999/time_entries").status_code == 404
    agent = entries[0]["agent_id"]
    assert walk(client, "/api/v2/time_entries", {"agent_id": agent, "per_page": 100}) == \
        [e for e in entries if e["agent_id"] == agent]
    billable = walk(client, "/api/v2/time_entries", {"billable": "true", "per_page": 100})
    assert billable and all(e["billable"] for e in billable) and len(billable) < len(entries)
    cut = sorted(e["executed_at"] for e in entries)[len(entries) // 2]
    assert walk(client, "/api/v2/time_entries", {"executed_after": cut, "per_page": 100}) == \
        [e for e in entries if e["executed_at"] >= cut]
    assert walk(client, "/api/v2/time_entries", {"executed_before": cut, "per_page": 100}) == \
        [e for e in entries if e["executed_at"] <= cut]
    for bad in ({"billable": "maybe"}, {"agent_id": "-1"}, {"executed_after": "soon"}):
        r = client.get("/api/v2/time_entries", params=bad)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] in bad


def test_satisfaction_ratings_and_the_survey(shared_emulator, client):
    desk = shared_emulator.desk
    surveys = client.get("/api/v2/surveys").json()
    assert len(surveys) == 1
    accepted = set(surveys[0]["questions"][0]["accepted_ratings"])
    ratings = walk(client, "/api/v2/surveys/satisfaction_ratings", {"created_since": EVER, "per_page": 100})
    assert len(ratings) > 10
    for r in ratings:
        assert set(r) == RATING_KEYS and r["survey_id"] == surveys[0]["id"]
        _stamps(r, "created_at", "updated_at")
        assert set(r["ratings"]) == {"default_question"} and r["ratings"]["default_question"] in accepted
        t = desk.tickets[r["ticket_id"]]
        assert t.status in (4, 5) and r["user_id"] == t.requester_id and r["agent_id"] == t.responder_id
        assert r["group_id"] == t.group_id and not (t.deleted or t.spam)
    assert {r["feedback"] is None for r in ratings} == {True, False}
    tid = ratings[0]["ticket_id"]
    assert client.get(f"/api/v2/tickets/{tid}/satisfaction_ratings").json() == [ratings[0]]
    unrated = next(t for t in sorted(desk.tickets) if t not in {r["ticket_id"] for r in ratings})
    assert client.get(f"/api/v2/tickets/{unrated}/satisfaction_ratings").json() == []
    # Without created_since only the last 30 days come back, as on Freshdesk.
    month_ago = (shared_emulator.clock.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    default = walk(client, "/api/v2/surveys/satisfaction_ratings", {"per_page": 100})
    assert default == [r for r in ratings if r["created_at"] >= month_ago]
    cut = sorted(r["created_at"] for r in ratings)[len(ratings) // 2]
    assert walk(client, "/api/v2/surveys/satisfaction_ratings", {"created_since": cut, "per_page": 100}) == \
        [r for r in ratings if r["created_at"] >= cut]
    user = ratings[0]["user_id"]
    assert walk(client, "/api/v2/surveys/satisfaction_ratings", {"created_since": EVER, "user_id": user}) == \
        [r for r in ratings if r["user_id"] == user]
    assert client.get("/api/v2/surveys/satisfaction_ratings", params={"created_since": "x"}).status_code == 400


# Endpoints a generic "every stream" client lists, and the children it reads per parent record.
TOP_LISTS = {
    "/api/v2/tickets": {"updated_since": EVER, "include": "description,requester,stats"},
    "/api/v2/agents": {}, "/api/v2/contacts": {"_updated_since": EVER}, "/api/v2/companies": {},
    "/api/v2/groups": {}, "/api/v2/roles": {}, "/api/v2/products": {}, "/api/v2/ticket_fields": {},
    "/api/v2/time_entries": {}, "/api/v2/surveys": {},
    "/api/v2/surveys/satisfaction_ratings": {"created_since": EVER},
    "/api/v2/solutions/categories": {},
}
CHILDREN = {
    "/api/v2/tickets": ("/api/v2/tickets/{id}", "/api/v2/tickets/{id}/conversations",
                        "/api/v2/tickets/{id}/time_entries", "/api/v2/tickets/{id}/satisfaction_ratings"),
    "/api/v2/agents": ("/api/v2/agents/{id}",),
    "/api/v2/contacts": ("/api/v2/contacts/{id}",),
    "/api/v2/companies": ("/api/v2/companies/{id}",),
    "/api/v2/groups": ("/api/v2/groups/{id}",),
    "/api/v2/roles": ("/api/v2/roles/{id}",),
    "/api/v2/solutions/categories": ("/api/v2/solutions/categories/{id}/folders",),
}


def test_a_generic_client_walks_every_endpoint_with_no_error(make_emulator):
    """List each stream, page by `link`, read each record's children (folders -> subfolders and
    articles, in every supported language): every answer is a 2xx."""
    emu = make_emulator(tickets=60, articles=20)
    statuses: list[tuple[int, str]] = []
    records = 0
    followed: list[str] = []  # the lists that took more than one page
    with httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"), timeout=60) as c:
        def get_all(path: str, params: dict | None = None) -> list[dict]:
            nonlocal records
            out: list[dict] = []
            url, params = path, {"per_page": 5, **(params or {})}
            while url:
                r = c.get(url, params=params)
                statuses.append((r.status_code, str(r.url)))
                if r.status_code >= 300:
                    return out
                body = r.json()
                out.extend(body if isinstance(body, list) else [body])
                link = r.headers.get("link")
                url, params = (re.match(r"<([^>]+)>", link).group(1), None) if link else (None, None)
                if url:
                    followed.append(path)
            records += len(out)
            return out

        settings = get_all("/api/v2/settings/helpdesk")[0]
        for path, params in TOP_LISTS.items():
            for row in get_all(path, params):
                for child in CHILDREN.get(path, ()):
                    for folder in get_all(child.format(id=row["id"])):
                        if child.endswith("/folders"):
                            get_all(f"/api/v2/solutions/folders/{folder['id']}/subfolders")
                            get_all(f"/api/v2/solutions/folders/{folder['id']}/articles")
        for lang in settings["supported_languages"]:
            for cat in get_all(f"/api/v2/solutions/categories/{lang}"):
                for folder in get_all(f"/api/v2/solutions/categories/{cat['id']}/folders/{lang}"):
                    for art in get_all(f"/api/v2/solutions/folders/{folder['id']}/articles/{lang}"):
                        get_all(f"/api/v2/solutions/articles/{art['id']}/{lang}")
    bad = [(s, u) for s, u in statuses if not 200 <= s < 300]
    assert bad == []
    assert {"/api/v2/tickets", "/api/v2/contacts", "/api/v2/companies", "/api/v2/time_entries",
            "/api/v2/surveys/satisfaction_ratings"} <= set(followed)
    assert len(statuses) > 60 * 4 and records > len(statuses) / 2
    assert emu.stats.snapshot()["by_status"] == {"200": len(statuses)}


def test_every_id_on_a_ticket_resolves(shared_emulator, client):
    tickets = walk(client, "/api/v2/tickets", {"updated_since": EVER, "per_page": 100})
    tickets += walk(client, "/api/v2/tickets", {"updated_since": EVER, "per_page": 100, "filter": "deleted"})
    tickets += walk(client, "/api/v2/tickets", {"updated_since": EVER, "per_page": 100, "filter": "spam"})
    assert len(tickets) == len(shared_emulator.desk.tickets)
    contacts = {c["id"]: c for c in walk(client, "/api/v2/contacts", {"per_page": 100})}
    companies = {c["id"] for c in walk(client, "/api/v2/companies", {"per_page": 100})}
    agents = {a["id"]: a for a in walk(client, "/api/v2/agents")}
    groups = {g["id"]: g for g in walk(client, "/api/v2/groups")}
    products = {p["id"] for p in walk(client, "/api/v2/products")}
    counts = {"company": 0, "responder": 0, "group": 0}
    for t in tickets:
        assert t["requester_id"] in contacts
        # A ticket's company is its requester's company.
        assert t["company_id"] == contacts[t["requester_id"]]["company_id"]
        if t["company_id"] is not None:
            counts["company"] += 1
            assert t["company_id"] in companies
        if t["responder_id"] is not None:
            counts["responder"] += 1
            assert t["responder_id"] in agents
        if t["group_id"] is not None:
            counts["group"] += 1
            assert t["group_id"] in groups
            if t["responder_id"] is not None:  # the responder works the ticket's group
                assert t["responder_id"] in groups[t["group_id"]]["agent_ids"]
                assert t["group_id"] in agents[t["responder_id"]]["group_ids"]
        if t["product_id"] is not None:
            assert t["product_id"] in products
    assert all(n > len(tickets) // 3 for n in counts.values()), counts
    # A contact's language is that of the tickets they write.
    for t in tickets[:50]:
        assert contacts[t["requester_id"]]["language"] == shared_emulator.desk.tickets[t["id"]].language


def test_a_created_ticket_s_requester_becomes_a_contact(emulator):
    with httpx.Client(base_url=emulator.base_url, auth=(emulator.api_key, "X"), timeout=60) as c:
        before = len(walk(c, "/api/v2/contacts", {"per_page": 100}))
        tid = emulator.create_ticket("New requester", "<p>hello</p>", requester_id=3_000_999_998)
        contacts = {x["id"]: x for x in walk(c, "/api/v2/contacts", {"per_page": 100})}
        assert len(contacts) == before + 1 and 3_000_999_998 in contacts
        assert c.get(f"/api/v2/tickets/{tid}/time_entries").json() == []
        assert c.get(f"/api/v2/tickets/{tid}/satisfaction_ratings").json() == []


def test_contacts_list_has_its_own_sub_limit(make_emulator):
    emu = make_emulator(plan="growth", tickets=40)
    with httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"), timeout=60) as c:
        emu.rate_limiter.reset()
        used = [c.get("/api/v2/contacts") for _ in range(20)]
        assert [r.status_code for r in used] == [200] * 20
        assert all(r.headers["X-RateLimit-Used-CurrentRequest"] == "1" for r in used)
        refused = c.get("/api/v2/contacts")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        # Other endpoints, the tickets list included, still have credits in this window.
        assert c.get("/api/v2/tickets").status_code == 200
        for path in ("/api/v2/companies", "/api/v2/time_entries", "/api/v2/surveys/satisfaction_ratings",
                     "/api/v2/groups", "/api/v2/contacts/3000000000"):
            r = c.get(path)
            assert r.status_code in (200, 404) and r.headers["X-RateLimit-Used-CurrentRequest"] == "1"


def test_latency_delays_every_answer_without_serialising_them(make_emulator):
    emu = make_emulator(tickets=40, latency_ms=300, jitter_ms=50)
    durations: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def one(tid: int) -> None:
        with httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X"), timeout=120) as c:
            t0 = time.monotonic()
            r = c.get(f"/api/v2/tickets/{tid}/conversations")
            with lock:
                durations.append(time.monotonic() - t0)
                statuses.append(r.status_code)

    threads = [threading.Thread(target=one, args=(1000 + i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert statuses == [200] * 8
    assert min(durations) >= 0.25  # 300 ms - 50 ms of jitter
    stats = emu.stats.snapshot()
    # The server held several delayed requests at once rather than one after another.
    assert stats["max_in_flight_by_endpoint"]["GET /api/v2/tickets/{ticket_id}/conversations"] >= 2

    admin = httpx.Client(base_url=emu.base_url + "/_emulator", timeout=60)
    assert admin.get("/latency").json() == {"latency_ms": 300.0, "jitter_ms": 50.0}
    assert admin.post("/latency", json={"latency_ms": 0, "jitter_ms": 0}).json() == {"latency_ms": 0.0,
                                                                                     "jitter_ms": 0.0}
    assert emu.latency.draw() == 0.0
    assert admin.post("/latency", json={"latency_ms": -5}).status_code == 400
    assert admin.post("/latency", json={"latency": 5}).status_code == 400
    assert admin.post("/latency", json={"latency_ms": 120, "jitter_ms": 20}).status_code == 200
    assert all(0.1 <= emu.latency.draw() <= 0.14 for _ in range(50))
    assert admin.delete("/latency").json() == {"latency_ms": 0.0, "jitter_ms": 0.0}
    assert Emulator(tickets=5).latency.draw() == 0.0  # off by default


def test_cli_takes_latency_and_rejects_a_bad_value(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    bad = subprocess.run([sys.executable, "-m", "fd_pipeline.cli", "emulator", "--latency-ms", "-3"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert bad.returncode == 2 and "--latency-ms" in bad.stderr and "Traceback" not in bad.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "fd_pipeline.cli", "emulator", "--port", "0", "--tickets", "20", "--articles", "5",
         "--latency-ms", "150", "--jitter-ms", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+)", proc.stdout.readline()).group(1)
        assert "latency 150 ms ± 100" in proc.stdout.readline()
        assert httpx.get(url + "/_emulator/latency", timeout=60).json() == {"latency_ms": 150.0, "jitter_ms": 100.0}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

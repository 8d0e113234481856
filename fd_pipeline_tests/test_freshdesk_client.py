"""Contract: `FreshdeskClient` (docs/contracts.md "Freshdesk client") against the emulator over
real HTTP on loopback.

- A ticket window of any size completes with each ticket exactly once: past the 300-page cap by
  restarting from the last `updated_at`, cut client-side at `end`, old tickets updated in the
  window included (updated_since is always sent); >300 pages in one second is a clear error.
- Deleted and spam tickets come from `iter_removed_tickets`, never from the live listing.
- Conversations and KB articles are read in full (all pages, nested folders, translations).
- 401/403/404 raise at once, naming what to fix; injected 429s, 5xx, timeouts, dropped
  connections, truncated and malformed bodies end in complete data within the retry bound, or in
  a clear error once it is passed; records that fail to parse come back as `MalformedItem`.
- Pacing from the rate-limit headers keeps a long run at a real plan's limit free of 429s, waits
  exactly what Retry-After says and remembers the learnt window for the next client (the pacer's
  own rules are unit-tested on a fake clock in test_ratelimit.py).
- `ticket_page` reads one page of the same listing, parsed, in one call.
- The API key never shows in reprs, exception messages or logs; configuration errors say what to set.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fd_pipeline.emulator import Emulator, FaultConfig
from fd_pipeline.freshdesk import (
    Article,
    Conversation,
    FreshdeskAuthError,
    FreshdeskClient,
    FreshdeskError,
    FreshdeskMalformedResponse,
    FreshdeskNotFound,
    FreshdeskPaginationError,
    FreshdeskRateLimited,
    FreshdeskUnavailable,
    MalformedItem,
    WaitBudget,
    Ticket,
    UpdatedListing,
)
from fd_pipeline.freshdesk.client import resolve_origin

KEY = "emu-key-s3cr3t-7f1c"
WINDOW_S = 0.5  # the emulator's rate window: Enterprise credits, a short window to keep tests fast


def _client(emu: Emulator, **kw) -> FreshdeskClient:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_cap", 0.05)
    kw.setdefault("max_retries", 5)
    return FreshdeskClient(api_key=emu.api_key, base_url=emu.base_url, **kw)


@pytest.fixture
def emu(make_emulator) -> Emulator:
    return make_emulator(tickets=400, api_key=KEY, rate_window_s=WINDOW_S)


def _expected_live(emu: Emulator, start: datetime, end: datetime) -> set[int]:
    lo, hi = start.timestamp(), end.timestamp()
    return {t.id for t in emu.desk.tickets.values() if not (t.deleted or t.spam) and lo <= t.updated_at < hi}



def test_origin_resolution_and_https_rule():
    assert resolve_origin("acme", None) == "https://acme.freshdesk.com"
    assert resolve_origin("acme.freshdesk.com", None) == "https://acme.freshdesk.com"
    assert resolve_origin("https://acme.freshdesk.com/api/v2/", None) == "https://acme.freshdesk.com"
    assert resolve_origin("acme", "http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert resolve_origin(None, "http://localhost:9/api/v2") == "http://localhost:9"
    with pytest.raises(FreshdeskError, match="Refusing plain http:// to acme.freshdesk.com"):
        resolve_origin("http://acme.freshdesk.com", None)
    with pytest.raises(FreshdeskError, match="FRESHDESK_DOMAIN.*FRESHDESK_BASE_URL"):
        resolve_origin(None, None)


def test_the_configured_client_says_what_to_set(monkeypatch):
    from fd_pipeline.resources import configured

    for name in ("FRESHDESK_DOMAIN", "FRESHDESK_BASE_URL", "FRESHDESK_API_KEY", "FRESHDESK_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(FreshdeskError, match="set FRESHDESK_DOMAIN .* or FRESHDESK_BASE_URL"):
        with configured("freshdesk").open():
            pass
    monkeypatch.setenv("FRESHDESK_DOMAIN", "acme")
    with pytest.raises(FreshdeskError, match="FRESHDESK_API_KEY is not set"):
        with configured("freshdesk").open():
            pass
    monkeypatch.setenv("FRESHDESK_API_KEY", KEY)
    monkeypatch.setenv("FRESHDESK_TIMEOUT", "7.5")
    monkeypatch.setenv("FRESHDESK_MAX_RETRIES", "2")
    with configured("freshdesk").open() as client:
        assert client.origin == "https://acme.freshdesk.com"
        assert client.max_retries == 2
        assert KEY not in repr(client) and KEY not in repr(client.__dict__.get("stats"))


def test_tls_emulator_via_env_and_ca_bundle(make_emulator, monkeypatch):
    emu = make_emulator(tickets=20, api_key=KEY, tls=True)
    monkeypatch.delenv("FRESHDESK_DOMAIN", raising=False)
    monkeypatch.setenv("FRESHDESK_BASE_URL", emu.base_url)
    monkeypatch.setenv("FRESHDESK_API_KEY", KEY)
    monkeypatch.setenv("FRESHDESK_CA_BUNDLE", emu.ca_file)
    from fd_pipeline.resources import configured

    with configured("freshdesk").open() as client:
        assert client.origin.startswith("https://127.0.0.1:")
        some_id = next(iter(emu.desk.tickets))
        assert client.get_ticket(some_id).id == some_id



def test_window_past_300_pages_each_ticket_once(emu, emulator_now):
    # per_page=1: the 400-ticket desk's last day needs ~380 pages, past the 300-page cap.
    start, end = emulator_now - timedelta(hours=24), emulator_now
    expected = _expected_live(emu, start, end)
    assert len(expected) > 300
    with _client(emu, per_page=1) as client:
        items = list(client.iter_tickets_updated(start=start, end=end))
    ids = [t.id for t in items]
    assert all(isinstance(t, Ticket) for t in items)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert [t.updated_at for t in items] == sorted(t.updated_at for t in items)
    assert all(start <= t.updated_at < end and t.updated_at.tzinfo is not None for t in items)
    assert all("description" in t.raw for t in items)  # include=description sent
    assert sum(bool(t.description_text) for t in items) > 0.9 * len(items)
    snap = emu.stats.snapshot()
    assert snap["by_status"].get("400", 0) == 0  # never asked for page 301
    assert snap["ticket_list_pages"] > 300


def test_more_than_300_pages_in_one_second_is_a_clear_error(make_emulator, emulator_now):
    emu = make_emulator(tickets=0, articles=0, api_key=KEY, rate_window_s=WINDOW_S)
    for n in range(305):  # the emulator's clock is frozen: all share one updated_at second
        emu.create_ticket(f"same second {n}", "body")
    with _client(emu, per_page=1) as client:
        with pytest.raises(FreshdeskPaginationError, match="share that updated_at second"):
            list(client.iter_tickets_updated(start=emulator_now - timedelta(hours=1),
                                             end=emulator_now + timedelta(seconds=1)))


def test_old_ticket_updated_in_window_is_listed(emu, emulator_now):
    # Without updated_since Freshdesk only lists tickets created in the last 30 days.
    emu.clock.set(emulator_now - timedelta(days=40))
    old = emu.create_ticket("created long ago", "<p>old</p>")
    emu.clock.set(emulator_now)
    emu.update_ticket(old, subject="touched today")
    with httpx.Client(base_url=emu.base_url, auth=(KEY, "X")) as raw:
        default_ids = set()
        for page in range(1, 20):
            got = raw.get("/api/v2/tickets", params={"per_page": 100, "page": page}).json()
            default_ids |= {t["id"] for t in got}
            if len(got) < 100:
                break
    assert old not in default_ids
    start, end = emulator_now - timedelta(minutes=5), emulator_now + timedelta(seconds=1)
    with _client(emu) as client:
        items = {t.id: t for t in client.iter_tickets_updated(start=start, end=end)}
    assert set(items) == _expected_live(emu, start, end) and old in items
    assert items[old].subject == "touched today"


def test_removed_tickets_listed_separately(emu, emulator_now):
    start, end = emulator_now - timedelta(days=2), emulator_now + timedelta(seconds=1)
    live = sorted(_expected_live(emu, start, end))
    emu.delete_ticket(live[0])
    emu.spam_ticket(live[1])
    removed_expected = {t.id for t in emu.desk.tickets.values() if t.deleted or t.spam}
    with _client(emu, per_page=30) as client:
        removed = list(client.iter_removed_tickets(start=start, end=end))
        live_now = {t.id for t in client.iter_tickets_updated(start=start, end=end)}
    ids = [t.id for t in removed]
    assert len(ids) == len(set(ids)) and set(ids) == removed_expected
    assert {live[0], live[1]} <= set(ids)
    assert all(t.deleted or t.spam for t in removed)
    assert not live_now & removed_expected


def test_latest_ticket_update_is_one_call(emu, emulator_now):
    newest = max(t.updated_at for t in emu.desk.tickets.values() if not (t.deleted or t.spam))
    with _client(emu) as client:
        before = emu.stats.snapshot()["requests"]
        got = client.latest_ticket_update(since=emulator_now - timedelta(hours=3))
        assert emu.stats.snapshot()["requests"] == before + 1
        assert got == datetime.fromtimestamp(newest, UTC)
        assert client.latest_ticket_update(since=emulator_now + timedelta(hours=1)) is None
        assert client.stats.by_endpoint == {"tickets": 2} and client.stats.credits == 2


def test_malformed_ticket_is_yielded_and_listing_goes_on(emu, emulator_now):
    start, end = emulator_now - timedelta(days=2), emulator_now + timedelta(seconds=1)
    victim = sorted(_expected_live(emu, start, end))[5]
    emu.corrupt_ticket(victim, how="bad_field")
    with _client(emu) as client:
        items = list(client.iter_tickets_updated(start=start, end=end))
        assert client.stats.malformed == 1
    bad = [i for i in items if isinstance(i, MalformedItem)]
    assert len(bad) == 1 and bad[0].item_id == str(victim) and bad[0].kind == "ticket"
    assert ("created_at" in bad[0].error or "priority" in bad[0].error) and "tickets" in bad[0].endpoint
    assert {i.id for i in items if isinstance(i, Ticket)} | {victim} == _expected_live(emu, start, end)



def test_conversations_all_pages(emu):
    tid = next(iter(emu.desk.tickets))
    for n in range(230):
        emu.add_conversation(tid, body=f"<p>reply {n}</p>", incoming=n % 2 == 0, private=n % 7 == 0)
    expected = [c.id for c in emu.desk.conversations(tid)]
    assert len(expected) > 200
    with _client(emu) as client:
        convs = client.list_conversations(tid)
        assert client.stats.by_endpoint["conversations"] == -(-len(expected) // 100)
    assert [c.id for c in convs] == expected
    assert all(isinstance(c, Conversation) and c.ticket_id == tid for c in convs)
    assert convs[-1].body_text == "reply 229" and convs[-1].incoming is False


def test_kb_tree_nested_folders_and_translations(emu):
    desk = emu.desk
    nested = [f for f in desk.folders.values() if f.parent_folder_id]
    assert nested, "the emulator's KB should have nested folders"
    with _client(emu) as client:
        items = list(client.iter_kb_articles(languages=("ko",)))
    assert all(isinstance(a, Article) for a in items)
    en = {a.id: a for a in items if a.language == "en"}
    ko = {a.id: a for a in items if a.language == "ko"}
    assert set(en) == set(desk.articles)
    assert set(ko) == {a.id for a in desk.articles.values() if "ko" in a.translations}
    for a in en.values():
        names = tuple(name for _, _, name in desk.folder_chain(a.folder_id))
        assert a.folder_path == names
    deep = [a for a in en.values() if len(a.folder_path) >= 3]
    assert deep, "articles in nested folders must be found"
    assert {a.status for a in en.values()} >= {1, 2}  # drafts included
    one = next(iter(ko.values()))
    assert one.title == desk.articles[one.id].translations["ko"].title
    with _client(emu) as client:
        only = {a.category_id for a in client.iter_kb_articles(category_ids=[min(desk.categories)])}
    assert only == {min(desk.categories)}



def test_auth_and_not_found_fail_at_once(emu, caplog):
    caplog.set_level(logging.DEBUG, logger="fd_pipeline.freshdesk")
    bad = FreshdeskClient(api_key="wrong-key-123", base_url=emu.base_url, max_retries=5)
    with pytest.raises(FreshdeskAuthError, match="401.*invalid_credentials.*FRESHDESK_API_KEY") as e401:
        bad.get_ticket(next(iter(emu.desk.tickets)))
    assert "wrong-key-123" not in str(e401.value) and bad.stats.retries == 0 and bad.stats.calls == 1
    restricted = FreshdeskClient(api_key=emu.restricted_api_key, base_url=emu.base_url)
    with pytest.raises(FreshdeskAuthError, match="403.*access_denied.*plan") as e403:
        list(restricted.iter_kb_articles())
    assert e403.value.status == 403 and emu.restricted_api_key not in str(e403.value)
    with _client(emu) as client:
        with pytest.raises(FreshdeskNotFound, match="ticket 999999999 not found"):
            client.get_ticket(999999999)
        with pytest.raises(FreshdeskNotFound, match="conversations of ticket 999999999"):
            client.list_conversations(999999999)
        assert client.stats.retries == 0 and client.stats.calls == 2
    assert not any(k in r.getMessage() for r in caplog.records for k in ("wrong-key-123", KEY))


def test_every_fault_kind_recovers_within_the_bound(make_emulator, emulator_now, caplog):
    caplog.set_level(logging.INFO, logger="fd_pipeline.freshdesk")
    emu = make_emulator(tickets=400, api_key=KEY, rate_window_s=WINDOW_S)
    start, end = emulator_now - timedelta(days=2), emulator_now + timedelta(seconds=1)
    kinds = ["500", "502", "503", "drop", "truncate", "malformed", "timeout"]
    schedule = {2 + 2 * i: k for i, k in enumerate(kinds)}
    schedule.update({20: "429", 21: "429", 22: "429"})  # a storm: three 429s in a row
    kinds.append("429")
    emu.set_faults(FaultConfig(schedule=schedule, retry_after_s=1, timeout_s=3.0))
    with _client(emu, per_page=20, timeout=0.5) as client:
        items = list(client.iter_tickets_updated(start=start, end=end))
        tid = items[0].id
        convs = client.list_conversations(tid)
        stats = client.stats.snapshot()
    assert sorted(t.id for t in items) == sorted(_expected_live(emu, start, end))
    assert [c.id for c in convs] == [c.id for c in emu.desk.conversations(tid)]
    assert {k: v for k, v in emu.stats.snapshot()["faults"].items()} == {k: 3 if k == "429" else 1 for k in kinds}
    assert stats.retries == len(kinds) + 2 and stats.throttled == 3 and stats.malformed == 0
    assert stats.waited_s >= 3.0  # Retry-After honoured three times
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "retry" in logged and "Retry-After 1s" in logged and KEY not in logged


def test_retry_bound_then_clear_errors(make_emulator, caplog):
    emu = make_emulator(tickets=30, api_key=KEY)
    tid = next(iter(emu.desk.tickets))
    emu.set_faults(FaultConfig(rate_503=1.0))
    with _client(emu, max_retries=2) as client:
        with pytest.raises(FreshdeskUnavailable, match=r"127\.0\.0\.1:\d+ is unavailable.*failed 3 times.*503") as e:
            client.get_ticket(tid)
        assert KEY not in str(e.value) and client.stats.retries == 2
    assert emu.stats.snapshot()["requests"] == 3
    emu.set_faults(FaultConfig(rate_malformed=1.0))
    with _client(emu, max_retries=1) as client:
        with pytest.raises(FreshdeskMalformedResponse, match=r"/api/v2/tickets page 1 .*not valid JSON"):
            list(client.iter_tickets_updated(start=datetime(2025, 1, 1, tzinfo=UTC),
                                             end=datetime(2026, 1, 1, tzinfo=UTC)))
    # 429s are not retries: max_retries=1 waits out every one until the wait budget would pass.
    emu.set_faults(FaultConfig(rate_429=1.0, retry_after_s=1))
    with _client(emu, max_retries=1, rate_limit_budget_s=3.0) as client:
        with pytest.raises(FreshdeskRateLimited) as e429:
            client.get_ticket(tid)
        assert client.stats.throttled == 4 and client.budget.spent_s == pytest.approx(3.0)
    message = str(e429.value)
    assert "\n" not in message and "FRESHDESK_RATE_LIMIT_BUDGET_MINUTES" in message and "4 429s" in message
    assert isinstance(e429.value, FreshdeskUnavailable) and KEY not in message
    emu.stop()
    with _client(emu, max_retries=1) as client:
        with pytest.raises(FreshdeskUnavailable, match="ConnectError"):
            client.get_ticket(tid)



def test_learnt_window_is_remembered_for_the_next_client(make_emulator, emulator_now, tmp_path):
    from fd_pipeline.sync_log import SyncLog

    # Growth: 200 credits per window; 600 conversation reads span at least three windows however
    # fast the machine, so the pacer sees two refills.
    emu = make_emulator(tickets=300, api_key=KEY, plan="growth", rate_window_s=WINDOW_S)
    with SyncLog(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with _client(emu) as client:
            client.recall_rate_window(store)
            assert client.pacer.window_hint_s is None  # nothing learnt yet
            tickets = list(client.iter_tickets_updated(start=emulator_now - timedelta(days=2), end=emulator_now))
            for ticket in (tickets * 3)[:600]:
                client.list_conversations(ticket.id)
            assert client.pacer.window_s is not None and client.pacer.window_s >= WINDOW_S
            client.remember_rate_window(store)
        with _client(emu) as later:
            later.recall_rate_window(store)
            assert later.pacer.window_hint_s == pytest.approx(client.pacer.window_s, abs=0.001)
            assert later.pacer.window_hint_s >= client.pacer.window_s  # rounded up, never shorter


def test_client_waits_retry_after(make_emulator):
    emu = make_emulator(tickets=20, api_key=KEY)
    emu.set_faults(FaultConfig(schedule={1: "429"}, burst_429=1, retry_after_s=1))
    tid = next(iter(emu.desk.tickets))
    with _client(emu) as client:
        assert client.get_ticket(tid).id == tid
        stats = client.stats.snapshot()
    # Exactly the Retry-After before the one retry, not the (much shorter) backoff.
    assert stats.throttled == 1 and stats.retries == 1 and stats.waited_s == 1.0 and stats.paced_s == 0.0
    assert emu.stats.snapshot()["requests"] == 2


def test_a_429_storm_is_waited_out_and_other_failures_keep_their_bound(make_emulator):
    """20 429s in a row on one endpoint, Retry-After 1 each, with max_retries=1: every one is waited
    out (20 s of the budget), and a 503 after them still gets its one retry, no more."""
    emu = make_emulator(tickets=20, api_key=KEY)
    tid = next(iter(emu.desk.tickets))
    emu.set_faults(FaultConfig(storm_429={f"/api/v2/tickets/{tid}": 20}, schedule={21: "503"}, retry_after_s=1))
    with _client(emu, max_retries=1) as client:
        assert client.get_ticket(tid).id == tid
        stats = client.stats.snapshot()
        assert client.budget.spent_s == pytest.approx(20.0)
    assert stats.throttled == 20 and stats.retries == 21 and stats.waited_s >= 20.0
    assert emu.stats.snapshot()["faults"] == {"429": 20, "503": 1}
    emu.set_faults(FaultConfig(schedule={1: "503", 2: "503"}))
    with _client(emu, max_retries=1) as client, pytest.raises(FreshdeskUnavailable, match="failed 2 times.*503"):
        client.get_ticket(tid)


def test_a_stalled_response_costs_its_timeout_once_not_per_read():
    """A server that sends the headers, then one byte of the body every 0.2 s: each read comes well
    within the 1 s timeout, so httpx alone would wait out the whole body (60 bytes, 12 s) on every
    attempt. The client cuts each attempt at its timeout and counts it as a retryable failure."""
    body = b'{"id": 1, "subject": "' + b"x" * 36 + b'"}'
    sent: list[int] = []
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                count = 0
                try:
                    for i in range(len(body)):
                        if stop.wait(0.2):
                            break
                        conn.sendall(body[i:i + 1])
                        count += 1
                except OSError:  # the client hung up
                    pass
                sent.append(count)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = FreshdeskClient(api_key=KEY, base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1.0,
                                 max_retries=1, backoff_base=0.01, backoff_cap=0.05)
        with client, pytest.raises(FreshdeskUnavailable, match="failed 2 times; last: stalled: the response was not complete 1s after"):
            client.get_ticket(1)
    finally:
        stop.set()
        thread.join(timeout=60)
        listener.close()
    assert len(sent) == 2 and all(n < len(body) for n in sent), sent  # both attempts cut mid-body


def test_wait_budget_counts_overlapping_waits_once_and_is_shared_per_run():
    clock = {"t": 100.0}
    budget = WaitBudget(10.0, clock=lambda: clock["t"])
    assert budget.charge(4.0) == 4.0
    assert budget.charge(4.0) == 0.0  # a second worker waiting the same seconds
    clock["t"] += 2.0
    assert budget.charge(4.0) == pytest.approx(2.0)  # overlaps the first wait by 2 s
    assert budget.spent_s == pytest.approx(6.0)
    assert budget.charge(9.0) is None and budget.spent_s == pytest.approx(6.0)  # 5 s more would pass 10: nothing spent
    assert budget.charge(8.0) == pytest.approx(4.0) and budget.spent_s == pytest.approx(10.0)  # exactly the budget
    assert WaitBudget.for_run("run-a", 60) is WaitBudget.for_run("run-a", 60)
    assert WaitBudget.for_run("run-a", 60) is not WaitBudget.for_run("run-b", 60)
    assert WaitBudget.for_run(None, 60) is not WaitBudget.for_run(None, 60)


def test_long_fetch_says_where_it_is(make_emulator, emulator_now):
    emu = make_emulator(tickets=60, api_key=KEY)
    emu.set_faults(FaultConfig(schedule={3: "429"}, burst_429=1, retry_after_s=1))
    lines = []
    with _client(emu, per_page=10, progress=lines.append, progress_every_s=0.4) as client:
        tickets = list(client.iter_tickets_updated(start=emulator_now - timedelta(days=2), end=emulator_now))
        client.report_progress(force=True, now="done")
    # A wait long enough to matter is announced, and slept in steps with progress between them.
    assert any(line.startswith("Freshdesk: waiting 1.0s to retry GET /api/v2/tickets page 3 (429") for line in lines)
    assert [line.split("; ")[-1] for line in lines if "left of that wait" in line] == [
        "0.6s left of that wait", "0.2s left of that wait"]
    last = lines[-1]
    pages = -(-len(tickets) // 10)
    assert f"{pages} pages, {len(tickets)} items listed, {pages + 1} calls" in last and "1 retries" in last
    assert "waited 1.0s (0.0s pacing); done" in last and KEY not in " ".join(lines)


def test_steady_run_at_enterprise_limit_gets_no_429(make_emulator, emulator_now, capsys):
    # Enterprise: 700 credits per window, tickets-list sub-limit 200; window shortened to 1 s.
    # Whether the limit is reached depends on the machine's speed, so this asserts only what the
    # server saw: no 429 (the emulator refuses, never serves, a call over a window's budget) and
    # every ticket read. The pacing itself is tested on a fake clock above.
    emu = make_emulator(tickets=1500, api_key=KEY, plan="enterprise", rate_window_s=1.0)
    start, end = emulator_now - timedelta(days=2), emulator_now + timedelta(seconds=1)
    with _client(emu, per_page=5) as client:
        tickets = list(client.iter_tickets_updated(start=start, end=end))
        for t in tickets[:600]:
            client.list_conversations(t.id)
        stats = client.stats.snapshot()
    snap = emu.stats.snapshot()
    with capsys.disabled():
        print(f"\n[pacing] calls={stats.calls} credits={stats.credits} paced_s={stats.paced_s:.2f} "
              f"429s client={stats.throttled} emulator={snap['throttled']} window_learnt={client.pacer.window_s}")
    assert len(tickets) == len(_expected_live(emu, start, end))
    # More than 4 windows' worth of list credits, so the sub-limit was reached several times.
    assert stats.by_endpoint["tickets"] * 3 > 4 * 200
    assert snap["throttled"] == 0 and stats.throttled == 0 and snap["by_status"].get("429", 0) == 0
    assert stats.credits == snap["credits"] and stats.calls == snap["requests"]


def test_stats_snapshot_is_a_copy(emu, emulator_now):
    with _client(emu) as client:
        client.latest_ticket_update(since=emulator_now - timedelta(days=1))
        first = client.stats.snapshot()
        client.list_conversations(next(iter(emu.desk.tickets)))
        assert (first.calls, first.credits, first.by_endpoint) == (1, 1, {"tickets": 1})
        assert client.stats.calls == 2
        assert client.stats.as_dict()["by_endpoint"] == {"conversations": 1, "tickets": 1}


def test_ticket_page_is_one_call_of_parsed_tickets(emu, emulator_now):
    since, end = emulator_now - timedelta(days=2), emulator_now + timedelta(seconds=1)
    emu.corrupt_ticket(sorted(_expected_live(emu, since, end))[2], how="bad_field")  # now the newest

    def ids(items):
        return [t.id if isinstance(t, Ticket) else int(t.item_id) for t in items]

    with _client(emu, per_page=10) as client:
        walked = ids(client.iter_tickets_updated(start=since, end=end))
        calls, credits = client.stats.calls, client.stats.credits
        last = -(-len(walked) // 10)
        first = client.ticket_page(since=since, page=1, include_description=True)
        newest = client.ticket_page(since=since, page=last)
        deleted = client.ticket_page(since=since, page=1, filter_="deleted")
        assert client.stats.calls == calls + 3 and client.stats.credits == credits + 3 + 1 + 1
        assert client.rate_limit_total == 700  # the emulator's default plan, from X-RateLimit-Total
        with pytest.raises(ValueError, match="page must be between 1 and 300"):
            client.ticket_page(since=since, page=301)
    # Pages of the same listing the walker reads, malformed records included as such.
    assert ids(first) == walked[:10] and ids(newest) == walked[(last - 1) * 10:]
    assert all("description" in t.raw for t in first) and isinstance(newest[-1], MalformedItem)
    assert all(t.deleted for t in deleted if isinstance(t, Ticket))


def test_the_walker_reads_another_listing_by_its_own_since_parameter(emu, emulator_now, monkeypatch):
    """`walk_updated` over a listing a domain declares: contacts take `_updated_since` and no
    ordering, so every page is read and the window is cut client-side, each contact once; past
    the page cap such a listing cannot restart, and says so."""
    from fd_pipeline.freshdesk import client as client_module

    contacts = UpdatedListing("/contacts", "contact", dict, since_param="_updated_since", ordered=False)
    rows = emu.desk.contacts().values()
    start = datetime.fromtimestamp(sorted(c.updated_at for c in rows)[len(rows) // 3], UTC)
    end = start + timedelta(days=1)
    expected = {c.id for c in rows if start.timestamp() <= c.updated_at < end.timestamp()}
    with _client(emu, per_page=10) as client:
        walked = [c["id"] for c in client.walk_updated(contacts, start, end)]
        pages = client.pages_read
    assert sorted(walked) == sorted(expected) and len(walked) == len(set(walked)) and expected
    since_start = sum(1 for c in rows if c.updated_at >= int(start.timestamp()))
    assert pages == max(1, -(-since_start // 10))  # every page of the listing from `start` on, once
    monkeypatch.setattr(client_module, "MAX_LIST_PAGES", 2)
    with _client(emu, per_page=10) as client, pytest.raises(FreshdeskPaginationError, match="not ordered by updated_at"):
        list(client.walk_updated(contacts, datetime.fromtimestamp(0, UTC), end))

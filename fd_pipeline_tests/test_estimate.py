"""`fd-pipeline estimate` against the emulator over HTTP, with the tiny model.

Contract: the desk's size is counted exactly with a few calls (binary search over list pages,
and a walk past Freshdesk's 300-page cap); the plan comes from X-RateLimit-Total; the credits it
prints add up from its inputs by the documented formula, and what the estimate itself spent is
what the emulator counted; a bad --since is a one-line error. Not timing-based.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from fd_pipeline import cli
from fd_pipeline.commands import estimate as est
from fd_pipeline.partitions import hour_key


@pytest.fixture
def desk_env(monkeypatch, tiny_model_dir, emulator_now):
    def configure(emu, per_page: int) -> None:
        monkeypatch.setenv("FRESHDESK_BASE_URL", emu.base_url)
        monkeypatch.setenv("FRESHDESK_API_KEY", emu.api_key)
        monkeypatch.setenv("FRESHDESK_PER_PAGE", str(per_page))
        monkeypatch.setenv("FD_EMBED_MODEL", str(tiny_model_dir))
        monkeypatch.setenv("FD_EMBED_DEVICE", "cpu")
        monkeypatch.setenv("FD_PARTITIONS_START", hour_key(emulator_now - timedelta(hours=24)))
        for name in ("FD_KB_LANGUAGES", "FD_KB_CATEGORIES", "FD_KB_INCLUDE_DRAFTS", "QDRANT_URL", "QDRANT_HOST"):
            monkeypatch.delenv(name, raising=False)

    return configure


def _truth(emu, since):
    tickets = [t for t in emu.desk.tickets.values() if t.updated_at >= since.timestamp()]
    return (sum(not t.deleted and not t.spam for t in tickets), sum(t.deleted for t in tickets),
            sum(t.spam and not t.deleted for t in tickets))


@pytest.mark.parametrize("per_page", [7, 1])  # 1: more than 300 pages, so the count walks on
def test_estimate_counts_the_desk_and_its_credits_add_up(make_emulator, desk_env, emulator_now, capsys, per_page):
    emu = make_emulator(tickets=340, articles=12, span_hours=20)
    desk_env(emu, per_page)
    emu.stats.reset()
    assert cli.main(["estimate", "--sample", "4", "--json"]) == 0
    e = json.loads(capsys.readouterr().out)
    live, deleted, spam = _truth(emu, emulator_now - timedelta(hours=24))
    assert (e["desk"]["tickets"], e["desk"]["deleted"], e["desk"]["spam"]) == (live, deleted, spam)
    assert e["plan"]["name"] == "enterprise" and e["plan"]["per_minute"] == 700
    credits = e["credits"]
    assert credits["ticket_lists"] == 3 * math.ceil(live / per_page)
    assert credits["conversations"] == round(live * e["sample"]["conversation_pages_per_ticket"])
    assert e["total_credits"] == sum(credits.values())
    assert e["probe_credits"] == emu.stats.snapshot()["credits"]
    # A handful of list probes, the KB tree and the sampled conversations: far below the sync.
    assert e["probe_credits"] < credits["kb_tree"] + 4 + 40
    assert e["sample"]["tickets"] == min(4, per_page) and e["sample"]["tokens_per_s"] > 0
    assert e["seconds"]["embed"] == pytest.approx(
        (live * e["sample"]["tokens_per_ticket"] + e["desk"]["articles"] * e["sample"]["tokens_per_article"])
        / e["sample"]["tokens_per_s"], abs=0.1)
    assert e["total_seconds"] == pytest.approx(sum(e["seconds"].values()), abs=0.1)


def test_estimate_prints_a_summary(make_emulator, desk_env, capsys):
    desk_env(make_emulator(tickets=60, articles=6), 100)
    assert cli.main(["estimate", "--sample", "3", "--plan", "growth"]) == 0
    out = capsys.readouterr().out
    assert "First sync from" in out and "plan: growth, 200/min" in out and "total" in out.splitlines()[-2]


def test_plan_and_formula():
    assert est.plan_for(400, None).name == "pro"
    assert est.plan_for(1000, None).per_minute == 1000
    assert est.plan_for(None, "growth").tickets_list_per_minute == 20
    with pytest.raises(ValueError, match="--plan"):
        est.plan_for(None, None)
    desk = est.DeskSize(tickets=10_000, deleted=0, spam=50, articles=200, kb_credits=60, kb_calls=60)
    sample = est.Sample(tickets=10, conversation_pages_per_ticket=1.0, texts_per_ticket=2.5, tokens_per_ticket=600,
                        tokens_per_article=300, tokens_per_s=200, embedded_texts=30, seconds_per_call=0.2)
    e = est.compute("2019-01-01-00:00", desk, sample, est.plan_for(None, "growth"), workers=4, per_page=100,
                    points_per_s=120)
    assert e.credits == {"ticket_lists": 300, "deleted_and_spam_lists": 2, "conversations": 10_000, "kb_tree": 60}
    # Growth: 10,362 credits at 200/min, the first minute's 200 free: 50.8 minutes (the ticket lists
    # at 20/min would take 14.1).
    assert e.seconds["fetch"] == pytest.approx(60 * (10_362 - 200) / 200, abs=0.1)
    assert e.seconds["embed"] == pytest.approx((10_000 * 600 + 200 * 300) / 200, abs=0.1)
    assert e.seconds["write"] == pytest.approx(10_200 / 120, abs=0.1)


def test_overlapped_ranges_take_the_slowest_stage_plus_one_range_of_the_others():
    seconds = {"fetch": 1000.0, "embed": 4000.0, "write": 200.0}
    assert est.overlap(seconds, 1) == 5200.0  # one run: the sum
    # 10 ranges: the first passes all three stages, each further one adds the embedding's share.
    per_embed = 400 + est.RUN_START_S
    assert est.overlap(seconds, 10) == pytest.approx(100 + per_embed + 20 + 9 * per_embed, abs=0.1)
    # Two embedding workers halve the embedding's share until the fetch is the slowest.
    assert est.overlap(seconds, 10, embed_workers=2) == pytest.approx(100 + per_embed + 20 + 9 * per_embed / 2, abs=0.1)
    assert est.overlap(seconds, 10, embed_workers=8) == pytest.approx(100 + per_embed + 20 + 9 * 100, abs=0.1)
    # A GPU 20x this machine's tokens/s: the fetch decides.
    assert est.overlap(seconds, 10, embed_speedup=20) == pytest.approx(100 + 20 + est.RUN_START_S + 20 + 9 * 100, abs=0.1)
    # 1,000 tickets, 2 s per call one at a time: fetching (2,026 s) and embedding (1,000 s) both count.
    desk = est.DeskSize(tickets=1000, deleted=0, spam=0, articles=0, kb_credits=1, kb_calls=1)
    sample = est.Sample(tickets=1, conversation_pages_per_ticket=1.0, texts_per_ticket=1, tokens_per_ticket=100,
                        tokens_per_article=0, tokens_per_s=100, embedded_texts=1, seconds_per_call=2.0)
    e = est.compute("2025-01-01-00:00", desk, sample, est.plan_for(None, "enterprise"), workers=1, per_page=100,
                    points_per_s=120, hours=240, hours_per_run=24)
    assert e.runs == 10
    found = est.arrangements(e, workers=2, gpu_tokens_per_s=2000)
    assert found["one run"] == pytest.approx(e.total_seconds, abs=0.1)
    assert found["10 ranges, 1 embedding worker"] == est.overlap(e.seconds, 10)
    assert found["10 ranges, 1 embedding worker"] < 0.75 * found["one run"]
    assert found["10 ranges, 2 embedding workers"] <= found["10 ranges, 1 embedding worker"]
    assert found["10 ranges, a GPU at 2,000 tokens/s"] == est.overlap(e.seconds, 10, embed_speedup=20)


def test_bad_since_is_one_line(make_emulator, desk_env, capsys):
    desk_env(make_emulator(tickets=5, articles=2), 100)
    assert cli.main(["estimate", "--since", "yesterday"]) == 1
    assert capsys.readouterr().err.strip() == (
        "fd-pipeline estimate: error: --since must be YYYY-MM-DD or YYYY-MM-DD-HH:00 (UTC), got 'yesterday'")

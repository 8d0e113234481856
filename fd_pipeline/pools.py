"""Which Dagster concurrency pool each asset belongs to: the resource its stage uses.

`dagster.yaml` sets `granularity: op`, so a pool limits steps, not whole runs: each step claims a
slot of its pool when it starts and frees it when it ends, whatever launched the run (an asset
page, a backfill, a job, a schedule, a sensor, `dagster asset materialize`). Several runs of one
collection can then be in progress at once, each in a different stage: range k+1 fetches while
range k embeds and range k-1 writes. The pool names are read when definitions load.

- fetching (`raw_*`): `fd_freshdesk`, limit 1. Every fetch spends the same account's rate limit,
  so a second fetcher would only halve each one's share (and make both wait on 429s).
- embedding (`*_embeddings`): `fd_embed`, limit FD_EMBED_WORKERS (default 1). It reads raw records
  and writes the embedding cache and kept documents, never Qdrant; as many at once as there are
  CPUs/GPUs to run them.
- writing (the collections and their checks): one writer per collection, `fd_<collection>`, with a
  Qdrant server and a Postgres sync log. Embedded stores share `fd_stores`: the embedded Qdrant
  folder admits one process at a time, whichever collection it writes.

Nothing goes back in time when ranges overlap: raw records, kept documents and the item log each
keep the newest source version (`updated_at`), and the writer skips a document older than the
version the item log holds, so the order in which runs finish does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable

from fd_pipeline import settings

SHARED_POOL = "fd_stores"
FETCH_POOL = "fd_freshdesk"
EMBED_POOL = "fd_embed"
EMBED_WORKERS = "FD_EMBED_WORKERS"


def writer_pool(collection: str) -> str:
    """The pool of every asset and check that writes (or, for checks, opens) `collection`'s stores."""
    return f"fd_{collection}" if settings.stores_are_servers() else SHARED_POOL


def fetch_pool() -> str:
    """The pool of every step that calls Freshdesk: one account, one rate limit."""
    return FETCH_POOL


def embed_pool() -> str:
    """The pool of the embedding steps: as many at once as FD_EMBED_WORKERS."""
    return EMBED_POOL


def embed_workers() -> int:
    workers = settings.value(EMBED_WORKERS)
    if workers < 1:
        raise ValueError(f"{EMBED_WORKERS} must be at least 1, got {workers}")
    return workers


def pool_limits(collections: Iterable[str]) -> dict[str, int]:
    """Each of the project's pools and its limit, for the domains' `collections` (`domains.COLLECTIONS`)."""
    limits = {FETCH_POOL: 1, EMBED_POOL: embed_workers()}
    limits.update({writer_pool(collection): 1 for collection in collections})
    return limits


def ensure_pool_limits(instance, collections: Iterable[str]) -> None:
    """Register the project's pools: the embedding pool at FD_EMBED_WORKERS, the others at the
    instance's default limit (`dagster.yaml`: 1) if still unknown.

    Dagster 1.13's queue daemon reads the known pools before it registers a new one, so in the
    first pass that meets a pool every run queued on it is launched at once. The project's
    commands call this when they prepare DAGSTER_HOME, which closes that window.
    """
    storage = instance.event_log_storage
    for pool, limit in sorted(pool_limits(collections).items()):
        if pool == EMBED_POOL:
            storage.set_concurrency_slots(pool, limit)
        else:
            storage.initialize_concurrency_limit_to_default(pool)

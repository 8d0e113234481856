"""Which Dagster concurrency pool each writing asset belongs to.

`dagster.yaml` limits every pool to one run at a time (`granularity: run`), whatever launched the
run: an asset page, a backfill, a job, a schedule, a sensor or the CLI. The pool names are read
when definitions load, from where the stores live (`settings.stores_are_servers`):

- embedded stores (the default: a Qdrant folder that one process may open, or a SQLite sync log):
  every asset is in `fd_stores`, so one run writes at a time;
- a Qdrant server and a Postgres sync log: each collection has its own pool, so a tickets run and
  a knowledge-base run may overlap while two runs of one collection still queue.
"""

from __future__ import annotations

from fd_pipeline import settings

SHARED_POOL = "fd_stores"


def writer_pool(collection: str) -> str:
    """The pool of every asset and check that writes (or, for checks, opens) `collection`'s stores."""
    return f"fd_{collection}" if settings.stores_are_servers() else SHARED_POOL


def project_pools() -> set[str]:
    from fd_pipeline.vectorstore import KB, TICKETS

    return {writer_pool(TICKETS.name), writer_pool(KB.name)}


def ensure_pool_limits(instance) -> None:
    """Register the project's pools at the instance's default limit (`dagster.yaml`) if still unknown.

    Dagster 1.13's queue daemon reads the known pools before it registers a new one, so in the
    first pass that meets a pool every run queued on it is launched at once. The project's
    commands call this when they prepare DAGSTER_HOME, which closes that window.
    """
    for pool in sorted(project_pools()):
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)

"""Jobs: one per domain and the main one, partitioned hourly.

They carry no concurrency tag: the assets' pools (`fd_pipeline/pools.py`) queue every run that
writes, whether a job, an asset page or a backfill launched it."""

from __future__ import annotations

import dagster as dg

from fd_pipeline.domains import DOMAINS
from fd_pipeline.partitions import HOURLY

# The job that rebuilds each collection's partitions and writes no other collection: what the
# freshness rule requests for a late hour, and how it tells which collection a queued run covers.
COLLECTION_JOBS = {
    domain.chain.collection: dg.define_asset_job(
        domain.job, selection=dg.AssetSelection.groups(domain.group), partitions_def=HOURLY,
        description=domain.job_description,
    )
    for domain in DOMAINS
}

sync_all_job = dg.define_asset_job(
    "sync_all_job",
    selection=dg.AssetSelection.groups(*(domain.group for domain in DOMAINS)),
    partitions_def=HOURLY,
    description="Both collections for the partition(s): the main job.",
)

"""Jobs: one per domain and the main one, partitioned hourly.

They carry no concurrency tag: the assets' pools (`fd_pipeline/pools.py`) queue every run that
writes, whether a job, an asset page or a backfill launched it."""

from __future__ import annotations

import dagster as dg

from fd_pipeline.knowledge_base.assets import GROUP as KB_GROUP
from fd_pipeline.partitions import HOURLY, KB_ASSETS, TICKET_ASSETS
from fd_pipeline.tickets.assets import GROUP as TICKETS_GROUP

tickets_job = dg.define_asset_job(
    "tickets_job",
    selection=dg.AssetSelection.groups(TICKETS_GROUP),
    partitions_def=HOURLY,
    description="Sync tickets updated in the partition's hour(s) into support_tickets.",
)

kb_job = dg.define_asset_job(
    "kb_job",
    selection=dg.AssetSelection.groups(KB_GROUP),
    partitions_def=HOURLY,
    description="Reconcile the knowledge base into kb_procedures.",
)

sync_all_job = dg.define_asset_job(
    "sync_all_job",
    selection=dg.AssetSelection.groups(TICKETS_GROUP, KB_GROUP),
    partitions_def=HOURLY,
    description="Both collections for the partition(s): the main job.",
)

# The job that rebuilds each collection's partitions and writes no other collection: what the
# freshness rule requests for a late hour, and how it tells which collection a queued run covers.
COLLECTION_JOBS = {TICKET_ASSETS.collection: tickets_job, KB_ASSETS.collection: kb_job}

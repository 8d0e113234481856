"""Assembles the code location; nothing else happens here."""

from __future__ import annotations

import dagster as dg

from fd_pipeline import checks, jobs, schedules, sensors
from fd_pipeline.knowledge_base import assets as kb_assets
from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.tickets import assets as ticket_assets


def resources() -> dict:
    return {
        "freshdesk": FreshdeskResource(),
        "embedder": EmbedderResource(),
        "qdrant": QdrantResource(),
        "sync_log": SyncLogResource(),
        "sync_settings": SyncSettingsResource(),
    }


defs = dg.Definitions(
    assets=[
        ticket_assets.raw_tickets,
        ticket_assets.ticket_embeddings,
        ticket_assets.support_tickets,
        kb_assets.raw_articles,
        kb_assets.article_embeddings,
        kb_assets.kb_procedures,
    ],
    # One freshness story: closed_hours_synced, judged and acted on by late_partitions_sensor.
    asset_checks=[*checks.build_checks(), *checks.build_freshness_checks()],
    jobs=[jobs.tickets_job, jobs.kb_job, jobs.sync_all_job],
    schedules=schedules.build_schedules(),
    sensors=[sensors.build_freshness_sensor(), sensors.build_realtime_sensor()],
    resources=resources(),
    # Steps of a run share one process: the model loads once, and the embedded Qdrant folder
    # (one process at a time) is never opened by two steps at once.
    executor=dg.in_process_executor,
)

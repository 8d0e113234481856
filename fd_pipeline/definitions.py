"""Assembles the code location; nothing else happens here."""

from __future__ import annotations

from datetime import timedelta

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


# Hourly partitions, the :05 schedule and a run's duration: warn past 90 min, fail past 3 h.
COLLECTION_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(minutes=90))
COLLECTIONS = {ticket_assets.support_tickets.key, kb_assets.kb_procedures.key}


def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(freshness_policy=COLLECTION_FRESHNESS) if spec.key in COLLECTIONS else spec


freshness_checks = checks.build_freshness_checks()

defs = dg.Definitions(
    assets=dg.map_asset_specs(
        _with_freshness,
        [
            ticket_assets.raw_tickets,
            ticket_assets.ticket_embeddings,
            ticket_assets.support_tickets,
            kb_assets.raw_articles,
            kb_assets.article_embeddings,
            kb_assets.kb_procedures,
        ],
    ),
    asset_checks=[*checks.build_checks(), *freshness_checks],
    jobs=[jobs.tickets_job, jobs.kb_job, jobs.sync_all_job],
    schedules=schedules.build_schedules(),
    sensors=[
        sensors.build_freshness_sensor(),
        sensors.build_realtime_sensor(),
        dg.build_sensor_for_freshness_checks(
            freshness_checks=freshness_checks, name="freshness_checks_sensor", default_status=sensors.automation_status()
        ),
    ],
    resources=resources(),
    # Steps of a run share one process: the model loads once, and the embedded Qdrant folder
    # (one process at a time) is never opened by two steps at once.
    executor=dg.in_process_executor,
)

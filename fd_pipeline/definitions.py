"""Assembles the code location from the environment; nothing else happens here.

Each domain's definitions (its three assets, `fd_pipeline/<group>/definitions.py`) are merged,
for every domain of `domains.DOMAINS`, with what crosses the domains: checks, jobs, schedules,
sensors, resources and the executor.

Every value read from the environment is read here (through `settings`) and passed on: the
resources' fields (`resources.project_resources`), the schedules' and sensors' default status,
the freshness rule and the stale-failure age.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import dagster as dg

from fd_pipeline import alerts, catalog, checks, freshness, jobs, schedules, sensors, settings, watchdog
from fd_pipeline.domains import CHAINS, DOMAINS
from fd_pipeline.resources import project_resources

DOMAIN_DEFINITIONS = [importlib.import_module(f"fd_pipeline.{domain.group}.definitions").defs for domain in DOMAINS]
running = settings.automation_running()
EMBEDDING_ASSETS = [chain.embeddings for chain in CHAINS]
COLLECTIONS = [chain.collection for chain in CHAINS]
rule = freshness.Rule(
    lookback_hours=settings.value("FD_FRESHNESS_LOOKBACK_HOURS"),
    grace=timedelta(minutes=settings.value("FD_FRESHNESS_GRACE_MINUTES")),
)

# Alerts are off unless FD_ALERT_SMTP_HOST is set; the password stays in its variable (dg.EnvVar).
alert_mail = alerts.mail_from({name: settings.value(name) for name in alerts.VARIABLES},
                              password_set=settings.raw(settings.BY_ENV[alerts.PASSWORD_VAR]) is not None)

defs = dg.Definitions(
    assets=catalog.with_configured_model([asset for domain in DOMAIN_DEFINITIONS for asset in domain.assets],
                                         settings.value("FD_EMBED_MODEL"), [*EMBEDDING_ASSETS, *COLLECTIONS]),
    # One freshness story: closed_hours_synced, judged and acted on by late_partitions_sensor.
    asset_checks=[
        *checks.build_checks(failed_max_age_hours=settings.value("FD_FAILED_MAX_AGE_HOURS")),
        *checks.build_freshness_checks(rule),
    ],
    jobs=[*jobs.COLLECTION_JOBS.values(), jobs.sync_all_job],
    schedules=schedules.build_schedules(running),
    sensors=[
        sensors.build_freshness_sensor(rule, running), sensors.build_realtime_sensor(running),
        watchdog.build_run_watchdog(settings.value("FD_WORKER_STALE_SECONDS")),
        *alerts.build_alert_sensors(alert_mail, rule),
    ],
    resources=project_resources(),
    # Steps of a run share one process: the model loads once, and the embedded Qdrant folder
    # (one process at a time) is never opened by two steps at once.
    executor=dg.in_process_executor,
)

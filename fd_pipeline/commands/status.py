"""`fd-pipeline status`: per collection the last sync, points, counts and failures; runs in flight."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from typing import Any

from fd_pipeline.sync_log import SyncLog
from fd_pipeline.vectorstore import KB, TICKETS, VectorStore, VectorStoreConfig

COLLECTIONS = (TICKETS, KB)


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="what is synced, what failed, what is running", description=__doc__)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--failed", type=int, default=10, metavar="N", help="failed items listed per collection (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = collect(failed_limit=args.failed)
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def collect(*, failed_limit: int = 10, database_url: str | None = None, qdrant: VectorStoreConfig | None = None) -> dict[str, Any]:
    """The status as plain data; each part degrades to an error message rather than failing the rest."""
    report: dict[str, Any] = {"collections": {}, "running_syncs": [], "closed_syncs": [], "dagster_runs": None, "errors": []}
    points: dict[str, Any] = {}
    try:
        vectors = VectorStore(qdrant or VectorStoreConfig.from_env())
        try:
            for spec in COLLECTIONS:
                try:
                    points[spec.name] = vectors.count(spec)
                except Exception as exc:
                    points[spec.name] = None
                    report["errors"].append(f"{spec.name}: {exc}")
        finally:
            vectors.close()
    except Exception as exc:  # embedded folder held by a running sync, server down
        report["errors"].append(f"qdrant: {exc}")
    store = SyncLog(database_url)
    try:
        report["closed_syncs"] = [
            {"collection": r["collection"], "run_id": r["run_id"], "partitions": f"{r['partition_start']}..{r['partition_end']}",
             "reason": r["error"]}
            for r in _close_orphans(store, report["errors"])
        ]
        last = store.last_syncs()
        for spec in COLLECTIONS:
            sync = last.get(spec.name)
            report["collections"][spec.name] = {
                "last_sync": None if sync is None else {
                    "finished_at": _iso(sync.finished_at),
                    "partitions": sync.partition_start if sync.partition_start == sync.partition_end
                    else f"{sync.partition_start}..{sync.partition_end}",
                    "run_id": sync.run_id,
                },
                "points": points.get(spec.name),
                "items": store.counts(spec.name),
                "failed_items": [
                    {"id": f.item_id, "stage": f.stage, "error": f.error, "attempts": f.attempts, "since": _iso(f.first_failed_at)}
                    for f in store.failed_items(spec.name, limit=failed_limit)
                ],
            }
        report["running_syncs"] = [
            {"collection": r["collection"], "run_id": r["run_id"], "partitions": f"{r['partition_start']}..{r['partition_end']}",
             "started_at": _iso(r["started_at"])}
            for r in store.running_syncs()
        ]
    finally:
        store.close()
    if os.environ.get("DAGSTER_HOME"):
        try:
            report["dagster_runs"] = dagster_runs()
        except Exception as exc:
            report["errors"].append(f"dagster instance: {exc}")
    return report


def _close_orphans(store: SyncLog, errors: list[str]) -> list[dict[str, Any]]:
    """Syncs left `running` by a process that died: closed here, so what is shown as running is."""
    if not os.environ.get("DAGSTER_HOME"):
        return store.close_orphaned_runs()
    import dagster as dg

    try:
        with dg.DagsterInstance.get() as instance:
            return store.close_orphaned_runs(dagster_instance=instance)
    except Exception as exc:  # an unreadable instance leaves the heartbeat rule
        errors.append(f"dagster instance: {exc}")
        return store.close_orphaned_runs()


def dagster_runs() -> list[dict[str, Any]]:
    import dagster as dg

    statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses), limit=50)
        out = []
        for run in runs:
            tags = run.tags
            partition = tags.get("dagster/partition") or (
                f"{tags['dagster/asset_partition_range_start']}..{tags['dagster/asset_partition_range_end']}"
                if "dagster/asset_partition_range_start" in tags else None
            )
            out.append({"run_id": run.run_id, "job": run.job_name, "status": run.status.value, "partitions": partition})
        return out


def render(report: dict[str, Any]) -> str:
    lines = []
    for name, c in report["collections"].items():
        last = c["last_sync"]
        items = c["items"]
        lines.append(f"{name}")
        lines.append(f"  last sync   {last['finished_at']}  partitions {last['partitions']}" if last else "  last sync   never")
        lines.append(f"  points      {c['points'] if c['points'] is not None else 'unknown'}")
        lines.append(f"  items       {items['synced']} synced, {items['deleted']} deleted, {items['failed']} failed")
        for f in c["failed_items"]:
            lines.append(f"    failed {f['id']} ({f['stage']}, {f['attempts']} attempts since {f['since']}): {f['error']}")
    running = report["running_syncs"]
    lines.append(f"syncs running: {len(running)}")
    lines.extend(f"  {r['collection']} {r['partitions']} run {r['run_id']} since {r['started_at']}" for r in running)
    for r in report.get("closed_syncs", []):
        lines.append(f"closed a sync left running: {r['collection']} {r['partitions']} run {r['run_id']} ({r['reason']})")
    runs = report["dagster_runs"]
    if runs is not None:
        lines.append(f"dagster runs queued or in progress: {len(runs)}")
        lines.extend(f"  {r['status']:<8} {r['job']} {r['partitions'] or ''} {r['run_id']}" for r in runs)
    lines.extend(f"warning: {e}" for e in report["errors"])
    return "\n".join(lines)

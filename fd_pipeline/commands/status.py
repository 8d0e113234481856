"""`fd-pipeline status`: per collection the last sync, points, counts and failures; runs in flight."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from fd_pipeline import settings
from fd_pipeline.partitions import IN_FLIGHT, run_partitions
from fd_pipeline.resources import configured
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.domains import DOMAINS

COLLECTIONS = tuple(domain.spec for domain in DOMAINS)


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


def _partitions(first: str, last: str) -> str:
    return first if first == last else f"{first}..{last}"


def collect(*, failed_limit: int = 10) -> dict[str, Any]:
    """The status as plain data, from the stores the configured resources name and the Dagster
    instance at DAGSTER_HOME (opened once); each part degrades to an error message rather than
    failing the rest."""
    report: dict[str, Any] = {"collections": {}, "running_syncs": [], "closed_syncs": [], "dagster_runs": None, "errors": []}
    points: dict[str, Any] = {}
    try:
        with configured("qdrant").open() as vectors:
            for spec in COLLECTIONS:
                try:
                    points[spec.name] = vectors.count(spec)
                except Exception as exc:
                    points[spec.name] = None
                    report["errors"].append(f"{spec.name}: {exc}")
    except Exception as exc:  # embedded folder held by a running sync, server down
        report["errors"].append(f"qdrant: {exc}")
    with ExitStack() as stack:
        instance = _dagster_instance(stack, report["errors"])
        with configured("sync_log").open() as store:
            report["closed_syncs"] = [
                {"collection": r["collection"], "run_id": r["run_id"],
                 "partitions": f"{r['partition_start']}..{r['partition_end']}", "reason": r["error"]}
                for r in _close_orphans(store, instance, report["errors"])
            ]
            last = store.last_syncs()
            for spec in COLLECTIONS:
                sync = last.get(spec.name)
                report["collections"][spec.name] = {
                    "last_sync": None if sync is None else {
                        "finished_at": _iso(sync.finished_at),
                        "partitions": _partitions(sync.partition_start, sync.partition_end),
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
        if instance is not None:
            try:
                report["dagster_runs"] = dagster_runs(instance)
            except Exception as exc:
                report["errors"].append(f"dagster instance: {exc}")
    return report


def _dagster_instance(stack: ExitStack, errors: list[str]):
    """The Dagster instance at DAGSTER_HOME, closed with `stack`; None when unset or unreadable."""
    if not settings.value("DAGSTER_HOME"):
        return None
    import dagster as dg

    try:
        return stack.enter_context(dg.DagsterInstance.get())
    except Exception as exc:
        errors.append(f"dagster instance: {exc}")
        return None


def _close_orphans(store: SyncLog, instance, errors: list[str]) -> list[dict[str, Any]]:
    """Syncs left `running` by a process that died: closed here, so what is shown as running is."""
    if instance is not None:
        try:
            return store.close_orphaned_runs(dagster_instance=instance)
        except Exception as exc:  # an unreadable instance leaves the heartbeat rule
            errors.append(f"dagster instance: {exc}")
    return store.close_orphaned_runs()


def dagster_runs(instance) -> list[dict[str, Any]]:
    """Runs queued or in progress, with the partitions each covers."""
    import dagster as dg

    out = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(IN_FLIGHT)), limit=50):
        keys = run_partitions(run.tags)
        out.append({"run_id": run.run_id, "job": run.job_name, "status": run.status.value,
                    "partitions": _partitions(*keys) if keys else None})
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

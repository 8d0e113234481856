"""Run history (`sync_runs`): one row per materialisation of a collection, kept alive by a
heartbeat while its process lives; and the small facts one run leaves for the next (`sync_meta`)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .database import Database
from .schema import sync_meta, sync_runs, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastSync:
    collection: str
    finished_at: datetime
    partition_start: str | None
    partition_end: str | None
    run_id: str | None
    counts: dict[str, Any] | None


class RunLog(Database):
    """A run this handle has open gets its heartbeat refreshed every `heartbeat_s`; a running row
    whose heartbeat is older than `stale_after_s` belongs to a process that died."""

    def __init__(self, url: str, *, heartbeat_s: float = 30.0, stale_after_s: float = 600.0, **options: Any):
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self._open_runs: set[int] = set()
        self._beat_lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        super().__init__(url, **options)

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=5)
        super().close()

    def start_run(
        self, collection: str, *, run_id: str | None, partition_start: str | None, partition_end: str | None,
        dagster_instance: Any = None,
    ) -> int:
        """Open a `running` row, kept alive by a heartbeat until `finish_run`; first close the rows
        of runs that died (see `close_orphaned_runs`)."""
        self.close_orphaned_runs(dagster_instance=dagster_instance)
        now = utcnow()
        with self._tx() as conn:
            run_pk = conn.execute(
                sync_runs.insert().returning(sync_runs.c.id),
                {
                    "collection": collection,
                    "run_id": run_id,
                    "partition_start": partition_start,
                    "partition_end": partition_end,
                    "status": "running",
                    "started_at": now,
                    "heartbeat_at": now,
                },
            ).scalar_one()
        with self._beat_lock:
            self._open_runs.add(run_pk)
            if self._beat_thread is None:
                self._beat_thread = threading.Thread(target=self._beat, name="sync-run-heartbeat", daemon=True)
                self._beat_thread.start()
        return run_pk

    def finish_run(self, run_pk: int, *, status: str, counts: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._beat_lock:
            self._open_runs.discard(run_pk)
        with self._tx() as conn:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_pk)
                .values(status=status, finished_at=utcnow(), counts=counts, error=error)
            )

    def _beat(self) -> None:
        while not self._beat_stop.wait(self.heartbeat_s):
            with self._beat_lock:
                open_runs = list(self._open_runs)
            if not open_runs:
                continue
            try:
                with self._tx() as conn:
                    conn.execute(
                        sync_runs.update()
                        .where(sync_runs.c.id.in_(open_runs), sync_runs.c.status == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception as exc:  # noqa: BLE001 - the run itself reports a dead database
                log.warning("sync-run heartbeat not written: %s", exc)

    def close_orphaned_runs(self, *, dagster_instance: Any = None) -> list[dict[str, Any]]:
        """Mark `abandoned` the running rows whose process is gone: their Dagster run has ended
        (looked up in `dagster_instance` by the row's run_id, when given), or their heartbeat is
        older than `stale_after_s`. Rows this handle has open are never touched. Returns the rows closed."""
        now = utcnow()
        with self._beat_lock:
            ours = set(self._open_runs)
        closed = []
        for row in self.running_syncs():
            if row["id"] in ours:
                continue
            reason = None
            ended = _ended_dagster_run(dagster_instance, row["run_id"])
            if ended is not None:
                reason = f"abandoned: its Dagster run ended ({ended}) without finishing this sync"
            else:
                beat = row["heartbeat_at"] or row["started_at"]
                if (now - beat).total_seconds() > self.stale_after_s:
                    reason = f"abandoned: no heartbeat since {beat.isoformat()}; the process running it died"
            if reason is not None:
                closed.append({**row, "status": "abandoned", "error": reason})
        if closed:
            with self._tx() as conn:
                for row in closed:
                    conn.execute(
                        sync_runs.update()
                        .where(sync_runs.c.id == row["id"], sync_runs.c.status == "running")
                        .values(status="abandoned", finished_at=now, error=row["error"])
                    )
            for row in closed:
                log.warning("sync of %s (run %s, partitions %s..%s) %s", row["collection"], row["run_id"],
                            row["partition_start"], row["partition_end"], row["error"])
        return closed

    def last_syncs(self) -> dict[str, LastSync]:
        """Per collection, the newest successful run: when it finished and which partitions it covered."""
        newest = (
            sa.select(sync_runs.c.collection, sa.func.max(sync_runs.c.id).label("id"))
            .where(sync_runs.c.status == "success")
            .group_by(sync_runs.c.collection)
            .subquery()
        )
        query = sa.select(sync_runs).join(newest, sync_runs.c.id == newest.c.id)
        with self._tx() as conn:
            return {
                row.collection: LastSync(
                    collection=row.collection,
                    finished_at=row.finished_at,
                    partition_start=row.partition_start,
                    partition_end=row.partition_end,
                    run_id=row.run_id,
                    counts=row.counts,
                )
                for row in conn.execute(query)
            }

    def running_syncs(self) -> list[dict[str, Any]]:
        query = sa.select(sync_runs).where(sync_runs.c.status == "running").order_by(sync_runs.c.started_at)
        with self._tx() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def get_meta(self, key: str) -> Any:
        """A JSON value an earlier run stored under `key`, or None."""
        with self._tx() as conn:
            return conn.execute(sa.select(sync_meta.c.value).where(sync_meta.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: Any) -> None:
        row = {"key": key, "value": value, "updated_at": utcnow()}
        with self._tx() as conn:
            self._upsert(conn, sync_meta, [row])


def _ended_dagster_run(instance: Any, run_id: str | None) -> str | None:
    """The final status of a Dagster run that is over, else None (in progress, unknown, no instance).
    Duck-typed on DagsterInstance so this package needs no Dagster import."""
    if instance is None or not run_id:
        return None
    try:
        run = instance.get_run_by_id(run_id)
    except Exception as exc:  # noqa: BLE001 - an unreadable instance only loses this shortcut
        log.warning("cannot read Dagster run %s: %s", run_id, exc)
        return None
    if run is None or not run.is_finished:
        return None
    return str(getattr(run.status, "value", run.status))

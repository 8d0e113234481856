"""Run workers and pool claims: which process runs each Dagster run, and which run writes each pool.

A run registers its worker process when its resources are set up (`register_worker`) and keeps a
heartbeat on it (`WorkerHeartbeat`) until they are torn down. Whoever checks on the run later
(the run watchdog sensor) tells a dead worker from a live one by its pid when it is on the same
machine, and by the age of its heartbeat otherwise (`worker_gone`).

`claim_pool` hands a pool to one run: an insert, or a compare-and-set on a claim whose run is
over, so two runs starting at the same moment cannot both win (nor both lose).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from .database import Database, SyncLogError
from .schema import pool_claims, run_workers, utcnow

log = logging.getLogger(__name__)

# A pid names the same process only within one boot of one kernel and one pid namespace.
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def this_machine() -> str | None:
    """Where a pid of this process means something: boot id and pid namespace (Linux), else None."""
    try:
        return f"{_BOOT_ID.read_text().strip()}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def process_alive(pid: int, started: float) -> bool:
    """Whether the process `pid` that started at `started` (epoch seconds) still runs: a reused pid
    belongs to a process started later."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def worker_gone(worker: dict[str, Any], *, now: datetime, stale_after_s: float, machine: str | None) -> str | None:
    """Why the registered `worker` is dead, or None while it may live: on this machine its pid
    decides; elsewhere a heartbeat older than `stale_after_s` does."""
    who = f"pid {worker['pid']} on {worker['host']}"
    if machine is not None and worker["machine"] == machine:
        return None if process_alive(worker["pid"], worker["process_started"]) else f"its run worker ({who}) is gone"
    age = (now - worker["heartbeat_at"]).total_seconds()
    if age > stale_after_s:
        return f"its run worker ({who}) has sent no heartbeat for {age:.0f} s (stale after {stale_after_s:g} s)"
    return None


class WorkerLog(Database):
    def register_worker(self, run_id: str) -> None:
        """Record this process as the worker of `run_id` (replacing an earlier attempt's), beating now."""
        now = utcnow()
        me = psutil.Process()
        row = {"run_id": run_id, "host": socket.gethostname(), "machine": this_machine(), "pid": me.pid,
               "process_started": me.create_time(), "started_at": now, "heartbeat_at": now}
        with self._tx() as conn:
            self._upsert(conn, run_workers, [row], update=lambda new: {c: new[c] for c in row if c not in ("run_id", "started_at")})

    # A beat writes the whole row: a worker whose registration met a database down is registered by
    # its first beat once the database is back.
    beat_worker = register_worker

    def workers(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {row.run_id: dict(row._mapping) for row in self._rows_in(sa.select(run_workers), run_workers.c.run_id, run_ids)}

    def prune_workers(self, *, keep: Iterable[str], older_than: datetime) -> int:
        """Forget the workers of runs not in `keep` whose heartbeat stopped before `older_than`."""
        keep = list(keep)
        with self._tx() as conn:
            query = run_workers.delete().where(run_workers.c.heartbeat_at < older_than)
            if keep:
                query = query.where(run_workers.c.run_id.not_in(keep))
            return conn.execute(query).rowcount or 0

    def claim_pool(self, pool: str, run_id: str, *, is_over: Callable[[str], bool]) -> str | None:
        """Make `run_id` the writer of `pool`. Returns None when it is (it already was, the pool was
        free, or its holder's run is over per `is_over`), else the run id that holds it."""
        for _ in range(10):
            with self._tx() as conn:
                holder = conn.execute(sa.select(pool_claims.c.run_id).where(pool_claims.c.pool == pool)).scalar_one_or_none()
            if holder == run_id:
                return None
            if holder is None:
                try:
                    with self._tx() as conn:
                        conn.execute(pool_claims.insert().values(pool=pool, run_id=run_id, claimed_at=utcnow()))
                    return None
                except sa.exc.IntegrityError:
                    continue  # another run inserted first: read who
            if not is_over(holder):
                return holder
            with self._tx() as conn:
                taken = conn.execute(
                    pool_claims.update()
                    .where(pool_claims.c.pool == pool, pool_claims.c.run_id == holder)
                    .values(run_id=run_id, claimed_at=utcnow())
                ).rowcount
            if taken == 1:
                return None
        raise SyncLogError(f"could not claim pool {pool!r}: its claim kept changing hands")

    def claim_age_s(self, pool: str) -> float | None:
        """Seconds since `pool` was claimed by its holder, or None when nobody holds it."""
        with self._tx() as conn:
            at = conn.execute(sa.select(pool_claims.c.claimed_at).where(pool_claims.c.pool == pool)).scalar_one_or_none()
        return None if at is None else (utcnow() - at).total_seconds()

    def release_claim(self, pool: str, run_id: str) -> None:
        with self._tx() as conn:
            conn.execute(pool_claims.delete().where(pool_claims.c.pool == pool, pool_claims.c.run_id == run_id))

    def release_claims(self, run_id: str) -> None:
        with self._tx() as conn:
            conn.execute(pool_claims.delete().where(pool_claims.c.run_id == run_id))


class WorkerHeartbeat:
    """Registers this process as `run_id`'s worker and refreshes its heartbeat every `every_s`
    from a thread, until `stop()`. `open_store` opens the sync log; a database that cannot be
    reached yet is tried again at each beat, so a worker is registered as soon as it can be. The
    row stays after `stop()` (the watchdog prunes it once the run is over), so the moment between
    the resources' teardown and the run's end never looks like a dead worker."""

    def __init__(self, open_store: Callable[[], WorkerLog], run_id: str, every_s: float):
        self.run_id, self.every_s = run_id, every_s
        self._open_store = open_store
        self.store: WorkerLog | None = None
        self._stop = threading.Event()
        self._beat_once()
        self._thread = threading.Thread(target=self._beat, name="run-worker-heartbeat", daemon=True)
        self._thread.start()

    def _beat_once(self) -> None:
        try:
            if self.store is None:
                self.store = self._open_store()
            self.store.beat_worker(self.run_id)
        except Exception as exc:  # noqa: BLE001 - the run's steps report a dead database in their own words
            log.warning("run-worker heartbeat not written: %s", exc)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            self._beat_once()

    def stop(self) -> None:
        """Stop beating; then release the run's pool claims and close the store."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.store is not None:
            try:
                self.store.release_claims(self.run_id)
            except Exception as exc:  # noqa: BLE001 - a claim of an ended run is taken over anyway
                log.warning("could not release the pool claims of run %s: %s", self.run_id, exc)
            self.store.close()

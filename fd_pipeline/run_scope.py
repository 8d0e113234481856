"""The partition range a run covers (`Scope`: which hour each item counts in) and the pool a
step holds for its duration (`sole_holder`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from fd_pipeline.partitions import check_range, hour_key
from fd_pipeline.pools import embed_pool
from fd_pipeline.sync.reports import StepReport
from fd_pipeline.sync_log.schema import utcnow
from fd_pipeline.sync_log.workers import this_machine, worker_gone


@dataclass(frozen=True)
class Scope:
    start: datetime
    end: datetime
    partition_key: str
    first: str
    last: str

    def hour_of(self, at: datetime | None) -> str:
        """The hour of the range an item counts in: its own, or the last one when outside the range."""
        if at is None:
            return self.last
        key = hour_key(at)
        return key if self.first <= key <= self.last else self.last

    def report(self, kind: type[StepReport], **fields) -> StepReport:
        """A report of `kind` that counts each item in its hour of this range (`fields`: its others)."""
        return kind(hour_of=self.hour_of, **fields)


def scope_of(context: dg.AssetExecutionContext) -> Scope:
    """The run's partition range, after checking it."""
    keys = context.partition_key_range
    check_range(keys.start, keys.end)
    window = context.partition_time_window
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return Scope(window.start, window.end, label, keys.start, keys.end)


@contextmanager
def sole_holder(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Hold this step's pool in the sync log for the step's duration; fail at once when another run
    holds it.

    Dagster's slots (`granularity: op`) keep the steps of a pool apart for runs of one instance,
    `dagster asset materialize` included. Runs of two instances (two DAGSTER_HOMEs, or the
    throwaway instance `dagster asset materialize` uses without one) share no slots but do share
    the stores, so the pool is also claimed in the sync log (`claim_pool`: an insert or a
    compare-and-set): of two steps starting together exactly one proceeds. A claim whose run is
    over (finished, failed by the run watchdog, or, for a run this instance does not know, whose
    worker is gone) passes to the next step. The embedding pool admits FD_EMBED_WORKERS steps at
    once and is not claimed.
    """
    pool = context.op_execution_context.op_def.pool
    if not pool or pool == embed_pool():
        yield
        return
    instance = context.instance
    resource = context.resources.sync_log

    with resource.open() as store:
        def is_over(run_id: str) -> bool:
            run = instance.get_run_by_id(run_id)
            if run is not None:
                return run.is_finished
            worker = store.workers([run_id]).get(run_id)
            if worker is None:
                # Not registered (yet, or its registration met the other process's migration of a
                # new SQLite file): the claim holds until it is as old as a stale heartbeat.
                age = store.claim_age_s(pool)
                return age is None or age > resource.worker_stale_seconds
            return worker_gone(
                worker, now=utcnow(), stale_after_s=resource.worker_stale_seconds, machine=this_machine()
            ) is not None

        holder = store.claim_pool(pool, context.run_id, is_over=is_over)
    if holder is not None:
        run = instance.get_run_by_id(holder)
        raise dg.Failure(
            description=f"run {holder} ({run.job_name if run else 'another Dagster instance'}) holds pool {pool!r}; "
            "this run did not wait for the pool's slot (e.g. `dagster asset materialize` on another DAGSTER_HOME): "
            "launch it from the UI or with `dagster job launch` so it waits its turn, or retry when that run has ended"
        )
    try:
        yield
    finally:
        try:
            with resource.open() as store:
                store.release_claim(pool, context.run_id)
        except Exception as exc:  # noqa: BLE001 - the run's end releases it too, and a claim of an ended run passes on
            context.log.warning(f"could not release pool {pool!r}: {exc}")

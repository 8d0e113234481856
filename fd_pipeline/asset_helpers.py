"""What every asset of this project does around its recipe: the partition scope, run bookkeeping
in the sync log, and metadata that tells each hour of a range run its own counts.

Metadata: every hour of the run carries `count_<key>` for the keys its stage counts (the items of
that hour: by `updated_at`; items from outside the range, such as the retry queue, count in the
range's last hour). Figures that belong to the run as a whole (seconds, API calls, the collection
size, first errors) appear once, on the range's last hour, as `run_*` and friends.
"""

import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from fd_pipeline import catalog
from fd_pipeline.freshdesk import ApiStats
from fd_pipeline import partitions
from fd_pipeline.partitions import Chain, check_range, hour_key
from fd_pipeline.pools import embed_pool, fetch_pool, writer_pool
from fd_pipeline.sync_log.schema import utcnow
from fd_pipeline.sync_log.workers import this_machine, worker_gone
from fd_pipeline.resources import EmbedderResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.sync.documents import Document
from fd_pipeline.sync.engine import (
    EmbedReport, StepReport, WriteReport, embed_documents, promote_when_complete, record_failures, write_documents,
)
from fd_pipeline.sync_log import ItemResult, SyncLog
from fd_pipeline.vectorstore import CollectionSpec

# Shown as each asset's owner in the UI (Dagster accepts team:NAME or an e-mail address).
OWNERS = ("team:support-data",)


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
            return worker is None or worker_gone(
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


@contextmanager
def tracked_run(store: SyncLog, collection: str, context: dg.AssetExecutionContext, scope: Scope) -> Iterator[dict]:
    """Record the materialisation in sync_runs: success with counts, or failure with the error."""
    run_pk = store.start_run(collection, run_id=context.run_id, partition_start=scope.first, partition_end=scope.last,
                             dagster_instance=context.instance)
    holder: dict = {}
    try:
        yield holder
    except Exception as exc:
        try:
            store.finish_run(run_pk, status="failure", error=str(exc)[:2000], counts=holder.get("counts"))
        except Exception:  # the store itself may be what failed
            context.log.warning("could not record the failed run in the sync log")
        raise
    store.finish_run(run_pk, status="success", counts=holder.get("counts"))


def publish(
    context: dg.AssetExecutionContext, scope: Scope, report: StepReport, run_figures: dict
) -> dg.MaterializeResult:
    """Each hour of the range gets its own counts; `run_figures` go once, on the range's last hour.

    Hours without items carry zeros (the result's metadata); only hours with items get their own
    entry, so a long range costs one metadata entry per busy hour and no storage query.
    """
    zeros = {f"count_{k}": 0 for k in report.KEYS}
    own = {hour: {f"count_{k}": counts[k] for k in report.KEYS} for hour, counts in report.hours.items()}
    own[scope.last] = {**own.get(scope.last, zeros), **run_figures}
    if scope.first == scope.last:
        return dg.MaterializeResult(metadata=own[scope.last])
    _add_hourly_metadata(context, own)
    return dg.MaterializeResult(metadata=zeros)


def _add_hourly_metadata(context: dg.AssetExecutionContext, by_hour: dict[str, dict]) -> None:
    """Attach each hour's metadata to its materialisation in one update.

    `context.add_asset_metadata(partition_key=...)` lists the whole range and copies every entry
    so far on each call: quadratic, minutes for a year of hours. Dagster 1.13 keeps these entries
    in the step's metadata accumulator, so they are added there at once; should that internal
    change, the public call is used.
    """
    from dagster._core.execution.context.metadata_logging import AssetMetadataHandle, OutputMetadataAccumulator

    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    if not isinstance(accumulator, OutputMetadataAccumulator):
        for hour, md in by_hour.items():
            context.add_asset_metadata(md, partition_key=hour)
        return
    entries = dict(accumulator.per_output_metadata)
    for hour, md in by_hour.items():
        handle = AssetMetadataHandle(asset_key=context.asset_key, partition_key=hour)
        entries[handle] = {**entries.get(handle, {}), **md}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=entries)


# The fewest texts a run embeds for its `run_texts_per_second` to be shown.
MIN_TEXTS_FOR_SPEED = 256


def run_figures(scope: Scope, report: StepReport, *, api: ApiStats | None = None, **extra) -> dict:
    """What belongs to the run as a whole: hours covered, seconds per stage, API use, first errors."""
    md: dict = {"run_hours": dg.MetadataValue.int(round((scope.end - scope.start).total_seconds() / 3600))}
    md.update({f"run_seconds_{k}": dg.MetadataValue.float(round(report.seconds.get(k, 0.0), 3)) for k in report.SECONDS})
    if isinstance(report, EmbedReport) and report.counts["embedded"] >= MIN_TEXTS_FOR_SPEED:
        # Below that, a run's embedding time is mostly loading and batching overhead: no speed.
        embed_s = report.seconds.get("embed", 0.0)
        md["run_texts_per_second"] = dg.MetadataValue.float(round(report.counts["embedded"] / embed_s, 2) if embed_s else 0.0)
    if api is not None:
        md["run_api_calls"] = dg.MetadataValue.int(api.calls)
        md["run_api_credits"] = dg.MetadataValue.int(api.credits)
        md["run_api_throttled"] = dg.MetadataValue.int(api.throttled)
        md["run_api_retries"] = dg.MetadataValue.int(api.retries)
        md["run_api_wait_seconds"] = dg.MetadataValue.float(round(api.waited_s, 3))
    if report.failed:
        md["run_failed"] = dg.MetadataValue.int(report.failed)
        md["first_errors"] = _first_errors(report)
    md.update(extra)
    return md


def _first_errors(report: StepReport) -> dg.MetadataValue:
    """The first failures the stage kept (`MAX_ERRORS_KEPT`), one list item each."""
    return dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors))


def finish(
    context: dg.AssetExecutionContext, scope: Scope, report: StepReport, ratio: float, *, api: ApiStats | None = None, **extra
) -> dg.MaterializeResult:
    """The asset's metadata, unless too many of its items failed: then the asset fails, with the rest written."""
    result = publish(context, scope, report, run_figures(scope, report, api=api, **extra))
    check_failure_ratio(report, ratio)
    return result


def check_failure_ratio(report: StepReport, ratio: float) -> None:
    """Fail the asset, after everything else was written, when too many of its stage's items failed."""
    failed, handled = report.failed, report.handled
    if failed and failed / max(1, handled) > ratio:
        raise dg.Failure(
            description=f"{failed} of {handled} {report.items} failed (more than FD_MAX_FAILURE_RATIO={ratio}); "
            "the rest is synced and the failures are in the sync log for the next run to retry",
            metadata={"failed": failed, "handled": handled, "first_errors": _first_errors(report)},
        )


# The documents a stage handles. The embedding step's are built from raw records: (store, scope,
# sync settings, model key, failures sink for records that do not parse) -> documents; the
# collection step's are those the embedding step kept: (store, scope, model key) -> documents.
BuildDocuments = Callable[[SyncLog, Scope, SyncSettingsResource, str, list[ItemResult]], Iterable[Document]]
KeptDocuments = Callable[[SyncLog, Scope, str], Iterable[Document]]


def _hourly_asset(name: str, group: str, pool: str, kinds: set[str], after: str | None = None, description: str | None = None,
                  **more) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator every asset of a chain shares: hourly partitions, a backfill cut into runs of
    ranges, the pool of the resource its stage uses (`fd_pipeline/pools.py`), the asset before it
    in the chain, the team that owns it. One backfill policy for all six assets: a job over both
    chains (`sync_all_job`) takes one."""

    def decorate(fn: Callable) -> dg.AssetsDefinition:
        # `backfill_policy` is marked beta in Dagster 1.13 (a BetaWarning per asset at every load):
        # the ranges of a first sync are built on it, and the warning tells a user nothing.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.asset(name=name, group_name=group, **partitions.HOURLY_ASSET, pool=pool,
                            deps=[after] if after else None, kinds=kinds, owners=list(OWNERS),
                            description=description and inspect.cleandoc(description), **more)(fn)

    return decorate


def raw_asset(chain: Chain, *, group: str) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator of a domain's raw asset, the first of its chain."""
    return _hourly_asset(chain.raw, group, fetch_pool(), {"freshdesk", "sql"})


def stage_assets(
    chain: Chain, *, group: str, spec: CollectionSpec, item_type: str, built: BuildDocuments, kept: KeptDocuments,
    descriptions: tuple[str, str], payload: tuple[tuple[str, str, str], ...], whole: bool = False,
) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """A domain's embeddings asset (`embedding_step` over the documents `built` from raw records)
    and collection asset (`collection_step` over the documents it `kept`), with their descriptions;
    `payload`: the columns of a point's payload (`catalog`), shown as the collection's schema.
    `whole`: the documents are the whole collection (see the steps)."""
    steps = {"spec": spec, "item_type": item_type, "whole": whole}

    @_hourly_asset(chain.embeddings, group, embed_pool(), {"pytorch", "sql"}, chain.raw, descriptions[0])
    def embeddings(context: dg.AssetExecutionContext, embedder: EmbedderResource, sync_log: SyncLogResource,
                   sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        return embedding_step(context, documents=built, embedder=embedder, sync_log=sync_log, sync_settings=sync_settings, **steps)

    @_hourly_asset(chain.collection, group, writer_pool(chain.collection), {"qdrant", "sql"}, chain.embeddings, descriptions[1],
                   metadata=catalog.payload_metadata(payload))
    def collection(context: dg.AssetExecutionContext, embedder: EmbedderResource, qdrant: QdrantResource,
                   sync_log: SyncLogResource, sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        return collection_step(context, documents=kept, qdrant=qdrant, embedder=embedder, sync_log=sync_log,
                               sync_settings=sync_settings, **steps)

    return embeddings, collection


def embedding_step(
    context: dg.AssetExecutionContext,
    *,
    spec: CollectionSpec,
    item_type: str,
    documents: BuildDocuments,
    embedder: EmbedderResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
    whole: bool = False,
) -> dg.MaterializeResult:
    """The body of both `*_embeddings` assets: build the documents in scope, embed what is not
    cached, keep the documents, record what failed. With `whole` the documents are the whole
    collection (the KB), and kept documents not among them are dropped."""
    scope = scope_of(context)
    run = {"run_id": context.run_id, "partition_key": scope.partition_key}
    with sync_log.open() as store, embedder.open() as model:
        failures: list[ItemResult] = []
        report = embed_documents(
            documents(store, scope, sync_settings, model.identity.key, failures),
            embedder=model, sync_log=store, collection=spec.name, item_type=item_type, whole=whole,
            report=scope.report(EmbedReport, item_type=item_type), batch_size=sync_settings.sync_batch, progress=context.log.info, **run,
        )
        # Stored records that no longer parse are documents this stage could not embed; a
        # document kept from an earlier version must not be written in their place.
        for failure in failures:
            report.add("documents", at=failure.source_updated_at)
        store.drop_documents(spec.name, [f.item_id for f in failures])
        record_failures(store, spec.name, item_type, failures, report, **run)
    return finish(context, scope, report, sync_settings.max_failure_ratio, model=model.identity.key,
                  **catalog.model_metadata(spec, model.identity))


def collection_step(
    context: dg.AssetExecutionContext,
    *,
    spec: CollectionSpec,
    item_type: str,
    documents: KeptDocuments,
    embedder: EmbedderResource,
    qdrant: QdrantResource,
    sync_log: SyncLogResource,
    sync_settings: SyncSettingsResource,
    whole: bool = False,
) -> dg.MaterializeResult:
    """The body of both collection assets: write changed points, delete removed ones, log every item.

    It reads the documents the embedding step kept and the model's identity (no weights loaded).
    With `whole` the documents are the whole collection, which is reconciled with them: any point
    they do not account for leaves it (the KB is listed whole every run, tickets only by window).
    """
    scope = scope_of(context)
    identity = embedder.identity()
    with sole_holder(context), sync_log.open() as store, qdrant.open() as vectors:
        with tracked_run(store, spec.name, context, scope) as run:
            vectors.ensure_collection(spec, identity)
            live: set = set()

            def remember(docs: Iterable[Document]) -> Iterator[Document]:
                for doc in docs:
                    if not doc.removed:
                        live.add(doc.point_id)
                    yield doc

            report = write_documents(
                remember(documents(store, scope, identity.key)),
                identity=identity, sync_log=store, vector_store=vectors, spec=spec, item_type=item_type,
                run_id=context.run_id, partition_key=scope.partition_key, batch_size=sync_settings.sync_batch,
                report=scope.report(WriteReport, item_type=item_type), progress=context.log.info,
            )
            if whole:
                stray = [pid for pid in vectors.scroll_ids(spec, identity) if pid not in live]
                vectors.delete(spec, identity, stray)
                report.add("deleted", len(stray))  # no document, so no hour of its own: the range's last
            promoted = promote_when_complete(vectors, store, spec, identity)
            run["counts"] = dict(report.counts)
            points = vectors.count(spec)
            # Inside the tracked run, so the sync log records a failed ratio as a failed sync too.
            check_failure_ratio(report, sync_settings.max_failure_ratio)
    return publish(context, scope, report, run_figures(
        scope, report, points=dg.MetadataValue.int(points), model=identity.key, alias_moved=promoted,
        **{"dagster/row_count": dg.MetadataValue.int(points)}, **catalog.model_metadata(spec, identity),
    ))


def run_totals(events: Iterable) -> dict[str, dict[str, float]]:
    """asset -> the run's figures from its materialisation events: `count_*` summed over the hours,
    everything else numeric as the run reported it once (benchmarks and tests read runs this way)."""
    totals: dict[str, dict[str, float]] = {}
    for event in events:
        asset = totals.setdefault(event.asset_key.path[-1], {})
        for key, value in event.materialization.metadata.items():
            number = value.value
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                asset[key] = asset.get(key, 0) + number if key.startswith("count_") else number
    return totals

"""Asset checks on each domain's Qdrant collection, plus the freshness rule's check.

The collection checks look at the whole collection (not one partition): the points against the
sync log, the stored vector sizes against the model, and items left failed too long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from fd_pipeline import freshness
from fd_pipeline.domains import DOMAINS
from fd_pipeline.pools import writer_pool
from fd_pipeline.resources import EmbedderResource, QdrantResource, SyncLogResource
from fd_pipeline.vectorstore import CollectionSpec, VectorStoreError


def points_match_log(vectors, store, spec: CollectionSpec) -> dg.AssetCheckResult:
    counts = store.counts(spec.name)
    try:
        points = vectors.count(spec)
    except VectorStoreError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc), metadata={"synced": counts["synced"]})
    # An item whose re-sync failed keeps its previous point, so failed items may add points.
    passed = counts["synced"] <= points <= counts["synced"] + counts["failed"]
    return dg.AssetCheckResult(
        passed=passed,
        description=f"{points} points in {spec.name}; the sync log holds {counts['synced']} synced and {counts['failed']} failed",
        metadata={"points": points, "synced": counts["synced"], "failed": counts["failed"], "difference": points - counts["synced"]},
    )


def vectors_have_model_dim(vectors, identity, spec: CollectionSpec, sample: int = 20) -> dg.AssetCheckResult:
    try:
        lengths = vectors.sample_vectors(spec, limit=sample)
    except VectorStoreError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc))
    wrong = {f"{pid}/{name}": n for pid, named in lengths.items() for name, n in named.items() if n != identity.dim}
    return dg.AssetCheckResult(
        passed=not wrong,
        description=(f"{len(wrong)} sampled vectors differ from {identity.name}'s {identity.dim} dimensions" if wrong
                     else f"{len(lengths)} sampled points: every vector has {identity.dim} dimensions"),
        metadata={"model_dim": identity.dim, "sampled_points": len(lengths), "wrong": dg.MetadataValue.json(dict(list(wrong.items())[:10]))},
    )


def no_stale_failures(store, spec: CollectionSpec, max_age_hours: float, now: datetime | None = None) -> dg.AssetCheckResult:
    now = now or datetime.now(UTC)
    limit = now - timedelta(hours=max_age_hours)
    failed = store.failed_items(spec.name)

    def since(item):
        moment = item.first_failed_at or item.synced_at
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    stale = [f for f in failed if since(f) <= limit]
    return dg.AssetCheckResult(
        passed=not stale,
        description=(f"{len(stale)} items failed for more than {max_age_hours:g} h (FD_FAILED_MAX_AGE_HOURS)" if stale
                     else f"{len(failed)} failed items, none older than {max_age_hours:g} h"),
        metadata={
            "failed": len(failed),
            "stale": len(stale),
            "first_stale": dg.MetadataValue.md("\n".join(f"- {f.item_id} ({f.stage}): {f.error}" for f in stale[:10]) or "none"),
        },
    )


def collection_checks(asset: str, spec: CollectionSpec, failed_max_age_hours: float) -> list[dg.AssetChecksDefinition]:
    # A check-only run opens the same stores as the asset (the embedded Qdrant folder admits one process).
    pool = writer_pool(spec.name)

    @dg.asset_check(asset=asset, name="points_match_sync_log", pool=pool,
                    description="Points in the collection equal the items the sync log holds as synced.")
    def points_match(qdrant: QdrantResource, sync_log: SyncLogResource) -> dg.AssetCheckResult:
        with sync_log.open() as store, qdrant.open() as vectors:
            return points_match_log(vectors, store, spec)

    @dg.asset_check(asset=asset, name="vectors_have_model_dimension", pool=pool,
                    description="Sampled stored vectors have the configured model's dimension.")
    def model_dim(qdrant: QdrantResource, embedder: EmbedderResource) -> dg.AssetCheckResult:
        identity = embedder.identity()
        with qdrant.open() as vectors:
            return vectors_have_model_dim(vectors, identity, spec)

    @dg.asset_check(asset=asset, name="no_stale_failures", pool=pool,
                    description=f"No item has stayed failed longer than {failed_max_age_hours:g} h (FD_FAILED_MAX_AGE_HOURS).")
    def stale_failures(sync_log: SyncLogResource) -> dg.AssetCheckResult:
        with sync_log.open() as store:
            return no_stale_failures(store, spec, failed_max_age_hours)

    return [points_match, model_dim, stale_failures]


def build_checks(failed_max_age_hours: float = 24.0) -> list:
    """The collection checks; an item failed longer than `failed_max_age_hours` (FD_FAILED_MAX_AGE_HOURS) is stale."""
    return [check for domain in DOMAINS for check in collection_checks(domain.chain.collection, domain.spec, failed_max_age_hours)]


def build_freshness_checks(rule: freshness.Rule) -> list:
    """`closed_hours_synced` on every collection: `rule` (`fd_pipeline/freshness.py`).

    `late_partitions_sensor` reports it whenever its verdict changes; a run of the collection
    evaluates it too, after the materialisation.
    """

    def freshness_check(name: str) -> dg.AssetChecksDefinition:

        @dg.asset_check(
            asset=name, name=freshness.CHECK_NAME,
            description="Every closed hour of the last FD_FRESHNESS_LOOKBACK_HOURS is synced FD_FRESHNESS_GRACE_MINUTES "
            "after it closed; the hour still open is never expected.",
        )
        def closed_hours_synced(context) -> dg.AssetCheckResult:
            return freshness.judge(context.instance, name, datetime.now(UTC), rule).check_result()

        return closed_hours_synced

    return [freshness_check(domain.chain.collection) for domain in DOMAINS]

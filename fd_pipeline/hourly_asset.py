"""How the project declares an asset: hourly partitions, a backfill cut into runs of ranges, the
pool of the resource its stage uses, the asset before it in its chain, the team that owns it."""

import inspect
import warnings
from collections.abc import Callable

import dagster as dg

from fd_pipeline import catalog, partitions
from fd_pipeline.partitions import Chain
from fd_pipeline.pools import embed_pool, fetch_pool, writer_pool
from fd_pipeline.resources import EmbedderResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.steps import BuildDocuments, KeptDocuments, collection_step, embedding_step
from fd_pipeline.vectorstore import CollectionSpec

# Shown as each asset's owner in the UI (Dagster accepts team:NAME or an e-mail address).
OWNERS = ("team:support-data",)


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

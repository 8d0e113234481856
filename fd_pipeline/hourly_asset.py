"""How the project declares an asset: hourly partitions, a backfill cut into runs of ranges, the
pool of the resource its stage uses, the asset before it in its chain, the team that owns it."""

import warnings
from collections.abc import Callable

import dagster as dg

from fd_pipeline import catalog, partitions
from fd_pipeline.domain import Domain
from fd_pipeline.pools import embed_pool, fetch_pool, writer_pool

# Shown as each asset's owner in the UI (Dagster accepts team:NAME or an e-mail address).
OWNERS = ("team:support-data",)


def _hourly_asset(domain: Domain, name: str, pool: str, kinds: set[str], after: str | None = None,
                  **more) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator every asset of a chain shares: hourly partitions, a backfill cut into runs of
    ranges, the pool of the resource its stage uses (`fd_pipeline/pools.py`), the asset before it
    in the chain, the team that owns it; the function's docstring is the asset's description. One
    backfill policy for every asset: a job over all the chains (`sync_all_job`) takes one."""

    def decorate(fn: Callable) -> dg.AssetsDefinition:
        # `backfill_policy` is marked beta in Dagster 1.13 (a BetaWarning per asset at every load):
        # the ranges of a first sync are built on it, and the warning tells a user nothing.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.asset(name=name, group_name=domain.group, **partitions.HOURLY_ASSET, pool=pool,
                            deps=[after] if after else None, kinds=kinds, owners=list(OWNERS), **more)(fn)

    return decorate


def raw_asset(domain: Domain) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator of a domain's raw asset, the first of its chain: it calls Freshdesk."""
    return _hourly_asset(domain, domain.chain.raw, fetch_pool(), {"freshdesk", "sql"})


def embeddings_asset(domain: Domain) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator of a domain's embeddings asset (its body: `steps.embedding_step`)."""
    return _hourly_asset(domain, domain.chain.embeddings, embed_pool(), {"pytorch", "sql"}, domain.chain.raw)


def collection_asset(domain: Domain) -> Callable[[Callable], dg.AssetsDefinition]:
    """The decorator of a domain's collection asset (its body: `steps.collection_step`), with the
    columns of a point's payload shown as the collection's schema."""
    return _hourly_asset(domain, domain.chain.collection, writer_pool(domain.chain.collection), {"qdrant", "sql"},
                         domain.chain.embeddings, metadata=catalog.payload_metadata(domain.payload))

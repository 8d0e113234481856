"""What a domain of the project is: one Freshdesk stream synced into one Qdrant collection by a
chain of three hourly assets (raw records -> embeddings -> the collection).

Each domain folder declares one `Domain` in its `domain.py` and its three assets in its
`definitions.py`; `fd_pipeline/domains.py` lists the domains, the root `definitions.py` merges
their definitions, and what spans them (pools, checks, jobs, schedules, `fd-pipeline status`,
`fd-pipeline rebuild-vectors`) iterates that list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from fd_pipeline.documents import Document
from fd_pipeline.vectorstore import CollectionSpec

if TYPE_CHECKING:
    from fd_pipeline.resources import SyncSettingsResource
    from fd_pipeline.run_scope import Scope
    from fd_pipeline.sync_log import ItemResult, SyncLog


class Chain(NamedTuple):
    """The three assets of one domain, in the order they run: raw records, documents and their
    embeddings, the Qdrant collection they feed (asset name == collection name)."""

    raw: str
    embeddings: str
    collection: str


# The documents a stage handles. The embedding step's are built from raw records: (store, scope,
# sync settings, model key, failures sink for records that do not parse) -> documents; the
# collection step's are those the embedding step kept: (store, scope, model key) -> documents.
BuildDocuments = Callable[["SyncLog", "Scope", "SyncSettingsResource", str, "list[ItemResult]"], Iterable[Document]]
KeptDocuments = Callable[["SyncLog", "Scope", str], Iterable[Document]]


@dataclass(frozen=True)
class Domain:
    """One domain, declared once.

    `name`: what the command line calls it (`rebuild-vectors --only`). `group`: the assets' group
    in the UI, and the domain's folder (`fd_pipeline/<group>/definitions.py`). `chain`: its asset names.
    `item_type`: what the sync log calls one item; `items`: what messages call several.
    `spec`: the collection, its aspects and payload indexes; `payload`: the columns of a point's
    payload, shown as the collection's schema. `documents` / `kept`: the documents each step
    handles. `whole`: the documents are the whole collection every run (reconciled with it), not
    the items of the run's hours. The domain's own job (`<name>_job`, `job_description`) runs
    hourly at `schedule_minute` past the hour (`<name>_hourly`, `schedule_description`).
    """

    name: str
    group: str
    chain: Chain
    item_type: str
    items: str
    spec: CollectionSpec
    payload: tuple[tuple[str, str, str], ...]
    documents: BuildDocuments
    kept: KeptDocuments
    whole: bool
    job_description: str
    schedule_minute: int
    schedule_description: str

    @property
    def job(self) -> str:
        return f"{self.name}_job"

    @property
    def schedule(self) -> str:
        return f"{self.name}_hourly"

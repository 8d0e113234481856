"""Dagster resources: thin configuration over the plain clients.

Every field left unset is read from the environment when a run starts (see the README's
settings table), never at import time; any field may also be wired with `dg.EnvVar`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import dagster as dg

from fd_pipeline.embedding import Embedder, EmbedderConfig
from fd_pipeline.freshdesk import FreshdeskClient
from fd_pipeline.settings import env_bool, env_float, env_int, env_str
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig


def _given(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


class FreshdeskResource(dg.ConfigurableResource):
    """Freshdesk API v2 (FRESHDESK_DOMAIN or FRESHDESK_BASE_URL, FRESHDESK_API_KEY)."""

    domain: Optional[str] = None
    base_url: Optional[str] = None
    api_key: Optional[str] = None
    ca_bundle: Optional[str] = None
    timeout: Optional[float] = None
    max_retries: Optional[int] = None
    per_page: Optional[int] = None

    @contextmanager
    def client(self) -> Iterator[FreshdeskClient]:
        client = FreshdeskClient.from_env(
            **_given(
                domain=self.domain,
                base_url=self.base_url,
                api_key=self.api_key,
                verify=self.ca_bundle,
                timeout=self.timeout,
                max_retries=self.max_retries,
                per_page=self.per_page,
            )
        )
        try:
            yield client
        finally:
            client.close()


class EmbedderResource(dg.ConfigurableResource):
    """bge-m3 (or another FlagEmbedding model) through FD_EMBED_* settings; loaded once per process."""

    model: Optional[str] = None
    device: Optional[str] = None
    threads: Optional[int] = None
    batch_size: Optional[int] = None
    max_tokens: Optional[int] = None

    def get(self) -> Embedder:
        base = EmbedderConfig.from_env()
        config = EmbedderConfig(
            **{
                **base.__dict__,
                **_given(model=self.model, device=self.device, threads=self.threads, batch_size=self.batch_size, max_tokens=self.max_tokens),
            }
        )
        return Embedder(config)


class QdrantResource(dg.ConfigurableResource):
    """Qdrant: QDRANT_URL (+ QDRANT_API_KEY), QDRANT_HOST/QDRANT_PORT, or embedded local mode."""

    url: Optional[str] = None
    api_key: Optional[str] = None
    path: Optional[str] = None
    upsert_batch: Optional[int] = None

    @contextmanager
    def open(self) -> Iterator[VectorStore]:
        base = VectorStoreConfig.from_env()
        if self.url:
            base = VectorStoreConfig(url=self.url, api_key=self.api_key or base.api_key, path=None, upsert_batch=base.upsert_batch)
        elif self.path:
            base = VectorStoreConfig(path=self.path, upsert_batch=base.upsert_batch)
        if self.upsert_batch:
            base = VectorStoreConfig(**{**base.__dict__, "upsert_batch": self.upsert_batch})
        store = VectorStore(base)
        try:
            yield store
        finally:
            store.close()


class SyncLogResource(dg.ConfigurableResource):
    """The sync log: FD_DATABASE_URL / DATABASE_URL (Postgres), else SQLite in the data folder."""

    database_url: Optional[str] = None

    @contextmanager
    def open(self) -> Iterator[SyncLog]:
        store = SyncLog(self.database_url)
        try:
            yield store
        finally:
            store.close()


class SyncSettingsResource(dg.ConfigurableResource):
    """How a sync behaves (FD_* settings): failure tolerance, batch sizes, which texts and articles."""

    max_failure_ratio: Optional[float] = None
    max_retries_per_run: Optional[int] = None
    conversation_concurrency: Optional[int] = None
    batch_size: Optional[int] = None
    cause_field: Optional[str] = None
    kb_languages: Optional[str] = None
    kb_categories: Optional[str] = None
    kb_include_drafts: Optional[bool] = None

    def failure_ratio(self) -> float:
        return self.max_failure_ratio if self.max_failure_ratio is not None else env_float("FD_MAX_FAILURE_RATIO", 0.2)

    def retry_limit(self) -> int:
        return self.max_retries_per_run or env_int("FD_RETRY_LIMIT", 500)

    def conversation_workers(self) -> int:
        return self.conversation_concurrency or env_int("FD_CONVERSATION_WORKERS", 4)

    def batch(self) -> int:
        return self.batch_size or env_int("FD_SYNC_BATCH", 512)

    def cause(self) -> str | None:
        return self.cause_field or env_str("FD_CAUSE_FIELD")

    def languages(self) -> tuple[str, ...]:
        raw = self.kb_languages if self.kb_languages is not None else env_str("FD_KB_LANGUAGES", "")
        return tuple(x.strip() for x in (raw or "").split(",") if x.strip())

    def categories(self) -> tuple[int, ...] | None:
        raw = self.kb_categories if self.kb_categories is not None else env_str("FD_KB_CATEGORIES")
        return tuple(int(x) for x in raw.split(",") if x.strip()) if raw else None

    def drafts(self) -> bool:
        return self.kb_include_drafts if self.kb_include_drafts is not None else env_bool("FD_KB_INCLUDE_DRAFTS", False)

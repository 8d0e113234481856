"""Where the vector store lives: a Qdrant server, or embedded (qdrant-edge in a folder; `:memory:` for tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

MEMORY = ":memory:"
ENGINES = ("edge", "local")


@dataclass(frozen=True)
class VectorStoreConfig:
    """Connection settings. `url` (or `host`/`port`) means a server; otherwise `path` is embedded.

    `path` is a folder for the embedded engine, or ":memory:" (qdrant-client in memory: tests,
    and the stand-in for the server API). `embedded_engine` picks what runs in a folder:
    "edge" (qdrant-edge, the default) or "local" (qdrant-client's local mode, kept for the
    benchmark). The index settings apply to qdrant-edge (a server has its own). The API key is
    kept out of the repr so the config can be logged.
    """

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str | None = MEMORY
    upsert_batch: int = 256
    timeout: float = 10.0
    embedded_engine: str = "edge"
    # qdrant-edge: `optimize` rewrites a segment past this many KB of vectors (per vector name)
    # into an immutable one: vectors mmap'd, sparse and payload indexes on disk, so reopening
    # reads no more than it needs (an appendable segment is rebuilt in memory on every open).
    index_threshold_kb: int = 10_000
    # ... and builds HNSW graphs once the collection's vectors pass this many KB per vector name
    # (100,000 KB = about 25,000 bge-m3 tickets). Below it an exact scan costs a few CPU-ms per
    # query and grows with the collection (7.4 CPU-ms per hybrid query at 50,000, 2.3 with
    # graphs); the graphs cost once (38 CPU-s at 10,000 tickets, 749 at 50,000; docs/benchmarks.md).
    hnsw_threshold_kb: int = 100_000
    # Filtered searches whose candidates fit in this many KB of vectors scan them exactly.
    full_scan_threshold_kb: int = 10_000
    hnsw_ef_construct: int = 100
    index_threads: int = 0  # 0: as many as the engine sees fit
    optimize_on_close: bool = True

    def __post_init__(self) -> None:
        if self.upsert_batch < 1:
            raise ValueError(f"upsert_batch must be at least 1, got {self.upsert_batch}")
        if self.embedded_engine not in ENGINES:
            raise ValueError(f"embedded_engine must be one of {ENGINES}, not {self.embedded_engine!r}")

    @property
    def server_url(self) -> str | None:
        """The server's URL (from `url` or `host`/`port`), or None in embedded mode."""
        if self.url:
            return self.url
        if self.host:
            return f"http://{self.host}:{self.port or 6333}"
        return None

    @property
    def embedded(self) -> bool:
        return self.server_url is None

    def describe(self) -> str:
        """A line for logs and metadata: where the vectors are, without secrets."""
        engine = self.engine
        if engine == "server":
            return f"Qdrant server at {self.server_url}"
        if engine == "memory":
            return "embedded Qdrant in memory"
        if engine == "local":
            return f"embedded Qdrant (local mode) in {self.path}"
        return f"embedded Qdrant (qdrant-edge) in {self.path}"

    @property
    def engine(self) -> str:
        """"server", "memory" (qdrant-client), "edge" or "local" (a folder)."""
        if self.server_url:
            return "server"
        if self.path == MEMORY or self.path is None:
            return "memory"
        return self.embedded_engine

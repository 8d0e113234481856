"""The embedded engine: qdrant-edge (Qdrant's Rust segment engine in-process), one shard per collection.

Folder layout under QDRANT_PATH (default `<FD_DATA_DIR>/qdrant`):

    fd_pipeline_store.json                 format marker: {"engine": "qdrant-edge", "format": 1}
    .fd_pipeline.lock                      flock held by the one process that has the folder open
    collections/<public>__<model key>/     one per (collection, model identity):
        collection.json                    its vector layout and the model identity (written once)
        shard/                             the qdrant-edge shard (segments + WAL)
    aliases/<public>.json                  {"collection": "<public>__<model key>"}: what the public name serves

qdrant-edge has no aliases, so the public name is a small pointer file, replaced with `os.replace`
(atomic on POSIX): a reader sees the old target or the new one, never none. A collection folder
is built under a temporary name and renamed into place complete, and dropped by renaming it away
first, so a crash never leaves a half collection under a real name.

One process at a time: qdrant-edge locks each shard's WAL, and this engine takes an exclusive
`flock` on the folder when it opens, so a second process (a search during a sync) fails at once
with one line instead of half-opening some shards.

Indexing, in two steps, both at `optimize` (which `VectorStore.close` runs after writes):
- a segment past `index_threshold_kb` of vectors is rewritten as an immutable segment: vectors
  mmap'd, sparse and payload indexes on disk, searched by exact scan. Cheap (seconds at 50,000
  tickets) and it makes reopening fast: an appendable segment is rebuilt in memory on every open.
- once the collection's vectors pass `hnsw_threshold_kb` per vector name, the shard is reopened
  with HNSW enabled (m=16) and the optimizer rebuilds its segments with graphs: a one-time cost
  of CPU minutes, paid where an exact scan would get slow. Below it, m=0: no graph.
`docs/benchmarks.md` has what each costs on 2 cores.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fd_pipeline.vectorstore.config import VectorStoreConfig
from fd_pipeline.vectorstore.engine import Layout, RawPoint, Record, Sparse, Vectors, translated
from fd_pipeline.vectorstore.errors import VectorStoreError, VectorStoreUnavailable
from fd_pipeline.vectorstore.filters import to_edge_filter
from fd_pipeline.vectorstore.records import PointId

FORMAT = {"engine": "qdrant-edge", "format": 1}
MARKER = "fd_pipeline_store.json"
LOCK = ".fd_pipeline.lock"
HNSW_M = 16  # Qdrant's default graph degree
RRF_K = 2  # Qdrant's default for Fusion.RRF (qdrant-client: DEFAULT_RANKING_CONSTANT_K)


def local_mode_folder(path: Path) -> bool:
    """qdrant-client's local mode keeps `meta.json` and a `collection/` folder at the top."""
    return (path / "meta.json").is_file() and (path / "collection").is_dir()


def _qe():
    import qdrant_edge

    return qdrant_edge


class EdgeEngine:
    def __init__(self, config: VectorStoreConfig) -> None:
        self.config = config
        self.root = Path(config.path or "")
        self.where = config.describe()
        self._shards: dict[str, Any] = {}
        self._lock_fd: int | None = None
        if local_mode_folder(self.root):
            raise VectorStoreError(
                f"{self.root} holds a qdrant-client local-mode store, which fd_pipeline no longer uses "
                f"(the embedded engine is now qdrant-edge). Move it aside (mv {self.root} {self.root}.local-mode) "
                "and run `fd-pipeline rebuild-vectors`: it refills the collections from the embeddings "
                "stored in the sync log, without re-embedding."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._init_folder()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise VectorStoreUnavailable(
                f"The embedded Qdrant folder {self.root} is already opened by another process (or another "
                "VectorStore in this one, e.g. a sync that is running): the embedded engine serves one process "
                "at a time. For concurrent use, run a Qdrant server and set QDRANT_URL (and QDRANT_API_KEY)."
            ) from None
        self._lock_fd = fd

    def _init_folder(self) -> None:
        marker = self.root / MARKER
        if marker.exists():
            found = json.loads(marker.read_text())
            if found.get("engine") != FORMAT["engine"] or found.get("format") != FORMAT["format"]:
                raise VectorStoreError(f"{self.root} is a vector store of another format ({found}); expected {FORMAT}")
        else:
            _write_atomic(marker, FORMAT)
        (self.root / "collections").mkdir(exist_ok=True)
        (self.root / "aliases").mkdir(exist_ok=True)
        # Left by a crash while creating a collection (we hold the lock: nobody else is).
        for leftover in (self.root / "collections").glob(".*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def close(self) -> None:
        for name in list(self._shards):
            self._close_shard(name)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _folder(self, name: str) -> Path:
        return self.root / "collections" / name

    def _close_shard(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            with contextlib.suppress(Exception):
                shard.flush()
            with contextlib.suppress(Exception):
                shard.close()

    def _shard(self, name: str) -> Any:
        shard = self._shards.get(name)
        if shard is None:
            folder = self._folder(name)
            if not (folder / "collection.json").is_file():
                raise VectorStoreError(f"collection {name} does not exist on {self.where}")
            with self._calling(f"opening {name}"):
                shard = _qe().EdgeShard.load(str(folder / "shard"))
            self._shards[name] = shard
        return shard

    def _calling(self, what: str) -> contextlib.AbstractContextManager[None]:
        return translated(lambda exc: self._error(what, exc))

    def _error(self, what: str, exc: Exception) -> VectorStoreError:
        message = str(exc)  # qdrant-edge raises plain Exception with the engine's message
        if "WouldBlock" in message:
            return VectorStoreUnavailable(
                f"{what}: the shard is held by another process; {self.where} serves one process at a time "
                "(run a Qdrant server and set QDRANT_URL for concurrent use)"
            )
        return VectorStoreError(f"{what} failed on {self.where}: {message[:500]}")

    def collection_names(self) -> set[str]:
        folder = self.root / "collections"
        return {p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / "collection.json").is_file()}

    def aliases(self) -> dict[str, str]:
        out = {}
        for pointer in (self.root / "aliases").glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                out[pointer.stem] = json.loads(pointer.read_text())["collection"]
        return out

    def create(self, name: str, layout: Layout, metadata: dict[str, Any], payload_indexes: Sequence[tuple[str, str]]) -> None:
        qe = _qe()
        final = self._folder(name)
        if final.exists():
            raise VectorStoreError(f"collection {name} already exists on {self.where}")
        building = final.parent / f".building-{name}-{uuid.uuid4().hex[:8]}"
        building.mkdir()
        try:
            with self._calling(f"creating {name}"):
                shard = qe.EdgeShard.create(str(building / "shard"), self._edge_config(layout, graph=False))
                try:
                    for field_name, schema in payload_indexes:
                        shard.update(qe.UpdateOperation.create_field_index(field_name, _schema(schema)))
                    shard.flush()
                finally:
                    shard.close()
            description = {
                "layout": {"dense": layout.dense, "sparse": sorted(layout.sparse), "idf": sorted(layout.idf)},
                "metadata": metadata,
                "payload_indexes": [list(p) for p in payload_indexes],
            }
            _write_atomic(building / "collection.json", description)
            os.rename(building, final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        _fsync_dir(final.parent)

    def _edge_config(self, layout: Layout, *, graph: bool) -> Any:
        qe = _qe()
        cfg = self.config
        return qe.EdgeConfig(
            vectors={k: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine) for k, size in layout.dense.items()},
            sparse_vectors={
                k: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if k in layout.idf else None)
                for k in sorted(layout.sparse)
            },
            hnsw_config=qe.HnswIndexConfig(
                m=HNSW_M if graph else 0, ef_construct=cfg.hnsw_ef_construct,
                full_scan_threshold=cfg.full_scan_threshold_kb, max_indexing_threads=cfg.index_threads,
            ),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=cfg.index_threshold_kb),
        )

    def _graph_enabled(self, name: str) -> bool:
        """Whether the shard is configured with HNSW graphs (m > 0), from the config qdrant-edge persists."""
        try:
            persisted = json.loads((self._folder(name) / "shard" / "edge_config.json").read_text())
        except (OSError, ValueError):
            return False
        return int((persisted.get("hnsw_config") or {}).get("m") or 0) > 0

    def _wants_graph(self, name: str, layout: Layout) -> bool:
        largest = max(layout.dense.values(), default=0) * 4  # bytes of one float32 vector
        return self.count(name) * largest / 1024 >= self.config.hnsw_threshold_kb

    def describe(self, name: str) -> tuple[Layout, dict[str, Any]]:
        path = self._folder(name) / "collection.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise VectorStoreError(f"collection {name} does not exist on {self.where}") from None
        raw = data["layout"]
        layout = Layout(
            dense={k: int(v) for k, v in raw["dense"].items()}, sparse=frozenset(raw["sparse"]), idf=frozenset(raw.get("idf", ()))
        )
        return layout, dict(data.get("metadata") or {})

    def set_alias(self, alias: str, name: str, *, current: str | None) -> None:
        if not (self._folder(name) / "collection.json").is_file():
            raise VectorStoreError(f"cannot point {alias} at {name}: it does not exist on {self.where}")
        _write_atomic(self.root / "aliases" / f"{alias}.json", {"collection": name})

    def _update(self, name: str, what: str, operation: Any) -> None:
        shard = self._shard(name)
        with self._calling(f"{what} in {name}"):
            shard.update(operation)

    @staticmethod
    def _vectors(vectors: Vectors) -> dict[str, Any]:
        qe = _qe()
        # A Python list crosses into the engine about 3x faster than a numpy array (measured).
        return {
            k: qe.SparseVector(indices=v.indices, values=v.values) if isinstance(v, Sparse) else v.tolist()
            for k, v in vectors.items()
        }

    def upsert(self, name: str, points: list[RawPoint]) -> None:
        qe = _qe()
        batch = [qe.Point(_edge_id(p.id), self._vectors(p.vectors), p.payload) for p in points]
        self._update(name, f"upserting {len(points)} points", qe.UpdateOperation.upsert_points(batch))

    def delete(self, name: str, ids: list[PointId]) -> None:
        qe = _qe()
        self._update(name, f"deleting {len(ids)} points", qe.UpdateOperation.delete_points([_edge_id(i) for i in ids]))

    def retrieve(self, name: str, ids: list[PointId]) -> dict[PointId, dict[str, Any]]:
        shard = self._shard(name)  # the store hands ids over in bounded chunks
        with self._calling(f"retrieving from {name}"):
            records = shard.retrieve([_edge_id(i) for i in ids], True, False)
        return {_our_id(r.id): dict(r.payload or {}) for r in records}

    def dense_vectors(self, name: str, ids: list[PointId], using: str) -> dict[PointId, np.ndarray]:
        qe = _qe()
        shard = self._shard(name)
        with self._calling(f"retrieving vectors from {name}"):
            records = shard.retrieve([_edge_id(i) for i in ids], False, True)
        out = {}
        for r in records:
            vector = r.vector.get(using) if isinstance(r.vector, dict) else None
            if vector is not None and not isinstance(vector, qe.SparseVector):
                out[_our_id(r.id)] = np.asarray(vector, dtype=np.float32)
        return out

    def count(self, name: str) -> int:
        shard = self._shard(name)
        with self._calling(f"counting {name}"):
            return int(shard.count(_qe().CountRequest(exact=True)))

    def scroll(self, name: str, *, page_size: int, with_payload: bool, with_vectors: bool) -> Iterator[list[Record]]:
        qe = _qe()
        shard = self._shard(name)
        offset = None
        while True:
            with self._calling(f"scrolling {name}"):
                records, offset = shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=page_size, with_payload=with_payload, with_vector=with_vectors)
                )
            yield [_record(r) for r in records]
            if offset is None:
                return

    def sample(self, name: str, limit: int) -> list[Record]:
        return next(self.scroll(name, page_size=limit, with_payload=False, with_vectors=True))

    def query_dense(self, name: str, using: str, vector: np.ndarray, filters: Any, limit: int) -> list[tuple[PointId, float, dict]]:
        qe = _qe()
        request = qe.QueryRequest(
            limit=limit, query=qe.Query.Nearest(vector.tolist(), using=using), filter=to_edge_filter(filters), with_payload=True
        )
        return self._query(name, request)

    def query_hybrid(
        self, name: str, dense_using: str, vector: np.ndarray, sparse_using: str, sparse: Sparse, filters: Any,
        candidates: int, limit: int,
    ) -> list[tuple[PointId, float, dict]]:
        qe = _qe()
        edge_filter = to_edge_filter(filters)
        # As on a server: the filter goes into both prefetches so each spends its candidates on
        # eligible points, and RRF uses the server's (and qdrant-client's) default k.
        request = qe.QueryRequest(
            limit=limit,
            prefetches=[
                qe.Prefetch(limit=candidates, query=qe.Query.Nearest(vector.tolist(), using=dense_using), filter=edge_filter),
                qe.Prefetch(
                    limit=candidates,
                    query=qe.Query.Nearest(qe.SparseVector(indices=sparse.indices, values=sparse.values), using=sparse_using),
                    filter=edge_filter,
                ),
            ],
            query=qe.Fusion.Rrf(k=RRF_K),
            with_payload=True,
        )
        return self._query(name, request)

    def _query(self, name: str, request: Any) -> list[tuple[PointId, float, dict]]:
        shard = self._shard(name)
        with self._calling(f"searching {name}"):
            points = shard.query(request)
        return [(_our_id(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def optimize(self, name: str) -> bool:
        layout = self.describe(name)[0]
        graph = self._wants_graph(name, layout)
        if graph != self._graph_enabled(name):
            # Reopening with another HNSW config persists it; the optimizer then rebuilds the segments.
            self._close_shard(name)
            with self._calling(f"reconfiguring {name}"):
                self._shards[name] = _qe().EdgeShard.load(str(self._folder(name) / "shard"), self._edge_config(layout, graph=graph))
        shard = self._shard(name)
        with self._calling(f"indexing {name}"):
            changed = bool(shard.optimize())
            shard.flush()
        return changed

    def index_state(self, name: str) -> dict[str, int]:
        shard = self._shard(name)
        with self._calling(f"reading {name}"):
            info = shard.info()
        return {"segments": info.segments_count, "points": info.points_count, "hnsw": int(self._graph_enabled(name))}


def _schema(kind: str) -> Any:
    t = _qe().PayloadSchemaType
    return {
        "keyword": t.Keyword, "integer": t.Integer, "float": t.Float, "bool": t.Bool,
        "datetime": t.Datetime, "text": t.Text, "uuid": t.Uuid,
    }[kind]


def _edge_id(point_id: PointId) -> PointId:
    # qdrant-edge takes ints and UUIDs; a UUID string is parsed so its canonical form is stored.
    if not isinstance(point_id, str):
        return point_id
    try:
        return uuid.UUID(point_id)
    except ValueError:
        raise ValueError(f"point id {point_id!r} is neither an unsigned integer nor a UUID") from None


def _our_id(point_id: Any) -> PointId:
    """Ids as the server API returns them: ints, or canonical UUID strings."""
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


def _record(r: Any) -> Record:
    qe = _qe()
    sizes = {}
    for k, v in (r.vector or {}).items() if isinstance(r.vector, dict) else ():
        sizes[k] = len(v.indices) if isinstance(v, qe.SparseVector) else len(v)
    return Record(id=_our_id(r.id), payload=dict(r.payload or {}), vectors=sizes)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: dict) -> None:
    """Write JSON next to `path`, fsync it, then rename over `path`: readers see old or new, whole."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)

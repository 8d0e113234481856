"""The qdrant-client engine: a Qdrant server (production), `:memory:` (tests, the stand-in for the
server API), or the legacy local mode on disk (benchmarks only). Aliases are Qdrant's own."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from fd_pipeline.tls import plain_http_to_remote
from fd_pipeline.vectorstore.config import MEMORY, VectorStoreConfig
from fd_pipeline.vectorstore.engine import Layout, RawPoint, Record, Sparse, Vectors, translated
from fd_pipeline.vectorstore.errors import VectorStoreError, VectorStoreUnavailable
from fd_pipeline.vectorstore.filters import to_qdrant_filter
from fd_pipeline.vectorstore.records import PointId

_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
    "datetime": models.PayloadSchemaType.DATETIME,
    "text": models.PayloadSchemaType.TEXT,
    "uuid": models.PayloadSchemaType.UUID,
}


class ClientEngine:
    def __init__(self, config: VectorStoreConfig) -> None:
        self.config = config
        self.where = config.describe()
        self.client = self._connect()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def _connect(self) -> QdrantClient:
        cfg = self.config
        url = cfg.server_url
        if url is not None:
            clear = plain_http_to_remote(url) if cfg.api_key else None
            if clear:
                fix = "use https:// in QDRANT_URL" if cfg.url else f"set QDRANT_URL=https://{clear}:{cfg.port or 6333} instead of QDRANT_HOST"
                raise VectorStoreError(
                    f"Refusing to send QDRANT_API_KEY over plain http:// to {clear}: the key would travel in clear; "
                    f"{fix} (http:// is accepted only for a loopback server)."
                )
            with warnings.catch_warnings():
                # qdrant-client warns whenever a key travels over plain http; only a loopback server gets here.
                warnings.filterwarnings("ignore", message=".*insecure connection.*")
                # The version probe would cost a second round trip (and a warning) before our own check.
                client = QdrantClient(
                    url=url, api_key=cfg.api_key, timeout=max(1, math.ceil(cfg.timeout)), check_compatibility=False
                )
            try:
                client.get_collections()
            except UnexpectedResponse as exc:
                client.close()
                if exc.status_code in (401, 403):
                    raise VectorStoreError(
                        f"Qdrant at {url} rejected the credentials (HTTP {exc.status_code}); check QDRANT_API_KEY"
                    ) from None
                raise VectorStoreUnavailable(
                    f"Qdrant at {url} answered HTTP {exc.status_code} to a health check: {self._scrub(exc.content)}"
                ) from None
            except Exception as exc:  # noqa: BLE001 - any transport failure means the same thing here
                client.close()
                raise VectorStoreUnavailable(
                    f"Qdrant at {url} is unreachable ({self._describe_exc(exc)}); "
                    "check QDRANT_URL / QDRANT_HOST and that the server is running"
                ) from None
            return client

        path = cfg.path or MEMORY
        if path == MEMORY:
            return QdrantClient(location=MEMORY)
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            return QdrantClient(path=path)
        except RuntimeError as exc:
            if "already accessed" not in str(exc):
                raise
            raise VectorStoreUnavailable(
                f"The embedded Qdrant folder {path} is already opened by another process (or another "
                "VectorStore in this one): local mode serves one user at a time. For concurrent use, "
                "run a Qdrant server and set QDRANT_URL (and QDRANT_API_KEY)."
            ) from None

    def _scrub(self, text: Any) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = str(text)
        if self.config.api_key:
            text = text.replace(self.config.api_key, "***")
        return text[:500]

    def _describe_exc(self, exc: BaseException) -> str:
        cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
        return f"{type(cause).__name__}: {self._scrub(cause)}"

    def _calling(self, what: str) -> contextlib.AbstractContextManager[None]:
        return translated(lambda exc: self._error(what, exc))

    def _error(self, what: str, exc: Exception) -> VectorStoreError | None:
        if isinstance(exc, UnexpectedResponse):
            return VectorStoreError(f"{what} failed on {self.where}: HTTP {exc.status_code}: {self._scrub(exc.content)}")
        if isinstance(exc, (ResponseHandlingException, ConnectionError, TimeoutError)):
            return VectorStoreUnavailable(f"{self.where} unreachable during {what} ({self._describe_exc(exc)})")
        if isinstance(exc, (ValueError, KeyError)):
            # Local mode reports a missing collection or point as ValueError/KeyError.
            return VectorStoreError(f"{what} failed on {self.where}: {self._scrub(exc)}")
        return None

    def collection_names(self) -> set[str]:
        with self._calling("listing collections"):
            return {c.name for c in self.client.get_collections().collections}

    def aliases(self) -> dict[str, str]:
        with self._calling("listing aliases"):
            return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def create(self, name: str, layout: Layout, metadata: dict[str, Any], payload_indexes: Sequence[tuple[str, str]]) -> None:
        dense = {k: models.VectorParams(size=size, distance=models.Distance.COSINE) for k, size in layout.dense.items()}
        sparse = {
            k: models.SparseVectorParams(modifier=models.Modifier.IDF if k in layout.idf else models.Modifier.NONE)
            for k in sorted(layout.sparse)
        }
        with self._calling(f"creating {name}"):
            self.client.create_collection(
                name, vectors_config=dense, sparse_vectors_config=sparse or None, metadata=metadata
            )
        with warnings.catch_warnings():
            # Local mode ignores payload indexes and says so on every call; a server uses them.
            warnings.filterwarnings("ignore", message=".*Payload indexes have no effect.*")
            for field_name, schema in payload_indexes:
                with self._calling(f"indexing {name}.{field_name}"):
                    self.client.create_payload_index(name, field_name, field_schema=_SCHEMAS[schema])

    def describe(self, name: str) -> tuple[Layout, dict[str, Any]]:
        with self._calling(f"reading {name}"):
            info = self.client.get_collection(name)
        vectors = info.config.params.vectors
        dense = {k: v.size for k, v in vectors.items()} if isinstance(vectors, Mapping) else {}
        sparse_params = info.config.params.sparse_vectors or {}
        idf = frozenset(k for k, v in sparse_params.items() if v.modifier == models.Modifier.IDF)
        return Layout(dense=dense, sparse=frozenset(sparse_params), idf=idf), dict(info.config.metadata or {})

    def set_alias(self, alias: str, name: str, *, current: str | None) -> None:
        ops: list[Any] = []
        if current is not None:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name, alias_name=alias)))
        with self._calling(f"pointing {alias} at {name}"):
            self.client.update_collection_aliases(change_aliases_operations=ops)

    @staticmethod
    def _vectors(vectors: Vectors) -> dict[str, Any]:
        return {
            k: models.SparseVector(indices=v.indices, values=v.values) if isinstance(v, Sparse) else np.asarray(v).tolist()
            for k, v in vectors.items()
        }

    def upsert(self, name: str, points: list[RawPoint]) -> None:
        structs = [models.PointStruct(id=p.id, vector=self._vectors(p.vectors), payload=p.payload) for p in points]
        with self._calling(f"upserting {len(points)} points into {name}"):
            self.client.upsert(name, points=structs, wait=True)

    def delete(self, name: str, ids: list[PointId]) -> None:
        with self._calling(f"deleting {len(ids)} points from {name}"):
            self.client.delete(name, points_selector=models.PointIdsList(points=ids), wait=True)

    def retrieve(self, name: str, ids: list[PointId]) -> dict[PointId, dict[str, Any]]:
        with self._calling(f"retrieving from {name}"):
            records = self.client.retrieve(name, ids=ids, with_payload=True, with_vectors=False)
        return {r.id: dict(r.payload or {}) for r in records}

    def dense_vectors(self, name: str, ids: list[PointId], using: str) -> dict[PointId, np.ndarray]:
        with self._calling(f"retrieving vectors from {name}"):
            records = self.client.retrieve(name, ids=ids, with_payload=False, with_vectors=[using])
        out = {}
        for r in records:
            vector = r.vector.get(using) if isinstance(r.vector, Mapping) else None
            if isinstance(vector, list):
                out[r.id] = np.asarray(vector, dtype=np.float32)
        return out

    def count(self, name: str) -> int:
        with self._calling(f"counting {name}"):
            return self.client.count(name, exact=True).count

    def scroll(self, name: str, *, page_size: int, with_payload: bool, with_vectors: bool) -> Iterator[list[Record]]:
        offset = None
        while True:
            with self._calling(f"scrolling {name}"):
                records, offset = self.client.scroll(
                    name, limit=page_size, offset=offset, with_payload=with_payload, with_vectors=with_vectors
                )
            yield [_record(r) for r in records]
            if offset is None:
                return

    def sample(self, name: str, limit: int) -> list[Record]:
        with self._calling(f"sampling {name}"):
            records, _ = self.client.scroll(name, limit=limit, with_payload=False, with_vectors=True)
        return [_record(r) for r in records]

    def query_dense(self, name: str, using: str, vector: np.ndarray, filters: Any, limit: int) -> list[tuple[PointId, float, dict]]:
        return self._query(name, filters, query=vector.tolist(), using=using, limit=limit)

    def query_hybrid(
        self, name: str, dense_using: str, vector: np.ndarray, sparse_using: str, sparse: Sparse, filters: Any,
        candidates: int, limit: int,
    ) -> list[tuple[PointId, float, dict]]:
        qfilter = to_qdrant_filter(filters)
        # The filter goes into each prefetch so both spend their candidates on eligible points;
        # fusion only sees those, so a root filter would just be evaluated again.
        return self._query(
            name,
            prefetch=[
                models.Prefetch(query=vector.tolist(), using=dense_using, limit=candidates, filter=qfilter),
                models.Prefetch(
                    query=models.SparseVector(indices=sparse.indices, values=sparse.values),
                    using=sparse_using, limit=candidates, filter=qfilter,
                ),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=limit,
        )

    def _query(self, name: str, filters: Any = None, **request: Any) -> list[tuple[PointId, float, dict]]:
        """query_points with payloads, `filters` at the root; the results as the store takes them."""
        with self._calling(f"searching {name}"):
            result = self.client.query_points(name, query_filter=to_qdrant_filter(filters), with_payload=True, **request)
        return [(p.id, float(p.score), dict(p.payload or {})) for p in result.points]

    def optimize(self, name: str) -> bool:
        """A server indexes in the background by itself; local mode has no index."""
        return False


def _record(r: Any) -> Record:
    sizes = {}
    for k, v in (r.vector or {}).items() if isinstance(r.vector, Mapping) else ():
        if isinstance(v, list):
            sizes[k] = len(v)
        elif isinstance(v, models.SparseVector):
            sizes[k] = len(v.indices)
    return Record(id=r.id, payload=dict(r.payload or {}), vectors=sizes)

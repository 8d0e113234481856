"""The vector store: named dense + sparse vectors per aspect, in collections tied to one embedding model.

Model safety. The public names (`support_tickets`, `kb_procedures`) are Qdrant *aliases*. Each
points at a physical collection `<public>__<model key>` that only ever holds one model's vectors;
the model identity is kept in the collection's metadata and checked before every first write.
`ensure_collection` creates the alias only where none exists and never moves it, so a new model
fills its own collection while searches keep using the old one. The pipeline calls `promote` once
the new collection is complete: one atomic alias swap, so searches never see an empty collection.
`drop_other_models` then removes the old collections, when asked.

Writes. `upsert` replaces whole points (vectors + payload): the pipeline always sends a point's
full current set of aspects; an aspect left out is removed. `update_vectors` adds or replaces
some aspects of an existing point and keeps the others; `replace_payload` changes only the payload.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from fd_pipeline.vectorstore.config import MEMORY, VectorStoreConfig
from fd_pipeline.vectorstore.errors import ModelMismatch, VectorStoreError, VectorStoreUnavailable
from fd_pipeline.vectorstore.filters import to_qdrant_filter
from fd_pipeline.vectorstore.records import (
    CollectionSpec,
    EmbeddingLike,
    Hit,
    ModelIdentityLike,
    Point,
    PointId,
    SearchFilter,
)

METADATA_KEY = "fd_pipeline_model"
# Fields of the identity that change what a vector means; max_tokens only changes truncation.
_IDENTITY_FIELDS = ("name", "dim", "has_sparse", "fingerprint")
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
    "datetime": models.PayloadSchemaType.DATETIME,
    "text": models.PayloadSchemaType.TEXT,
    "uuid": models.PayloadSchemaType.UUID,
}


@dataclass(frozen=True)
class _Layout:
    """The vectors a physical collection has, read once (a collection's vector config never changes)."""

    dense: dict[str, int]
    sparse: frozenset[str]


class VectorStore:
    """A Qdrant server or embedded local mode, opened (and checked) on construction."""

    def __init__(self, config: VectorStoreConfig | None = None) -> None:
        self.config = config or VectorStoreConfig()
        self._ensured: set[str] = set()
        self._layouts: dict[str, _Layout] = {}
        self._client = self._connect()

    def __repr__(self) -> str:
        return f"VectorStore({self.config.describe()})"

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the client (and the embedded folder's lock)."""
        with contextlib.suppress(Exception):
            self._client.close()

    @property
    def client(self) -> QdrantClient:
        """The underlying qdrant-client, for what this class does not cover."""
        return self._client

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> QdrantClient:
        cfg = self.config
        url = cfg.server_url
        if url is not None:
            with warnings.catch_warnings():
                # qdrant-client warns when a key travels over plain http; a loopback server is legitimate.
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

    def _where(self) -> str:
        return self.config.describe()

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

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn client failures into this module's errors, with the place but never the key."""
        try:
            yield
        except VectorStoreError:
            raise
        except UnexpectedResponse as exc:
            raise VectorStoreError(
                f"{what} failed on {self._where()}: HTTP {exc.status_code}: {self._scrub(exc.content)}"
            ) from None
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise VectorStoreUnavailable(f"{self._where()} unreachable during {what} ({self._describe_exc(exc)})") from None
        except (ValueError, KeyError) as exc:
            # Local mode reports a missing collection or point as ValueError/KeyError.
            raise VectorStoreError(f"{what} failed on {self._where()}: {self._scrub(exc)}") from None

    # -- collections and aliases ------------------------------------------------------------

    def physical_name(self, spec: CollectionSpec, identity: ModelIdentityLike) -> str:
        """The collection holding `identity`'s vectors for `spec`: `<public name>__<model key>`."""
        key = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(identity.key)).strip("-.") or "model"
        return f"{spec.name}__{key}"

    def alias_target(self, spec: CollectionSpec) -> str | None:
        """The physical collection the public name points at now, or None."""
        return self._aliases().get(spec.name)

    def _aliases(self) -> dict[str, str]:
        with self._calling("listing aliases"):
            return {a.alias_name: a.collection_name for a in self._client.get_aliases().aliases}

    def _collection_names(self) -> set[str]:
        with self._calling("listing collections"):
            return {c.name for c in self._client.get_collections().collections}

    def ensure_collection(self, spec: CollectionSpec, identity: ModelIdentityLike) -> str:
        """Create `identity`'s collection for `spec` if missing, and the alias if there is none.

        Returns the physical name. Raises ModelMismatch if a collection of that name exists with
        another model or vector size: nothing is ever written into it.
        """
        physical = self.physical_name(spec, identity)
        if physical in self._ensured:
            return physical
        existing = self._collection_names()
        if spec.name in existing:
            raise VectorStoreError(
                f"{spec.name} on {self._where()} is a collection, not an alias: fd_pipeline keeps each "
                f"model's vectors in {spec.name}__<model> and points the alias {spec.name} at one. Rename "
                "or drop the old collection (re-embedding fills the new one)."
            )
        if physical in existing:
            self._check_matches(spec, identity, physical)
        else:
            self._create(spec, identity, physical)
        if spec.name not in self._aliases():
            self._set_alias(spec.name, physical, current=None)
        self._ensured.add(physical)
        return physical

    def _create(self, spec: CollectionSpec, identity: ModelIdentityLike, physical: str) -> None:
        dense = {
            spec.dense_name(a): models.VectorParams(size=int(identity.dim), distance=models.Distance.COSINE)
            for a in spec.aspects
        }
        # bge-m3 lexical weights are already term weights: no IDF modifier.
        sparse = (
            {spec.sparse_name(a): models.SparseVectorParams(modifier=models.Modifier.NONE) for a in spec.aspects}
            if identity.has_sparse
            else None
        )
        try:
            with self._calling(f"creating {physical}"):
                self._client.create_collection(
                    physical,
                    vectors_config=dense,
                    sparse_vectors_config=sparse,
                    metadata={METADATA_KEY: _identity_dict(identity)},
                )
        except VectorStoreError:
            # Another process may have created it between our listing and our call.
            if physical not in self._collection_names():
                raise
            self._check_matches(spec, identity, physical)
            return
        with warnings.catch_warnings():
            # Local mode ignores payload indexes and says so on every call; a server uses them.
            warnings.filterwarnings("ignore", message=".*Payload indexes have no effect.*")
            for field_name, schema in spec.payload_indexes:
                with self._calling(f"indexing {physical}.{field_name}"):
                    self._client.create_payload_index(physical, field_name, field_schema=_SCHEMAS[schema])

    def _check_matches(self, spec: CollectionSpec, identity: ModelIdentityLike, physical: str) -> None:
        with self._calling(f"reading {physical}"):
            info = self._client.get_collection(physical)
        stored = (info.config.metadata or {}).get(METADATA_KEY)
        wanted = _identity_dict(identity)
        problems = []
        if not isinstance(stored, Mapping):
            problems.append("it carries no model identity (created outside fd_pipeline?)")
        else:
            problems += [
                f"{f} is {stored.get(f)!r}, not {wanted[f]!r}" for f in _IDENTITY_FIELDS if stored.get(f) != wanted[f]
            ]
        layout = self._layout_of(physical, info)
        for aspect in spec.aspects:
            size = layout.dense.get(spec.dense_name(aspect))
            if size != identity.dim:
                problems.append(f"vector {spec.dense_name(aspect)} has size {size}, the model has {identity.dim}")
            if identity.has_sparse and spec.sparse_name(aspect) not in layout.sparse:
                problems.append(f"sparse vector {spec.sparse_name(aspect)} is missing")
        if problems:
            raise ModelMismatch(
                f"refusing to write model {identity.name} (dim {identity.dim}) into {physical} on "
                f"{self._where()}: " + "; ".join(problems)
            )

    def promote(self, spec: CollectionSpec, identity: ModelIdentityLike) -> str | None:
        """Point the public alias at `identity`'s collection in one atomic swap; returns the old target.

        Call it once the new collection holds everything: searches switch from the complete old
        collection to the complete new one, never seeing a partial or missing collection.
        """
        physical = self.physical_name(spec, identity)
        if physical not in self._collection_names():
            raise VectorStoreError(f"cannot promote {physical}: it does not exist on {self._where()}")
        self._check_matches(spec, identity, physical)
        current = self.alias_target(spec)
        if current != physical:
            self._set_alias(spec.name, physical, current=current)
        return current

    def _set_alias(self, alias: str, physical: str, *, current: str | None) -> None:
        ops: list[Any] = []
        if current is not None:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=physical, alias_name=alias))
        )
        with self._calling(f"pointing {alias} at {physical}"):
            self._client.update_collection_aliases(change_aliases_operations=ops)

    def physical_collections(self, spec: CollectionSpec) -> dict[str, dict[str, Any] | None]:
        """Every physical collection of `spec`, with the model identity stored in it."""
        out: dict[str, dict[str, Any] | None] = {}
        for name in sorted(self._collection_names()):
            if name.startswith(f"{spec.name}__"):
                with self._calling(f"reading {name}"):
                    meta = self._client.get_collection(name).config.metadata or {}
                out[name] = meta.get(METADATA_KEY)
        return out

    def drop_other_models(self, spec: CollectionSpec, keep: ModelIdentityLike | None = None) -> list[str]:
        """Drop `spec`'s physical collections except the alias target (and `keep`'s). Explicit only."""
        target = self.alias_target(spec)
        if target is None:
            raise VectorStoreError(f"{spec.name} has no alias yet: refusing to guess which collection to keep")
        spared = {target} | ({self.physical_name(spec, keep)} if keep is not None else set())
        dropped = []
        for name in self.physical_collections(spec):
            if name not in spared:
                with self._calling(f"dropping {name}"):
                    self._client.delete_collection(name)
                self._ensured.discard(name)
                self._layouts.pop(name, None)
                dropped.append(name)
        return dropped

    def _layout(self, name: str) -> _Layout:
        if name not in self._layouts:
            with self._calling(f"reading {name}"):
                info = self._client.get_collection(name)
            return self._layout_of(name, info)
        return self._layouts[name]

    def _layout_of(self, name: str, info: models.CollectionInfo) -> _Layout:
        vectors = info.config.params.vectors
        dense = {k: v.size for k, v in vectors.items()} if isinstance(vectors, Mapping) else {}
        layout = _Layout(dense=dense, sparse=frozenset(info.config.params.sparse_vectors or {}))
        self._layouts[name] = layout
        return layout

    def _read_target(self, spec: CollectionSpec, identity: ModelIdentityLike | None) -> str:
        """Reads go to `identity`'s collection, or through the alias to whatever it points at now."""
        if identity is not None:
            return self.physical_name(spec, identity)
        target = self.alias_target(spec)
        if target is None:
            raise VectorStoreError(f"{spec.name} does not exist yet on {self._where()} (no alias)")
        return target

    # -- writes -----------------------------------------------------------------------------

    def upsert(
        self, spec: CollectionSpec, identity: ModelIdentityLike, points: Iterable[Point], *, wait: bool = True
    ) -> int:
        """Write points in batches of `upsert_batch`, each replacing any stored point of that id whole."""
        physical = self.ensure_collection(spec, identity)
        layout = self._layout(physical)
        written = 0
        batch: list[models.PointStruct] = []
        for point in points:
            batch.append(
                models.PointStruct(
                    id=point.id,
                    vector=self._vectors(spec, identity, layout, point.id, point.vectors),
                    payload=_jsonable(dict(point.payload)),
                )
            )
            if len(batch) >= self.config.upsert_batch:
                written += self._write(physical, batch, wait)
                batch = []
        if batch:
            written += self._write(physical, batch, wait)
        return written

    def _write(self, physical: str, batch: list[models.PointStruct], wait: bool) -> int:
        with self._calling(f"upserting {len(batch)} points into {physical}"):
            self._client.upsert(physical, points=batch, wait=wait)
        return len(batch)

    def update_vectors(
        self,
        spec: CollectionSpec,
        identity: ModelIdentityLike,
        point_id: PointId,
        vectors: Mapping[str, EmbeddingLike],
        *,
        wait: bool = True,
    ) -> None:
        """Add or replace some aspects of an existing point; its other vectors and payload stay."""
        physical = self.ensure_collection(spec, identity)
        vector = self._vectors(spec, identity, self._layout(physical), point_id, vectors)
        if not vector:
            return
        with self._calling(f"updating vectors of {point_id} in {physical}"):
            self._client.update_vectors(physical, points=[models.PointVectors(id=point_id, vector=vector)], wait=wait)

    def delete_vectors(
        self,
        spec: CollectionSpec,
        identity: ModelIdentityLike,
        ids: Sequence[PointId],
        aspects: Sequence[str],
        *,
        wait: bool = True,
    ) -> None:
        """Remove some aspects (dense and sparse) from existing points."""
        physical = self.ensure_collection(spec, identity)
        layout = self._layout(physical)
        names = [spec.dense_name(a) for a in aspects]
        names += [spec.sparse_name(a) for a in aspects if spec.sparse_name(a) in layout.sparse]
        if not ids or not names:
            return
        with self._calling(f"deleting vectors from {physical}"):
            self._client.delete_vectors(physical, vectors=names, points=models.PointIdsList(points=list(ids)), wait=wait)

    def replace_payload(
        self,
        spec: CollectionSpec,
        identity: ModelIdentityLike,
        point_id: PointId,
        payload: Mapping[str, Any],
        *,
        wait: bool = True,
    ) -> None:
        """Replace a point's whole payload and keep its vectors (a status change needs no re-embedding)."""
        physical = self.ensure_collection(spec, identity)
        with self._calling(f"replacing the payload of {point_id} in {physical}"):
            self._client.overwrite_payload(
                physical, payload=_jsonable(dict(payload)), points=models.PointIdsList(points=[point_id]), wait=wait
            )

    def delete(
        self, spec: CollectionSpec, identity: ModelIdentityLike | None, ids: Iterable[PointId], *, wait: bool = True
    ) -> int:
        """Delete points by id (absent ids are fine); returns how many ids were asked for."""
        ids = list(ids)
        if not ids:
            return 0
        target = self.ensure_collection(spec, identity) if identity is not None else self._read_target(spec, None)
        with self._calling(f"deleting {len(ids)} points from {target}"):
            self._client.delete(target, points_selector=models.PointIdsList(points=ids), wait=wait)
        return len(ids)

    def _vectors(
        self,
        spec: CollectionSpec,
        identity: ModelIdentityLike,
        layout: _Layout,
        point_id: PointId,
        vectors: Mapping[str, EmbeddingLike | None],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for aspect, emb in vectors.items():
            dense_name = spec.dense_name(aspect)
            if emb is None:
                continue
            dense = np.asarray(emb.dense, dtype=np.float32).ravel()
            if dense.shape[0] != identity.dim:
                raise ModelMismatch(
                    f"point {point_id} {aspect}: vector has {dense.shape[0]} dimensions, "
                    f"model {identity.name} has {identity.dim}"
                )
            if not np.isfinite(dense).all():
                raise ValueError(f"point {point_id} {aspect}: dense vector has NaN or infinite values")
            out[dense_name] = dense.tolist()
            indices, values = emb.sparse_indices, emb.sparse_values
            sparse_name = spec.sparse_name(aspect)
            if indices is not None and len(indices) > 0 and sparse_name in layout.sparse:
                if values is None or len(values) != len(indices):
                    raise ValueError(f"point {point_id} {aspect}: sparse indices and values differ in length")
                out[sparse_name] = models.SparseVector(
                    indices=[int(i) for i in indices], values=[float(v) for v in values]
                )
        return out

    # -- reads ------------------------------------------------------------------------------

    def retrieve(
        self, spec: CollectionSpec, identity: ModelIdentityLike | None, ids: Iterable[PointId]
    ) -> dict[PointId, dict[str, Any]]:
        """Payloads of the ids that exist (missing ids are left out)."""
        ids = list(ids)
        if not ids:
            return {}
        target = self._read_target(spec, identity)
        out: dict[PointId, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            with self._calling(f"retrieving from {target}"):
                records = self._client.retrieve(
                    target, ids=ids[start : start + 1000], with_payload=True, with_vectors=False
                )
            out.update({r.id: dict(r.payload or {}) for r in records})
        return out

    def count(self, spec: CollectionSpec, identity: ModelIdentityLike | None = None) -> int:
        """Exact number of points, through the alias unless an identity is given."""
        target = self._read_target(spec, identity)
        with self._calling(f"counting {target}"):
            return self._client.count(target, exact=True).count

    def scroll_ids(
        self, spec: CollectionSpec, identity: ModelIdentityLike | None = None, *, page_size: int = 1000
    ) -> list[PointId]:
        """Every point id, paging through the collection (for reconciliation)."""
        target = self._read_target(spec, identity)
        ids: list[PointId] = []
        offset = None
        while True:
            with self._calling(f"scrolling {target}"):
                records, offset = self._client.scroll(
                    target, limit=page_size, offset=offset, with_payload=False, with_vectors=False
                )
            ids.extend(r.id for r in records)
            if offset is None:
                return ids

    def sample_vectors(
        self, spec: CollectionSpec, identity: ModelIdentityLike | None = None, limit: int = 10
    ) -> dict[PointId, dict[str, int]]:
        """Lengths of the dense vectors of a few stored points, for a "dimension is the model's" check."""
        target = self._read_target(spec, identity)
        with self._calling(f"sampling {target}"):
            records, _ = self._client.scroll(target, limit=limit, with_payload=False, with_vectors=True)
        return {
            r.id: {name: len(v) for name, v in (r.vector or {}).items() if isinstance(v, list)} for r in records
        }

    def search(
        self,
        spec: CollectionSpec,
        *,
        aspect: str,
        dense: Any,
        sparse_indices: Sequence[int] | None = None,
        sparse_values: Sequence[float] | None = None,
        limit: int = 10,
        filters: SearchFilter | Mapping[str, Any] | models.Filter | None = None,
        mode: Literal["hybrid", "dense"] = "hybrid",
        identity: ModelIdentityLike | None = None,
        prefetch_limit: int | None = None,
    ) -> list[Hit]:
        """Nearest points by one aspect, through the alias unless an identity is given.

        Hybrid (the default) fuses a dense and a sparse candidate list with reciprocal rank
        fusion, so scores are RRF scores, not cosines. It falls back to dense when no sparse
        query is given or the collection has no sparse vectors (a dense-only model).
        """
        if mode not in ("hybrid", "dense"):
            raise ValueError(f"mode must be 'hybrid' or 'dense', not {mode!r}")
        target = self._read_target(spec, identity)
        layout = self._layout(target)
        dense_name, sparse_name = spec.dense_name(aspect), spec.sparse_name(aspect)
        query = np.asarray(dense, dtype=np.float32).ravel()
        if layout.dense.get(dense_name) != query.shape[0]:
            raise ModelMismatch(
                f"query vector has {query.shape[0]} dimensions, {target}.{dense_name} has {layout.dense.get(dense_name)}"
            )
        qfilter = to_qdrant_filter(filters)
        use_sparse = mode == "hybrid" and sparse_indices is not None and len(sparse_indices) > 0
        use_sparse = use_sparse and sparse_name in layout.sparse
        if use_sparse and (sparse_values is None or len(sparse_values) != len(sparse_indices)):
            raise ValueError("sparse indices and values differ in length")
        with self._calling(f"searching {target}"):
            if use_sparse:
                candidates = prefetch_limit or max(limit * 4, 50)
                sparse = models.SparseVector(
                    indices=[int(i) for i in sparse_indices], values=[float(v) for v in sparse_values]
                )
                # The filter goes into each prefetch so both spend their candidates on eligible
                # points; fusion only sees those, so a root filter would just be evaluated again.
                result = self._client.query_points(
                    target,
                    prefetch=[
                        models.Prefetch(query=query.tolist(), using=dense_name, limit=candidates, filter=qfilter),
                        models.Prefetch(query=sparse, using=sparse_name, limit=candidates, filter=qfilter),
                    ],
                    query=models.FusionQuery(fusion=models.Fusion.RRF),
                    limit=limit,
                    with_payload=True,
                )
            else:
                result = self._client.query_points(
                    target, query=query.tolist(), using=dense_name, query_filter=qfilter, limit=limit, with_payload=True
                )
        return [Hit(id=p.id, score=float(p.score), payload=dict(p.payload or {})) for p in result.points]


def _identity_dict(identity: ModelIdentityLike) -> dict[str, Any]:
    return {
        "name": str(identity.name),
        "dim": int(identity.dim),
        "has_sparse": bool(identity.has_sparse),
        "fingerprint": str(identity.fingerprint),
        "max_tokens": int(identity.max_tokens),
        "key": str(identity.key),
    }


def _jsonable(value: Any) -> Any:
    """Payloads as JSON, the same in local mode and on a server: datetimes become ISO-8601 strings."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value

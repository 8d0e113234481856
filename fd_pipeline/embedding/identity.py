"""Model identity and content hashing: pure functions over files and strings, no model load."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Weight files hashed fully up to this size; beyond it only size + head + tail, so that a 2.2 GB
# bge-m3 checkpoint is fingerprinted in milliseconds instead of seconds per process start.
_FULL_HASH_LIMIT = 16 * 1024 * 1024
_EDGE_BYTES = 4 * 1024 * 1024
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CONFIG_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model",
                 "vocab.txt", "sentence_bert_config.json", "1_Pooling/config.json")


@dataclass(frozen=True)
class ModelIdentity:
    """What a vector was made with: vectors from different identities must not be mixed."""

    name: str
    dim: int
    has_sparse: bool
    fingerprint: str
    max_tokens: int
    # True: the sparse vectors are lexical term frequencies (embedding/lexical.py) that need
    # Qdrant's IDF modifier; False: none, or a model's own learned weights (bge-m3), used as they are.
    sparse_idf: bool = False
    precision: str = "fp32"

    @property
    def key(self) -> str:
        """A slug safe in Qdrant collection names, e.g. `bge-m3-1024-3f2a9c1b` (`...-int8` when quantised)."""
        key = f"{slug(self.name)}-{self.dim}-{self.fingerprint[:8]}"
        # fp32 keys stay as they were, so opting out of int8 re-uses existing collections.
        return key if self.precision == "fp32" else f"{key}-{self.precision}"

    def as_dict(self) -> dict[str, str | int | bool]:
        """The fields a vector collection records as its model (`key` included; `precision` is in the key)."""
        return {
            "name": self.name,
            "dim": self.dim,
            "has_sparse": self.has_sparse,
            "sparse_idf": self.sparse_idf,
            "fingerprint": self.fingerprint,
            "max_tokens": self.max_tokens,
            "key": self.key,
        }


def slug(text: str, limit: int = 40) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "model"


def model_name(model: str, folder: Path | None) -> str:
    """A short human name: the repo name of a hub id, else the folder name (hub snapshots resolved)."""
    if folder is None or not Path(model).expanduser().exists():
        return model.rstrip("/").rsplit("/", 1)[-1]
    folder = folder.resolve()
    # A hub cache snapshot lives at models--ORG--NAME/snapshots/<commit>.
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name.split("--")[-1]
    return folder.name


def fingerprint_folder(folder: Path) -> str:
    """sha256 over the model's weight and config files, as 16 hex digits.

    Files up to 16 MB (configs, tokenizer, the bge-m3 head files) are hashed fully; larger
    weight files contribute their size and their first and last 4 MB. That is cheap for
    multi-GB checkpoints and still changes whenever a checkpoint is replaced by another.
    """
    files = [
        p for p in folder.rglob("*")
        if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.relative_to(folder).as_posix() in _CONFIG_FILES)
    ]
    return fingerprint_files(folder, files)


def fingerprint_files(folder: Path, files: list[Path], *extra: str) -> str:
    """`fingerprint_folder`'s hash over chosen files under `folder`, plus `extra` strings (versions)."""
    digest = hashlib.sha256()
    for text in extra:
        digest.update(f"{text}\0".encode())
    for path in sorted(files):
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with path.open("rb") as fh:
            if size <= _FULL_HASH_LIMIT:
                digest.update(fh.read())
            else:
                digest.update(fh.read(_EDGE_BYTES))
                fh.seek(size - _EDGE_BYTES)
                digest.update(fh.read(_EDGE_BYTES))
    return digest.hexdigest()[:16]


def hidden_size(folder: Path) -> int:
    config = json.loads((folder / "config.json").read_text())
    for key in ("hidden_size", "d_model", "dim"):
        if key in config:
            return int(config[key])
    raise ValueError(f"{folder / 'config.json'} names no hidden size")


def normalise_text(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, stripped: what content hashes are taken over."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_hash(text: str, identity: ModelIdentity) -> str:
    """sha256 of the normalised text, the model identity key and max_tokens (hex)."""
    payload = "\0".join((normalise_text(text), identity.key, str(identity.max_tokens)))
    # A lone surrogate cannot be UTF-8 encoded; hash it escaped rather than fail.
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()

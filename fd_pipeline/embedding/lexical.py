"""Lexical sparse vectors for models with no sparse output: BM25 term weights, IDF left to Qdrant.

A document's vector holds, per term, BM25's saturated term frequency
`tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / AVG_LEN))`; a query's holds 1 per distinct term.
The collection's sparse vectors carry Qdrant's IDF modifier, so the dot product Qdrant computes
is BM25 with the IDF of the live collection, and nothing here needs corpus statistics.

Terms: Latin-script and digit words lowercased (NFKC first), and Hangul as overlapping character
bigrams of each Hangul run (a lone syllable as itself). Korean glues particles and endings to
its stems (`프린터가`, `프린터를`), so whole words rarely match; bigrams do (`프린`, `린터`),
which is what CJK analyzers in search engines do, with no dictionary or model to install.
Terms hash to u32 indices with blake2b, the same in every process and on every machine
(Python's `hash` is salted per process).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

VERSION = "bm25-hangul-bigram-v1"  # part of the model identity: change it when terms or weights change
K1 = 1.2
B = 0.75
AVG_LEN = 100.0  # tokens; a fixed stand-in for the corpus mean, so a vector depends on its text alone

_RUNS = re.compile(r"[\uac00-\ud7a3]+|[^\W_\uac00-\ud7a3]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def terms(text: str) -> list[str]:
    """The text's terms in order, repeats kept."""
    out: list[str] = []
    for run in _RUNS.findall(unicodedata.normalize("NFKC", text).casefold()):
        if _HANGUL.match(run):
            out.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
        else:
            out.append(run)
    return out


def term_index(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=4).digest(), "little")


def sparse_vector(text: str, *, query: bool = False) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(indices sorted ascending, values) of the text's lexical vector; empty for a text with no terms."""
    counts = Counter(terms(text))
    length = sum(counts.values())
    weights: dict[int, float] = {}
    for term, tf in counts.items():
        if query:
            weight = 1.0
        else:
            weight = tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / AVG_LEN))
        index = term_index(term)
        # Two terms sharing a hash add up, as one term would (a 1-in-4-billion event per pair).
        weights[index] = weights.get(index, 0.0) + weight
    ordered = sorted(weights.items())
    return tuple(i for i, _ in ordered), tuple(float(v) for _, v in ordered)


def fingerprint(model_fingerprint: str) -> str:
    """The identity fingerprint of a model's dense vectors plus these lexical vectors."""
    return hashlib.sha256(f"{model_fingerprint}\0{VERSION}".encode()).hexdigest()[:16]

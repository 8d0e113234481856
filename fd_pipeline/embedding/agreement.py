"""How closely a model's int8 path agrees with its fp32 path, and how much faster it is, on the same weights.

Both precisions embed the same ticket-like texts (English, Korean and mixed, 50-300 tokens) in one
process, alternating fp32/int8/int8/fp32 over two halves so that a machine getting busier or
quieter during the run slows both alike. Reported per text and over the sample:

- dense cosine between the fp32 and the int8 vector of each text;
- top-10 neighbour overlap: for each text, the share of its 10 nearest other texts (dense cosine)
  that both precisions agree on;
- sparse weight overlap (bge-m3 only): weighted Jaccard of the two lexical-weight vectors,
  sum(min) / sum(max) over the union of tokens; and the top-10 neighbour overlap under sparse
  dot-product scores, which is what hybrid search ranks by (the verdict uses this one: on a
  model whose sparse weights sit near zero, as random weights do, tiny absolute changes move
  the weighted Jaccard a lot without changing which texts match);
- tokens per second of each precision and their ratio.

`fd-pipeline embed-check --model PATH` prints this for a user's own model folder.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

# The targets of issue 14: int8 is worth switching on when all three hold.
MIN_COSINE = 0.99
MIN_SHARE_ABOVE = 0.99
MIN_TOP10_OVERLAP = 0.9
MIN_SPARSE_OVERLAP = 0.9
MIN_WORTHWHILE_SPEEDUP = 1.2  # below this the verdict says int8 is not worth a separate collection

EN_SENTENCES = (
    "I cannot login to my account after the password reset.",
    "The reset email never arrived, I checked the spam folder too.",
    "Our team was charged twice for the premium plan this month.",
    "Please refund the duplicate payment on invoice {n}.",
    "The mobile app crashes on Android right after the latest update.",
    "Webhook deliveries to our server time out since yesterday.",
    "The dashboard shows an error when I export the monthly report.",
    "Order {n} was shipped but the tracking page still says pending.",
    "We need admin permissions restored for two users on the enterprise account.",
    "Two factor verification codes are not accepted on the web browser.",
    "The API key stopped working and every request returns access denied.",
    "Customers see a blank page on Safari when they open the checkout form.",
    "Could you cancel the subscription and confirm the cancellation by email?",
    "Sync with the warehouse stock failed for {n} items overnight.",
    "Thanks for the quick help, the issue is resolved after clearing the cache.",
    "Steps to reproduce: open settings, click save, the page reloads without saving.",
)
KO_SENTENCES = (
    "비밀번호 재설정 후 로그인이 안됩니다.",
    "재설정 이메일이 오지 않습니다. 스팸함도 확인했습니다.",
    "이번 달 요금제 결제가 두 번 청구되었습니다.",
    "주문 번호 {n} 환불 요청드립니다.",
    "앱 업데이트 후 안드로이드에서 계속 오류가 발생합니다.",
    "배송 조회 페이지에 아직 대기 중으로 표시됩니다.",
    "관리자 권한이 사라졌습니다. 확인 부탁드립니다.",
    "인증 코드를 입력해도 접속이 거부됩니다.",
    "구독 해지와 취소 확인 메일을 보내 주세요.",
    "데이터 동기화가 어제부터 느립니다. 서버 연결 문제인가요?",
    "빠른 답변 감사합니다. 문제가 해결되었습니다.",
    "상품 교환 요청드립니다. 사이즈가 맞지 않습니다.",
)


def sample_words() -> tuple[str, ...]:
    """The English words of the sample sentences (a random test tokenizer is given them as whole pieces)."""
    words = {w.strip(".,?:").lower() for s in EN_SENTENCES for w in s.split()}
    return tuple(sorted(w for w in words if w.isalpha()))


def sample_texts(n: int, tokenizer: Any, *, seed: int = 1, lo: int = 50, hi: int = 400) -> list[str]:
    """Ticket-like texts, about 1/3 Korean and 1/6 mixed, grown sentence by sentence to a token length in [lo, hi]."""

    def tokens(parts: list[str]) -> int:
        return len(tokenizer(" ".join(parts))["input_ids"])

    rng = random.Random(seed)
    texts = []
    for i in range(n):
        target = rng.randint(lo, hi)
        pool = KO_SENTENCES if i % 3 == 0 else EN_SENTENCES
        parts = [f"Ticket #{10000 + i}:"]
        while tokens(parts) < target:
            source = rng.choice(KO_SENTENCES) if (i % 6 == 1 and rng.random() < 0.3) else rng.choice(pool)
            parts.append(source.format(n=rng.randint(1000, 99999)))
        if tokens(parts) > hi and len(parts) > 2:
            parts.pop()
        texts.append(" ".join(parts))
    return texts


@dataclass(frozen=True)
class Agreement:
    """fp32 vs int8 on one model and one sample of texts."""

    model: str
    texts: int
    tokens: int
    cosine_min: float
    cosine_p1: float
    cosine_mean: float
    share_cosine_ok: float  # share of texts whose dense cosine >= MIN_COSINE
    top10_overlap_mean: float
    top10_overlap_min: float
    sparse_overlap_mean: float | None  # None for a dense-only model
    sparse_overlap_min: float | None
    sparse_top10_overlap_mean: float | None
    fp32_tokens_per_s: float
    int8_tokens_per_s: float
    load_s: dict[str, float] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.int8_tokens_per_s / self.fp32_tokens_per_s if self.fp32_tokens_per_s else float("nan")

    @property
    def failed_targets(self) -> list[str]:
        failed = []
        if self.share_cosine_ok < MIN_SHARE_ABOVE:
            failed.append(f"dense cosine >= {MIN_COSINE} for {self.share_cosine_ok:.1%} of texts "
                          f"(target {MIN_SHARE_ABOVE:.0%})")
        if self.top10_overlap_mean < MIN_TOP10_OVERLAP:
            failed.append(f"top-10 neighbour overlap {self.top10_overlap_mean:.3f} (target {MIN_TOP10_OVERLAP})")
        if self.sparse_top10_overlap_mean is not None and self.sparse_top10_overlap_mean < MIN_SPARSE_OVERLAP:
            failed.append(f"sparse top-10 neighbour overlap {self.sparse_top10_overlap_mean:.3f} "
                          f"(target {MIN_SPARSE_OVERLAP})")
        return failed

    @property
    def agrees(self) -> bool:
        return not self.failed_targets

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speedup": round(self.speedup, 3), "agrees": self.agrees,
                "failed_targets": self.failed_targets}


def dense_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, d) matrices."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1.0)


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> np.ndarray:
    """Per row: |top-k neighbours under a ∩ top-k under b| / k, neighbours by cosine, self excluded."""

    def cosines(m: np.ndarray) -> np.ndarray:
        unit = m / np.linalg.norm(m, axis=1, keepdims=True)
        return unit @ unit.T

    return score_overlap(cosines(a), cosines(b), k)


def score_overlap(sims_a: np.ndarray, sims_b: np.ndarray, k: int = 10) -> np.ndarray:
    """Per row of two (n, n) similarity matrices: the share of the top-k other rows both agree on."""
    k = min(k, sims_a.shape[0] - 1)
    if k < 1:
        raise ValueError("neighbour overlap needs at least 2 texts")

    def top(sims: np.ndarray) -> list[set[int]]:
        sims = sims.astype(float, copy=True)
        np.fill_diagonal(sims, -np.inf)
        return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sims]

    return np.array([len(x & y) / k for x, y in zip(top(sims_a), top(sims_b))])


def sparse_scores(vectors: Sequence[dict[int, float]]) -> np.ndarray:
    """(n, n) dot products of lexical-weight vectors, as bge-m3's sparse search scores them."""
    return np.array([[sum(w * b.get(t, 0.0) for t, w in a.items()) for b in vectors] for a in vectors])


def sparse_overlap(a: dict[int, float], b: dict[int, float]) -> float:
    """Weighted Jaccard of two lexical-weight vectors; 1.0 when both are empty."""
    keys = a.keys() | b.keys()
    high = sum(max(a.get(t, 0.0), b.get(t, 0.0)) for t in keys)
    if high <= 0:
        return 1.0
    return sum(min(a.get(t, 0.0), b.get(t, 0.0)) for t in keys) / high


def compare(model: str, texts: Sequence[str], fp32: Sequence[Any], int8: Sequence[Any], *,
            tokens: int, seconds: dict[str, float], load_s: dict[str, float] | None = None) -> Agreement:
    """Agreement of two embedding lists (Embedding objects, same texts and order)."""
    dense_a = np.stack([e.dense for e in fp32])
    dense_b = np.stack([e.dense for e in int8])
    cos = dense_cosines(dense_a, dense_b)
    top = neighbour_overlap(dense_a, dense_b)
    sparse = sparse_top = None
    if fp32[0].sparse_indices is not None:
        lexical_a = [dict(zip(e.sparse_indices, e.sparse_values)) for e in fp32]
        lexical_b = [dict(zip(e.sparse_indices, e.sparse_values)) for e in int8]
        sparse = np.array([sparse_overlap(x, y) for x, y in zip(lexical_a, lexical_b)])
        sparse_top = score_overlap(sparse_scores(lexical_a), sparse_scores(lexical_b))
    return Agreement(
        model=model,
        texts=len(texts),
        tokens=tokens,
        cosine_min=round(float(cos.min()), 5),
        cosine_p1=round(float(np.percentile(cos, 1)), 5),
        cosine_mean=round(float(cos.mean()), 5),
        share_cosine_ok=round(float((cos >= MIN_COSINE).mean()), 4),
        top10_overlap_mean=round(float(top.mean()), 4),
        top10_overlap_min=round(float(top.min()), 4),
        sparse_overlap_mean=None if sparse is None else round(float(sparse.mean()), 4),
        sparse_overlap_min=None if sparse is None else round(float(sparse.min()), 4),
        sparse_top10_overlap_mean=None if sparse_top is None else round(float(sparse_top.mean()), 4),
        fp32_tokens_per_s=round(tokens / seconds["fp32"], 1),
        int8_tokens_per_s=round(tokens / seconds["int8"], 1),
        load_s=load_s or {},
    )


def measure(model: str, *, n_texts: int = 32, threads: int | None = None, batch_size: int = 16,
            max_tokens: int = 512, lo: int = 50, hi: int = 300, kind: str = "auto",
            seed: int = 1) -> Agreement:
    """Load `model` at fp32 and at int8, embed the same sample with both (ABBA order) and compare."""
    from fd_pipeline.embedding import EmbedderConfig, EmbeddingFailure, make_embedder

    embedders = {
        precision: make_embedder(EmbedderConfig(model=model, device="cpu", threads=threads, batch_size=batch_size,
                                           max_tokens=max_tokens, kind=kind, precision=precision))
        for precision in ("fp32", "int8")
    }
    load_s = {}
    for precision, embedder in embedders.items():
        started = time.perf_counter()
        embedder.load()
        embedder.embed(["warm up the kernels"])  # first forward pays one-off allocation costs
        load_s[precision] = round(time.perf_counter() - started, 1)
    tokenizer = embedders["fp32"]._model().tokenizer
    texts = sample_texts(n_texts, tokenizer, seed=seed, lo=lo, hi=hi)
    half = len(texts) // 2
    order = [(texts[:half], ("fp32", "int8")), (texts[half:], ("int8", "fp32"))]
    out: dict[str, list[Any]] = {"fp32": [], "int8": []}
    seconds = {"fp32": 0.0, "int8": 0.0}
    for chunk, precisions in order:
        results: dict[str, list[Any]] = {}
        for precision in precisions:
            started = time.perf_counter()
            results[precision] = embedders[precision].embed(chunk)
            seconds[precision] += time.perf_counter() - started
        for precision in out:
            out[precision].extend(results[precision])
    bad = [r for rs in out.values() for r in rs if r is None or isinstance(r, EmbeddingFailure)]
    if bad:
        raise RuntimeError(f"{len(bad)} sample texts could not be embedded: {bad[0]}")
    tokens = sum(e.tokens for e in out["fp32"])
    return compare(model, texts, out["fp32"], out["int8"], tokens=tokens,
                   seconds=seconds, load_s=load_s)


def report_lines(result: Agreement) -> list[str]:
    """The human summary `embed-check` prints, verdict last."""
    lines = [
        f"model {result.model}: {result.texts} texts, {result.tokens} tokens, fp32 vs int8 on the same weights",
        f"  dense cosine       min {result.cosine_min:.4f}  p1 {result.cosine_p1:.4f}  mean {result.cosine_mean:.4f}  "
        f">= {MIN_COSINE}: {result.share_cosine_ok:.1%} of texts",
        f"  top-10 neighbours  overlap mean {result.top10_overlap_mean:.3f}  min {result.top10_overlap_min:.3f}",
    ]
    if result.sparse_overlap_mean is not None:
        lines.append(f"  sparse weights     weighted overlap mean {result.sparse_overlap_mean:.3f}  "
                     f"min {result.sparse_overlap_min:.3f}; top-10 neighbours by sparse score "
                     f"{result.sparse_top10_overlap_mean:.3f}")
    else:
        lines.append("  sparse weights     (dense-only model)")
    lines.append(f"  speed              fp32 {result.fp32_tokens_per_s:.0f} tok/s, int8 {result.int8_tokens_per_s:.0f} "
                 f"tok/s: {result.speedup:.2f}x")
    if result.agrees and result.speedup >= MIN_WORTHWHILE_SPEEDUP:
        lines.append("verdict: int8 agrees with fp32 on this model; FD_EMBED_PRECISION=int8 is safe to use "
                     f"({result.speedup:.2f}x the fp32 speed here).")
    elif result.agrees:
        lines.append(f"verdict: int8 agrees with fp32 on this model but is only {result.speedup:.2f}x as fast here "
                     "(small models gain little); keep FD_EMBED_PRECISION=fp32 unless a rerun shows more.")
    else:
        lines.append("verdict: int8 does NOT agree closely enough with fp32 on this model; keep "
                     "FD_EMBED_PRECISION=fp32 (" + "; ".join(result.failed_targets) + ").")
    return lines

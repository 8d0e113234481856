"""Benchmark the Embedder on the full bge-m3 architecture (random weights) against raw FlagEmbedding.

Builds a 568M-parameter bge-m3-shaped model once (cached under --cache, nothing downloaded),
generates realistic mixed English/Korean ticket texts of 50-400 tokens, and reports in one run:
tokens/s and texts/s through `Embedder.embed` vs one raw `BGEM3FlagModel.encode` call on the same
texts, peak RSS, and the effect of batch size and torch threads on a smaller subset.

    .venv/bin/python bench/embedder.py                    # prints a table, writes bench/results/embedder.json
    .venv/bin/python bench/embedder.py --n 40 --sweep-n 12   # quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EN_SENTENCES = [
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
]
KO_SENTENCES = [
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
]


def bench_words() -> tuple[str, ...]:
    words = {w.strip(".,?:").lower() for s in EN_SENTENCES for w in s.split()}
    return tuple(sorted(w for w in words if w.isalpha()))


def _tokens(tokenizer, parts: list[str]) -> int:
    return len(tokenizer(" ".join(parts))["input_ids"])


def make_texts(n: int, tokenizer, seed: int, lo: int = 50, hi: int = 400) -> list[str]:
    """Ticket-like texts, ~1/3 Korean, ~1/6 mixed, grown sentence by sentence to a token target in [lo, hi]."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        target = rng.randint(lo, hi)
        pool = KO_SENTENCES if i % 3 == 0 else EN_SENTENCES
        parts: list[str] = [f"Ticket #{10000 + i}:"]
        while _tokens(tokenizer, parts) < target:
            source = rng.choice(KO_SENTENCES) if (i % 6 == 1 and rng.random() < 0.3) else rng.choice(pool)
            parts.append(source.format(n=rng.randint(1000, 99999)))
        if _tokens(tokenizer, parts) > hi and len(parts) > 2:
            parts.pop()
        texts.append(" ".join(parts))
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120, help="texts for the wrapper-vs-raw comparison")
    ap.add_argument("--sweep-n", type=int, default=24, help="texts for the batch-size/threads sweep")
    ap.add_argument("--sweep-max-tokens", type=int, default=160, help="upper token length of sweep texts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--sweep-threads", default="1,2")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--cache", default="/tmp/fd_pipeline_bench/random-bge-m3")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "embedder.json"))
    args = ap.parse_args()

    import torch

    from fd_pipeline.embedding import Embedder, EmbedderConfig, build_random_bge_m3

    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    started = time.perf_counter()
    if not (cache / "sparse_linear.pt").is_file():
        build_random_bge_m3(cache, extra_words=bench_words())
    build_s = time.perf_counter() - started

    def embedder(batch_size: int, threads: int) -> Embedder:
        return Embedder(EmbedderConfig(model=str(cache), device="cpu", threads=threads, batch_size=batch_size,
                                       max_tokens=args.max_tokens))

    main_emb = embedder(args.batch_size, args.threads)
    started = time.perf_counter()
    loaded = main_emb._model()
    load_s = time.perf_counter() - started
    rss_after_load = peak_rss_mb()
    raw_model, tokenizer = loaded.model, loaded.tokenizer

    texts = make_texts(args.n, tokenizer, seed=1)
    lengths = [min(len(tokenizer(t)["input_ids"]), args.max_tokens) for t in texts]
    total_tokens = sum(lengths)
    main_emb.embed(["warm up the kernels"])  # first forward pays one-off allocation costs

    rows = []

    def record(label: str, n: int, tokens: int, seconds: float, **extra) -> dict:
        row = {"run": label, "texts": n, "tokens": tokens, "seconds": round(seconds, 2),
               "tokens_per_s": round(tokens / seconds, 1), "texts_per_s": round(n / seconds, 3), **extra}
        rows.append(row)
        print(f"  {label:<28} {n:>5} texts {tokens:>7} tok {seconds:>8.1f} s "
              f"{row['tokens_per_s']:>8.1f} tok/s {row['texts_per_s']:>7.2f} texts/s", flush=True)
        return row

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} (1 min) on {os.cpu_count()} cpus", flush=True)
    print(f"model built/cached in {build_s:.1f}s, loaded in {load_s:.1f}s; {args.n} texts, {total_tokens} tokens "
          f"(min {min(lengths)}, max {max(lengths)}); threads {args.threads}, batch {args.batch_size}", flush=True)

    started = time.perf_counter()
    raw_model.encode(texts, batch_size=args.batch_size, max_length=args.max_tokens,
                     return_dense=True, return_sparse=True)
    raw = record("raw FlagEmbedding encode", len(texts), total_tokens, time.perf_counter() - started,
                 batch_size=args.batch_size, threads=args.threads)

    before = main_emb.stats
    started = time.perf_counter()
    results = main_emb.embed(texts)
    wrapped = record("Embedder.embed", len(texts), total_tokens, time.perf_counter() - started,
                     batch_size=args.batch_size, threads=args.threads)
    assert all(r is not None and hasattr(r, "dense") for r in results)
    assert main_emb.stats.tokens - before.tokens == total_tokens
    overhead = wrapped["seconds"] / raw["seconds"] - 1

    sweep_texts = make_texts(args.sweep_n, tokenizer, seed=2, lo=50, hi=args.sweep_max_tokens)
    sweep_tokens = sum(min(len(tokenizer(t)["input_ids"]), args.max_tokens) for t in sweep_texts)
    print(f"sweep: {args.sweep_n} texts, {sweep_tokens} tokens", flush=True)
    for threads in [int(t) for t in args.sweep_threads.split(",")]:
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            if threads != args.threads and batch_size != args.batch_size:
                continue  # threads are compared at the main batch size only, to keep the run short
            emb = embedder(batch_size, threads)
            started = time.perf_counter()
            emb.embed(sweep_texts)
            record(f"sweep batch={batch_size} threads={threads}", len(sweep_texts), sweep_tokens,
                   time.perf_counter() - started, batch_size=batch_size, threads=threads)
    torch.set_num_threads(args.threads)

    summary = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "device": "cpu", "dtype": "float32"},
        "model": {"folder": str(cache), "identity": main_emb.identity.key, "params": 568_000_000,
                  "build_s": round(build_s, 1), "load_s": round(load_s, 1)},
        "wrapper_overhead": round(overhead, 4),
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "peak_rss_mb": {"after_load": round(rss_after_load), "end": round(peak_rss_mb())},
        "stats": dataclasses.asdict(main_emb.stats),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))

    print()
    print(f"{'run':<30}{'texts':>6}{'tokens':>8}{'sec':>8}{'tok/s':>9}{'texts/s':>9}")
    for row in rows:
        print(f"{row['run']:<30}{row['texts']:>6}{row['tokens']:>8}{row['seconds']:>8.1f}"
              f"{row['tokens_per_s']:>9.1f}{row['texts_per_s']:>9.2f}")
    print(f"wrapper vs raw: {overhead:+.1%} time (target within +10%)")
    print(f"load average (1 min): {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
          "(other processes on these cores slow every row alike)")
    print(f"peak RSS: {summary['peak_rss_mb']['after_load']} MB after load, {summary['peak_rss_mb']['end']} MB at end")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Benchmark the Embedder on the full bge-m3 architecture (random weights) against raw FlagEmbedding.

Builds a 568M-parameter bge-m3-shaped model once (cached under --cache, nothing downloaded),
generates realistic mixed English/Korean ticket texts of 50-400 tokens, and reports in one run:
tokens/s and texts/s through `Embedder.embed` vs one raw `BGEM3FlagModel.encode` call on the same
texts, peak RSS, the effect of batch size and torch threads on a smaller subset, and fp32 vs
FD_EMBED_PRECISION=int8 side by side on the same texts (speed and agreement, see
fd_pipeline/embedding/agreement.py).

    .venv/bin/python bench/embedder.py                    # prints a table, writes bench/results/embedder.json
    .venv/bin/python bench/embedder.py --n 40 --sweep-n 12   # quick look
    .venv/bin/python bench/embedder.py --only-precision --precision-n 48   # fp32 vs int8 only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def bench_words() -> tuple[str, ...]:
    """Words the random model's tokenizer gets as whole pieces (bench/pipeline.py builds the same model)."""
    from fd_pipeline.embedding.agreement import sample_words

    return sample_words()


def make_texts(n: int, tokenizer, seed: int, lo: int = 50, hi: int = 400) -> list[str]:
    from fd_pipeline.embedding.agreement import sample_texts

    return sample_texts(n, tokenizer, seed=seed, lo=lo, hi=hi)


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
    ap.add_argument("--precision-n", type=int, default=48, help="texts for fp32 vs int8 (0: skip)")
    ap.add_argument("--only-precision", action="store_true", help="only the fp32 vs int8 comparison")
    ap.add_argument("--cache", default="/tmp/fd_pipeline_bench/random-bge-m3")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "embedder.json"))
    args = ap.parse_args()

    import torch

    from fd_pipeline.embedding import Embedder, EmbedderConfig, build_random_bge_m3, make_embedder

    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    started = time.perf_counter()
    if not (cache / "sparse_linear.pt").is_file():
        build_random_bge_m3(cache, extra_words=bench_words())
    build_s = time.perf_counter() - started

    def embedder(batch_size: int, threads: int) -> Embedder:
        return make_embedder(EmbedderConfig(model=str(cache), device="cpu", threads=threads, batch_size=batch_size,
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

    overhead = None
    if not args.only_precision:
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

        sweep_texts = make_texts(args.sweep_n, tokenizer, seed=2, lo=min(50, args.sweep_max_tokens), hi=args.sweep_max_tokens)
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

    precision = None
    if args.precision_n:
        from fd_pipeline.embedding import agreement

        print(f"precision: fp32 vs int8 on {args.precision_n} texts, alternating fp32/int8/int8/fp32", flush=True)
        result = agreement.measure(str(cache), n_texts=args.precision_n, threads=args.threads,
                                   batch_size=args.batch_size, max_tokens=args.max_tokens)
        for name in ("fp32", "int8"):
            rate = getattr(result, f"{name}_tokens_per_s")
            record(f"precision {name}", result.texts, result.tokens, result.tokens / rate, batch_size=args.batch_size,
                   threads=args.threads)
        print("\n".join(agreement.report_lines(result)), flush=True)
        precision = result.as_dict()
    torch.set_num_threads(args.threads)

    summary = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "device": "cpu", "dtype": "float32"},
        "model": {"folder": str(cache), "identity": main_emb.identity.key, "params": 568_000_000,
                  "build_s": round(build_s, 1), "load_s": round(load_s, 1)},
        "wrapper_overhead": None if overhead is None else round(overhead, 4),
        "precision": precision,
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
    if overhead is not None:
        print(f"wrapper vs raw: {overhead:+.1%} time (target within +10%)")
    print(f"load average (1 min): {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
          "(other processes on these cores slow every row alike)")
    print(f"peak RSS: {summary['peak_rss_mb']['after_load']} MB after load, {summary['peak_rss_mb']['end']} MB at end")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

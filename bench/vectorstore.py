"""Benchmark the vector store in qdrant-client's embedded local mode: upsert throughput and query latency.

Tickets carry three 1024-d dense vectors and three sparse vectors (50-150 non-zeros out of a
250k vocabulary, skewed toward frequent ids like real lexical weights). Runs in-memory and
on-disk local mode in one go. On disk, local mode commits every point to SQLite on its own, so
the run stops writing after --disk-budget-s and extrapolates to --n (said so in the output).

    .venv/bin/python bench/vectorstore.py            # prints a table, writes bench/results/vectorstore.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fd_pipeline.vectorstore import TICKETS, Point, VectorStore, VectorStoreConfig  # noqa: E402


@dataclass(frozen=True)
class Identity:
    name: str = "bench-bge-m3-shaped"
    dim: int = 1024
    has_sparse: bool = True
    fingerprint: str = "0" * 64
    max_tokens: int = 512

    @property
    def key(self) -> str:
        return f"{self.name}-{self.dim}-{self.fingerprint[:8]}"


@dataclass(frozen=True)
class Vec:
    dense: np.ndarray
    sparse_indices: tuple[int, ...] | None
    sparse_values: tuple[float, ...] | None


class Corpus:
    """Deterministic random tickets, generated on demand so 10k x 3 x 1024 floats are not all held twice."""

    def __init__(self, n: int, dim: int, vocab: int, seed: int = 0) -> None:
        self.n, self.dim, self.vocab, self.seed = n, dim, vocab, seed

    def _sparse(self, rng: np.random.Generator, nnz: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
        # Cubing a uniform draw piles ids toward the low (frequent) end, as token frequencies do.
        ids = np.unique((self.vocab * rng.random(nnz * 2) ** 3).astype(np.int64))[:nnz]
        return tuple(int(i) for i in ids), tuple(float(v) for v in rng.uniform(0.01, 0.35, len(ids)))

    def vector(self, rng: np.random.Generator) -> Vec:
        dense = rng.standard_normal(self.dim).astype(np.float32)
        idx, val = self._sparse(rng, int(rng.integers(50, 151)))
        return Vec(dense / np.linalg.norm(dense), idx, val)

    def point(self, i: int) -> Point:
        rng = np.random.default_rng((self.seed, i))
        return Point(
            id=i + 1,
            vectors={a: self.vector(rng) for a in TICKETS.aspects},
            payload={"ticket_id": i + 1, "status": int(2 + i % 4), "tags": ["billing"] if i % 3 else ["login"],
                     "language": "en", "updated_at": f"2025-03-{1 + i % 28:02d}T12:00:00+00:00"},
        )

    def query(self, i: int, stored: int) -> Vec:
        """A query near a stored ticket's symptom: noisy dense, ~20 sparse terms half shared with it."""
        target = self.point(i % stored).vectors["symptom"]
        rng = np.random.default_rng((self.seed, 10**9 + i))
        dense = target.dense + rng.standard_normal(self.dim).astype(np.float32) * 0.03
        shared = list(target.sparse_indices[:10])
        extra, _ = self._sparse(rng, 10)
        ids = sorted(set(shared) | set(extra))
        return Vec(dense / np.linalg.norm(dense), tuple(ids), tuple(float(v) for v in rng.uniform(0.05, 0.4, len(ids))))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def upsert_phase(store: VectorStore, corpus: Corpus, ident: Identity, start: int, stop: int,
                 batch: int, budget_s: float | None) -> tuple[int, float]:
    """Upsert points [start, stop) in batches of `batch`; stop early once `budget_s` is spent."""
    done, spent = 0, 0.0
    i = start
    while i < stop and (budget_s is None or spent < budget_s):
        points = [corpus.point(j) for j in range(i, min(i + batch, stop))]
        t = time.perf_counter()
        store.upsert(TICKETS, ident, points)
        spent += time.perf_counter() - t
        done += len(points)
        i += len(points)
    return done, spent


def query_phase(store: VectorStore, corpus: Corpus, stored: int, n_queries: int, budget_s: float) -> dict:
    out = {}
    for mode in ("dense", "hybrid"):
        times: list[float] = []
        hits_self = 0
        deadline = time.perf_counter() + budget_s
        for q in range(n_queries):
            if time.perf_counter() > deadline and len(times) >= 10:
                break
            vec = corpus.query(q, stored)
            t = time.perf_counter()
            hits = store.search(TICKETS, aspect="symptom", dense=vec.dense, sparse_indices=vec.sparse_indices,
                                sparse_values=vec.sparse_values, limit=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
            hits_self += bool(hits) and hits[0].id == (q % stored) + 1
        out[mode] = {"queries": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                     "top1_is_source": hits_self / max(1, len(times))}
    # The same with a payload filter, since filtered search is the pipeline's common case.
    times = []
    for q in range(min(n_queries, 30)):
        vec = corpus.query(q, stored)
        t = time.perf_counter()
        store.search(TICKETS, aspect="symptom", dense=vec.dense, sparse_indices=vec.sparse_indices,
                     sparse_values=vec.sparse_values, limit=10, filters={"status": [2, 3], "tags": ["billing"]})
        times.append((time.perf_counter() - t) * 1000)
    out["hybrid_filtered"] = {"queries": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95)}
    return out


def run_memory(corpus: Corpus, ident: Identity, args) -> dict:
    store = VectorStore(VectorStoreConfig(path=":memory:", upsert_batch=args.batch))
    store.ensure_collection(TICKETS, ident)
    done, spent = upsert_phase(store, corpus, ident, 0, corpus.n, args.batch, None)
    res = {"mode": "memory", "points": done, "upsert_s": spent, "points_per_s": done / spent,
           "batch": args.batch, "extrapolated": False}
    res["queries"] = query_phase(store, corpus, done, args.queries, args.query_budget_s)
    store.close()
    return res


def run_disk(corpus: Corpus, ident: Identity, args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="fd-bench-qdrant-", dir=args.tmp))
    try:
        store = VectorStore(VectorStoreConfig(path=str(folder), upsert_batch=args.batch))
        store.ensure_collection(TICKETS, ident)
        # Two batch sizes, to see whether batching helps local mode on disk (it commits per point).
        small = max(1, args.batch // 8)
        done_a, spent_a = upsert_phase(store, corpus, ident, 0, corpus.n // 2, small, args.disk_budget_s / 2)
        done_b, spent_b = upsert_phase(store, corpus, ident, done_a, corpus.n, args.batch, args.disk_budget_s - spent_a)
        done, spent = done_a + done_b, spent_a + spent_b
        res = {"mode": "disk", "points": done, "upsert_s": spent, "points_per_s": done / spent,
               "batch": args.batch, "extrapolated": done < corpus.n,
               "by_batch": {str(small): {"points": done_a, "points_per_s": done_a / spent_a if spent_a else None},
                            str(args.batch): {"points": done_b, "points_per_s": done_b / spent_b if spent_b else None}}}
        if done < corpus.n:
            res["extrapolated_upsert_s_for_n"] = corpus.n / res["points_per_s"]
        res["queries"] = query_phase(store, corpus, done, args.queries, args.query_budget_s)
        store.close()
        res["disk_mb"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
        t = time.perf_counter()
        VectorStore(VectorStoreConfig(path=str(folder))).close()  # local mode loads every point on open
        res["reopen_s"] = time.perf_counter() - t
        return res
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="tickets to write")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=250_000)
    parser.add_argument("--batch", type=int, default=256, help="upsert batch (QDRANT_UPSERT_BATCH)")
    parser.add_argument("--queries", type=int, default=100, help="queries per mode")
    parser.add_argument("--query-budget-s", type=float, default=30.0, help="time cap per query mode")
    parser.add_argument("--disk-budget-s", type=float, default=200.0, help="time cap on disk upserts")
    parser.add_argument("--modes", default="memory,disk")
    parser.add_argument("--tmp", default=None, help="folder for the on-disk store")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "vectorstore.json"))
    args = parser.parse_args()

    ident = Identity(dim=args.dim)
    corpus = Corpus(args.n, args.dim, args.vocab)
    t = time.perf_counter()
    for i in range(200):
        corpus.point(i)
    gen_ms = (time.perf_counter() - t) / 200 * 1000
    results = []
    for mode in args.modes.split(","):
        print(f"running {mode} ...", file=sys.stderr, flush=True)
        results.append(run_memory(corpus, ident, args) if mode == "memory" else run_disk(corpus, ident, args))

    print(f"\n{args.n} tickets asked, 3 x {args.dim}-d dense + 3 sparse (50-150 nnz of {args.vocab}); "
          f"qdrant-client local mode; generating a point costs {gen_ms:.1f} ms (excluded)")
    header = f"{'mode':<7} {'points':>7} {'pts/s':>8} {'dense p50/p95 ms':>18} {'hybrid p50/p95 ms':>19} {'hyb+filter p50 ms':>18}"
    print(header)
    print("-" * len(header))
    for r in results:
        q = r["queries"]
        print(f"{r['mode']:<7} {r['points']:>7} {r['points_per_s']:>8.1f} "
              f"{q['dense']['p50_ms']:>8.1f} / {q['dense']['p95_ms']:<7.1f} "
              f"{q['hybrid']['p50_ms']:>8.1f} / {q['hybrid']['p95_ms']:<8.1f} {q['hybrid_filtered']['p50_ms']:>14.1f}")
    for r in results:
        if r.get("extrapolated"):
            print(f"disk: wrote {r['points']} of {args.n} in {r['upsert_s']:.0f} s; at {r['points_per_s']:.1f} pts/s "
                  f"all {args.n} would take ~{r['extrapolated_upsert_s_for_n'] / 60:.0f} min (EXTRAPOLATED). "
                  f"Query latencies are over the {r['points']} points written.")
        if r["mode"] == "disk":
            print(f"disk: pts/s by batch size {json.dumps({k: round(v['points_per_s'] or 0, 1) for k, v in r['by_batch'].items()})}; "
                  f"{r['disk_mb']:.0f} MB on disk; reopening the folder took {r['reopen_s']:.1f} s")

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "benchmark": "vectorstore",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
                    "platform": platform.platform()},
        "args": vars(args),
        "point_generation_ms": gen_ms,
        "results": results,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark the embedded vector engines side by side: qdrant-edge (the default) and qdrant-client's local mode.

Tickets carry three 1024-d dense vectors and three sparse vectors (50-150 non-zeros out of a
250k vocabulary, skewed toward frequent ids like real lexical weights), and a payload with the
fields the pipeline filters on. Each (engine, size) runs in its own child process, so its peak
RSS is its own. Measured per run, on disk: upsert points/s (store.upsert only: building the
vectors is excluded), the index build (`optimize`, qdrant-edge), reopening the folder (open +
first count: what every run and `fd-pipeline search` pays), dense / hybrid / filtered hybrid
latency p50 and p95 after the reopen, disk size, peak RSS.

Local mode commits every point to SQLite on its own (~100 points/s) and loads every point on
open; it runs only at sizes up to --local-max (10,000), and stops writing after
--local-budget-s and extrapolates (said so in the output). A Qdrant server is not runnable
here; see docs/benchmarks.md for how to measure one with `--engines server --url ...`.

    .venv/bin/python bench/vectorstore.py                      # 10,000 and 50,000 tickets
    .venv/bin/python bench/vectorstore.py --sizes 10000 --engines edge,local
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fd_pipeline.embedding import Embedding, ModelIdentity  # noqa: E402
from fd_pipeline.vectorstore import CollectionSpec, Point, VectorStore, VectorStoreConfig  # noqa: E402
from fd_pipeline.tickets.collection import TICKETS  # noqa: E402

# The tickets' aspects and payload indexes under a name of its own, so a run against a server
# never touches `support_tickets`; the run drops it at the end.
BENCH = CollectionSpec("fd_bench_tickets", aspects=TICKETS.aspects, payload_indexes=TICKETS.payload_indexes)


def bench_identity(dim: int) -> ModelIdentity:
    """A bge-m3-shaped identity for random vectors (no model: the bench measures the store)."""
    return ModelIdentity(name="bench-bge-m3-shaped", dim=dim, has_sparse=True, fingerprint="0" * 64, max_tokens=512)


def embedding(dense: np.ndarray, indices: tuple[int, ...], values: tuple[float, ...]) -> Embedding:
    return Embedding(dense, indices, values, tokens=0, truncated=False)


class Corpus:
    """Deterministic random tickets, generated on demand so 10k x 3 x 1024 floats are not all held twice."""

    def __init__(self, n: int, dim: int, vocab: int, seed: int = 0) -> None:
        self.n, self.dim, self.vocab, self.seed = n, dim, vocab, seed

    def _sparse(self, rng: np.random.Generator, nnz: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
        # Cubing a uniform draw piles ids toward the low (frequent) end, as token frequencies do.
        ids = np.unique((self.vocab * rng.random(nnz * 2) ** 3).astype(np.int64))[:nnz]
        return tuple(int(i) for i in ids), tuple(float(v) for v in rng.uniform(0.01, 0.35, len(ids)))

    def vector(self, rng: np.random.Generator) -> Embedding:
        dense = rng.standard_normal(self.dim).astype(np.float32)
        idx, val = self._sparse(rng, int(rng.integers(50, 151)))
        return embedding(dense / np.linalg.norm(dense), idx, val)

    def point(self, i: int) -> Point:
        rng = np.random.default_rng((self.seed, i))
        return Point(
            id=i + 1,
            vectors={a: self.vector(rng) for a in TICKETS.aspects},
            payload={"ticket_id": i + 1, "status": int(2 + i % 4), "tags": ["billing"] if i % 3 else ["login"],
                     "language": "en", "updated_at": f"2025-03-{1 + i % 28:02d}T12:00:00+00:00",
                     "subject": f"Ticket {i + 1}: cannot sign in after the password reset", "priority": 1 + i % 4},
        )

    def query(self, i: int, stored: int) -> Embedding:
        """A query near a stored ticket's symptom: noisy dense, ~20 sparse terms half shared with it."""
        target = self.point(i % stored).vectors["symptom"]
        rng = np.random.default_rng((self.seed, 10**9 + i))
        dense = target.dense + rng.standard_normal(self.dim).astype(np.float32) * 0.03
        shared = list(target.sparse_indices[:10])
        extra, _ = self._sparse(rng, 10)
        ids = sorted(set(shared) | set(extra))
        return embedding(dense / np.linalg.norm(dense), tuple(ids), tuple(float(v) for v in rng.uniform(0.05, 0.4, len(ids))))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


ENGINES = {
    # name -> (VectorStoreConfig changes, label)
    "edge": ({"embedded_engine": "edge"}, "qdrant-edge 0.9.0 (default)"),
    "edge-hnsw": ({"embedded_engine": "edge", "hnsw_threshold_kb": 0}, "qdrant-edge, HNSW at any size"),
    "edge-exact": ({"embedded_engine": "edge", "hnsw_threshold_kb": 10**9}, "qdrant-edge, exact scan only"),
    "local": ({"embedded_engine": "local"}, "qdrant-client 1.20 local mode"),
    "server": ({}, "Qdrant server (--url)"),
}


def config_for(engine: str, folder: Path, args) -> VectorStoreConfig:
    if engine == "server":
        return VectorStoreConfig(url=args.url, api_key=os.environ.get("QDRANT_API_KEY"), path=None, upsert_batch=args.batch)
    changes = dict(ENGINES[engine][0])
    if args.hnsw_threshold_kb is not None:
        changes["hnsw_threshold_kb"] = args.hnsw_threshold_kb
    # The bench times the index build itself instead of letting close() do it.
    return VectorStoreConfig(path=str(folder), upsert_batch=args.batch, optimize_on_close=False, **changes)


def upsert_phase(store: VectorStore, corpus: Corpus, ident: ModelIdentity, batch: int, budget_s: float | None) -> tuple[int, float, float]:
    """Upsert points in batches; only store.upsert is timed (building the points is not)."""
    done, spent, cpu = 0, 0.0, 0.0
    while done < corpus.n and (budget_s is None or spent < budget_s):
        points = [corpus.point(j) for j in range(done, min(done + batch, corpus.n))]
        t, c = time.perf_counter(), _cpu_s()
        store.upsert(BENCH, ident, points)
        spent += time.perf_counter() - t
        cpu += _cpu_s() - c
        done += len(points)
    return done, spent, cpu


def timed_searches(store: VectorStore, corpus: Corpus, stored: int, n: int, budget_s: float, **kwargs) -> dict:
    times: list[float] = []
    cpu: list[float] = []
    top1 = 0
    deadline = time.perf_counter() + budget_s
    for q in range(n):
        if time.perf_counter() > deadline and len(times) >= 10:
            break
        vec = corpus.query(q, stored)
        t, c = time.perf_counter(), _cpu_s()
        hits = store.search(BENCH, aspect="symptom", dense=vec.dense, sparse_indices=vec.sparse_indices,
                            sparse_values=vec.sparse_values, limit=10, **kwargs)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((_cpu_s() - c) * 1000)
        top1 += bool(hits) and hits[0].id == (q % stored) + 1
    # CPU ms per query (all of the process's threads): what the query costs whatever the machine's load.
    return {"queries": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "cpu_p50_ms": pct(cpu, 50),
            "top1_is_source": top1 / max(1, len(times))}


def query_phase(store: VectorStore, corpus: Corpus, stored: int, args) -> dict:
    # A filter the pipeline uses (open statuses, one tag); about half the tickets pass it.
    flt = {"status": [2, 3], "tags": ["billing"]}
    return {
        "dense": timed_searches(store, corpus, stored, args.queries, args.query_budget_s, mode="dense"),
        "hybrid": timed_searches(store, corpus, stored, args.queries, args.query_budget_s, mode="hybrid"),
        "hybrid_filtered": timed_searches(store, corpus, stored, args.queries, args.query_budget_s, filters=flt),
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args) -> dict:
    """One engine at one size, in this process (so ru_maxrss is this run's peak)."""
    ident = bench_identity(args.dim)
    corpus = Corpus(args.n, args.dim, args.vocab)
    folder = Path(tempfile.mkdtemp(prefix=f"fd-bench-{args.child}-", dir=args.tmp))
    try:
        cfg = config_for(args.child, folder, args)
        res: dict = {"engine": args.child, "label": ENGINES[args.child][1], "n": args.n}
        store = VectorStore(cfg)
        store.ensure_collection(BENCH, ident)
        budget = args.local_budget_s if args.child == "local" else None
        done, spent, cpu = upsert_phase(store, corpus, ident, args.batch, budget)
        res.update(points=done, upsert_s=spent, points_per_s=done / spent, upsert_cpu_s=cpu,
                   points_per_cpu_s=done / cpu if cpu else None, extrapolated=done < corpus.n)
        if done < corpus.n:
            res["extrapolated_upsert_s_for_n"] = corpus.n / res["points_per_s"]
        t, cpu = time.perf_counter(), _cpu_s()
        store.optimize(BENCH, ident)
        res["index_s"], res["index_cpu_s"] = time.perf_counter() - t, _cpu_s() - cpu
        res["index_state"] = store.index_state(BENCH)
        store.close()
        # Allocated blocks, as `du` counts them (qdrant-edge preallocates sparse files).
        res["disk_mb"] = sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 1e6
        t = time.perf_counter()
        store = VectorStore(cfg)
        store.count(BENCH)  # qdrant-edge opens a shard on first use: count it in
        res["reopen_s"] = time.perf_counter() - t
        res["queries"] = query_phase(store, corpus, done, args)
        if args.child == "server":  # deleting the collection deletes its alias too
            store.client.delete_collection(store.physical_name(BENCH, ident))
        store.close()
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return res
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_child(engine: str, n: int, args) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, "--n", str(n), "--dim", str(args.dim), "--vocab", str(args.vocab),
           "--batch", str(args.batch), "--queries", str(args.queries), "--query-budget-s", str(args.query_budget_s),
           "--local-budget-s", str(args.local_budget_s)]
    for flag, value in (("--tmp", args.tmp), ("--url", args.url), ("--hnsw-threshold-kb", args.hnsw_threshold_kb)):
        if value is not None:
            cmd += [flag, str(value)]
    print(f"running {engine} at {n} ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{engine} at {n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(results: list[dict], args) -> str:
    lines = [
        f"{len(results)} runs, one after another in one invocation, each in its own process; "
        f"3 x {args.dim}-d dense + 3 sparse (50-150 nnz of {args.vocab}) per ticket; upsert batch {args.batch}; "
        f"on disk; latencies after reopening; load average at start {os.getloadavg()[0]:.1f}",
        f"{'engine':<30} {'tickets':>8} {'upsert pts/s (/CPU-s)':>21} {'index s (CPU)':>14} {'reopen s':>8} "
        f"{'dense p50/p95':>14} {'hybrid p50/p95 (CPU)':>21} {'filtered p50/p95 (CPU)':>23} {'disk MB':>8} {'peak RSS MB':>11}",
    ]
    lines.append("-" * len(lines[-1]))
    for r in results:
        q = r["queries"]
        hyb, flt = q["hybrid"], q["hybrid_filtered"]
        lines.append(
            f"{r['label']:<30} {r['n']:>8} {r['points_per_s']:>12.0f}{'*' if r['extrapolated'] else ' '}"
            f"({r['points_per_cpu_s'] or 0:>6.0f}) {r['index_s']:>6.1f} ({r['index_cpu_s']:>5.0f}) {r['reopen_s']:>8.2f} "
            f"{q['dense']['p50_ms']:>6.1f}/{q['dense']['p95_ms']:<7.1f} "
            f"{hyb['p50_ms']:>7.1f}/{hyb['p95_ms']:<6.1f}({hyb['cpu_p50_ms']:>5.1f}) "
            f"{flt['p50_ms']:>8.1f}/{flt['p95_ms']:<6.1f}({flt['cpu_p50_ms']:>5.1f}) {r['disk_mb']:>8.0f} {r['peak_rss_mb']:>11.0f}"
        )
    for r in results:
        if r["extrapolated"]:
            lines.append(f"* {r['label']} at {r['n']}: wrote {r['points']} points in {r['upsert_s']:.0f} s, then stopped "
                         f"(--local-budget-s); all {r['n']} would take ~{r['extrapolated_upsert_s_for_n'] / 60:.0f} min "
                         f"(EXTRAPOLATED); its latencies, size and reopen are over the {r['points']} points written.")
    skipped = [n for n in args.sizes if n > args.local_max and "local" in args.engines]
    if skipped:
        lines.append(f"local mode not run at {', '.join(map(str, skipped))} tickets (--local-max {args.local_max}): "
                     "it writes ~100 points/s and reads every point into memory on open.")
    lines.append("upsert pts/s: store.upsert only, on disk (in brackets: per CPU-second of the process, all threads); "
                 "index s: optimize() wall (CPU seconds); reopen s: open + first count; latencies in ms after the reopen "
                 "(in brackets: CPU ms per query, all threads).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="ticket counts, comma-separated")
    parser.add_argument("--engines", default="edge,local", help="edge, edge-hnsw, edge-exact, local, server (needs --url)")
    parser.add_argument("--url", default=None, help="a Qdrant server for --engines server")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=250_000)
    parser.add_argument("--batch", type=int, default=256, help="upsert batch (QDRANT_UPSERT_BATCH)")
    parser.add_argument("--queries", type=int, default=100, help="queries per kind")
    parser.add_argument("--query-budget-s", type=float, default=30.0, help="time cap per query kind")
    parser.add_argument("--local-max", type=int, default=10_000, help="largest size local mode runs at")
    parser.add_argument("--local-budget-s", type=float, default=300.0, help="time cap on local-mode upserts")
    parser.add_argument("--hnsw-threshold-kb", type=int, default=None, help="qdrant-edge HNSW threshold (default: the store's)")
    parser.add_argument("--tmp", default=None, help="folder for the on-disk stores")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "vectorstore.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.engines = [e.strip() for e in args.engines.split(",")]
    if "server" in args.engines and not args.url:
        parser.error("--engines server needs --url")
    t = time.perf_counter()
    corpus = Corpus(200, args.dim, args.vocab)
    for i in range(200):
        corpus.point(i)
    gen_ms = (time.perf_counter() - t) / 200 * 1000
    results = [
        run_child(engine, n, args)
        for n in args.sizes
        for engine in args.engines
        if not (engine == "local" and n > args.local_max)
    ]
    table = render(results, args)
    print(table)
    print(f"(building one point costs {gen_ms:.1f} ms in this script: excluded from upsert pts/s)")

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "benchmark": "vectorstore",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
                    "platform": platform.platform()},
        "args": vars(args),
        "point_generation_ms": gen_ms,
        "results": results,
        "table": table,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

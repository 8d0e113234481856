"""Emulator throughput: generation time, and list/conversation latency over real HTTP.

    .venv/bin/python bench/emulator_bench.py [--tickets 50000]

Prints a table and writes bench/results/emulator.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from fd_pipeline.emulator import Emulator


def timed(emu: Emulator, client: httpx.Client, n: int, path: str, params_for) -> list[float]:
    out = []
    for i in range(n):
        emu.rate_limiter.reset()  # measure serving, not the credit budget
        t0 = time.perf_counter()
        r = client.get(path, params=params_for(i))
        r.raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=50_000)
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    now = datetime(2025, 6, 2, 12, tzinfo=UTC)
    t0 = time.perf_counter()
    emu = Emulator(seed=1, tickets=args.tickets, articles=60, now=now)
    gen_s = time.perf_counter() - t0
    rows = [("generate", f"{args.tickets} tickets", f"{gen_s:.2f} s")]
    since = (now - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    results = {"tickets": args.tickets, "generate_s": round(gen_s, 3)}
    with emu, httpx.Client(base_url=emu.base_url, auth=(emu.api_key, "X")) as client:
        pages = max(1, min(300, args.tickets // 100))
        cases = {
            "list updated_at asc, include=description, per_page=100": (
                "/api/v2/tickets", lambda i: {"updated_since": since, "order_by": "updated_at", "order_type": "asc",
                                              "per_page": 100, "page": 1 + i % pages, "include": "description"}),
            "list default order (created_at desc) with updated_since": (
                "/api/v2/tickets", lambda i: {"updated_since": since, "per_page": 100, "page": 1 + i % pages}),
            "list without updated_since (30-day window)": (
                "/api/v2/tickets", lambda i: {"per_page": 100, "page": 1 + i % 10}),
            "conversations of one ticket": (
                None, None),
        }
        for name, (path, params_for) in cases.items():
            if path is None:
                path, params_for = "/api/v2/tickets/{}/conversations", lambda i: {}
                ms = []
                for i in range(args.requests):
                    emu.rate_limiter.reset()
                    t1 = time.perf_counter()
                    client.get(path.format(1000 + i * 7)).raise_for_status()
                    ms.append((time.perf_counter() - t1) * 1000)
            else:
                ms = timed(emu, client, args.requests, path, params_for)
            p50, p95 = statistics.median(ms), sorted(ms)[int(0.95 * (len(ms) - 1))]
            rows.append((name, f"p50 {p50:.1f} ms", f"p95 {p95:.1f} ms"))
            results[name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "n": len(ms)}
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>16}  {r[2]:>14}")
    out = Path(__file__).parent / "results" / "emulator.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

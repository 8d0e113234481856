"""Check `fd-pipeline estimate` against a measured first sync of the same emulated desk.

Starts the emulator (a desk of --tickets over --hours, Enterprise limits), runs the estimate as
the command does (its own credits counted apart), then materialises every partition of the range
in one run (all six assets, in-memory Qdrant, SQLite sync log) and compares the credits the
emulator counted and the wall time with the estimate's.

    .venv/bin/python bench/estimate_check.py --model tiny --tickets 400
    .venv/bin/python bench/estimate_check.py --model full --tickets 40 --articles 6

Prints a table and writes bench/results/estimate_check.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, table, write_json  # noqa: E402
from bench.pipeline import _assets, model_dir, shared_memory_qdrant  # noqa: E402
from fd_pipeline.partitions import hour_key, range_tags  # noqa: E402

NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("tiny", "full"), default="tiny")
    ap.add_argument("--tickets", type=int, default=400)
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=10)
    args = ap.parse_args()

    import dagster as dg
    import torch

    from fd_pipeline.commands import estimate as est
    from fd_pipeline.emulator import Emulator
    from fd_pipeline.resources import EmbedderResource, FreshdeskResource, SyncLogResource, SyncSettingsResource

    torch.set_num_threads(args.threads)
    mdir = model_dir(args.model)
    start = NOW - timedelta(hours=args.hours)
    os.environ["FD_PARTITIONS_START"] = hour_key(start)  # before the definitions load in _assets()
    emu = Emulator(seed=7, tickets=args.tickets, articles=args.articles, now=NOW, span_hours=args.hours,
                   plan="enterprise").start()
    try:
        freshdesk = FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key)
        embedder = EmbedderResource(model=str(mdir), device="cpu", threads=args.threads)
        started = time.perf_counter()
        estimate = est.measure(since=start, plan_name=None, sample_tickets=args.sample,
                               points_per_s=est.POINTS_PER_S["memory"], freshdesk=freshdesk, embedder=embedder,
                               sync_settings=SyncSettingsResource())
        estimate_s = time.perf_counter() - started
        print(est.render(estimate), flush=True)
        _assets()  # import the definitions before timing, as a deployment has them loaded
        emu.stats.reset()
        with tempfile.TemporaryDirectory(prefix="fd-estimate-") as tmp:
            resources = {
                "freshdesk": freshdesk,
                "embedder": embedder,
                "qdrant": shared_memory_qdrant("estimate"),
                "sync_log": SyncLogResource(database_url=f"sqlite:///{Path(tmp) / 'sync_state.db'}"),
                "sync_settings": SyncSettingsResource(),
            }
            tags = range_tags(hour_key(start), hour_key(NOW - timedelta(hours=1)))
            started = time.perf_counter()
            dg.materialize(_assets(), resources=resources, tags=tags, raise_on_error=True)
            sync_s = time.perf_counter() - started
        credits = emu.stats.snapshot()["credits"]
    finally:
        emu.stop()
    rows = [
        {"figure": "credits", "estimate": estimate.total_credits, "measured": credits,
         "error_pct": round(100 * (estimate.total_credits - credits) / credits, 1)},
        {"figure": "seconds", "estimate": round(estimate.total_seconds, 1), "measured": round(sync_s, 1),
         "error_pct": round(100 * (estimate.total_seconds - sync_s) / sync_s, 1)},
    ]
    print(table(rows, ["figure", "estimate", "measured", "error_pct"],
                title=f"estimate vs first sync: {args.model} model, {args.tickets} tickets over {args.hours} h"))
    print(f"the estimate itself took {estimate_s:.1f} s and {estimate.probe_credits} credits; "
          f"load average {os.getloadavg()[0]:.1f}")
    path = write_json("estimate_check.json", {"machine": machine(), "args": vars(args), "estimate": estimate.as_dict(),
                                              "estimate_s": round(estimate_s, 1), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

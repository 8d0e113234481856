"""Initial sync vs re-sync of an unchanged range, on a tight rate limit with injected faults.

The whole pipeline (Dagster `materialize` of the six assets, one single-run backfill of 24 hourly
partitions) against the Freshdesk emulator on the growth plan (200 credits, tickets-list
sub-limit 20, per window) with a short window and a few % of requests failing (429 bursts, 5xx,
timeouts, dropped and cut bodies, HTML bodies). The sync log is SQLite, or Postgres with
--database-url; Qdrant is embedded on disk; the model is the tiny bge-m3-shaped one. Prints the
wall time of each run, each step's time, and what the emulator saw.

    .venv/bin/python bench/resync_faults.py --tickets 600 --per-page 20   # list pages of a 3,000-ticket desk
    .venv/bin/python bench/resync_faults.py --tickets 2853 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fd_pipeline.partitions import hour_key, range_tags  # noqa: E402
from fd_pipeline.domains import ASSETS  # noqa: E402

NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)
HOURS = 24
# Faults per API request, about 5% in all; a 429 comes in a burst of 3.
FAULTS = {"rate_429": 0.005, "rate_500": 0.01, "rate_502": 0.005, "rate_503": 0.005, "rate_timeout": 0.005,
          "rate_drop": 0.005, "rate_truncate": 0.005, "rate_malformed": 0.005, "rate_slow": 0.005}


def tiny_model() -> Path:
    from fd_pipeline.embedding import build_tiny_bge_m3

    path = Path(__file__).resolve().parent / ".cache" / "tiny-bge-m3"
    if not (path / "sparse_linear.pt").is_file():
        build_tiny_bge_m3(path)
    return path


def run(label: str, emu, resources: dict, first: str, last: str) -> dict:
    import dagster as dg

    from fd_pipeline.definitions import defs

    emu.stats.reset()
    started = time.perf_counter()
    result = dg.materialize([defs.get_assets_def(k) for k in ASSETS], resources=resources, raise_on_error=True,
                            tags=range_tags(first, last))
    wall = time.perf_counter() - started
    steps = {e.step_key: round(e.event_specific_data.duration_ms / 1000, 2)
             for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    snap = emu.stats.snapshot()
    row = {"run": label, "wall_s": round(wall, 2), "steps_s": steps, "requests": snap["requests"], "credits": snap["credits"],
           "throttled_429": snap["throttled"], "faults": sum(snap["faults"].values()),
           "loadavg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=600)
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--plan", default="growth")
    ap.add_argument("--rate-window", type=float, default=3.0, help="the emulator's rate window, seconds")
    ap.add_argument("--fault-scale", type=float, default=1.0, help="multiplies every fault rate (0: no faults)")
    ap.add_argument("--timeout-fault-s", type=float, default=12.0, help="how long a 'timeout' fault holds a request")
    ap.add_argument("--client-timeout", type=float, default=10.0, help="the client's read timeout (FRESHDESK_TIMEOUT)")
    ap.add_argument("--per-page", type=int, default=100, help="tickets per list page (fewer: more pages on a small desk)")
    ap.add_argument("--database-url", help="Postgres sync log (default: SQLite in a temporary folder)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()

    start = NOW - timedelta(hours=HOURS)
    os.environ.setdefault("FD_PARTITIONS_START", hour_key(start))
    logging.basicConfig(level=logging.WARNING)
    from fd_pipeline.emulator import Emulator, FaultConfig
    from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource

    model = tiny_model()
    faults = FaultConfig(seed=args.seed, timeout_s=args.timeout_fault_s,
                         **{k: v * args.fault_scale for k, v in FAULTS.items()})
    emu = Emulator(seed=args.seed, tickets=args.tickets, articles=args.articles, now=NOW, span_hours=HOURS,
                   plan=args.plan, rate_window_s=args.rate_window).start()
    rows = []
    try:
        emu.set_faults(faults)
        with tempfile.TemporaryDirectory(prefix="fd-resync-") as tmp:
            db_url = args.database_url or f"sqlite:///{Path(tmp) / 'sync_state.db'}"
            resources = {
                "freshdesk": FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key, timeout=args.client_timeout,
                                               per_page=args.per_page),
                "embedder": EmbedderResource(model=str(model), device="cpu"),
                "qdrant": QdrantResource(path=str(Path(tmp) / "qdrant")),
                "sync_log": SyncLogResource(database_url=db_url),
                "sync_settings": SyncSettingsResource(max_failure_ratio=1.0),
            }
            first, last = hour_key(start), hour_key(NOW - timedelta(hours=1))
            print(f"{args.tickets} tickets ({args.per_page} per page) over {HOURS} h, plan {args.plan}, {args.rate_window:g} s window, "
                  f"faults x{args.fault_scale:g}, sync log {db_url.split(':')[0]}", flush=True)
            rows.append(run("initial", emu, resources, first, last))
            rows.append(run("resync", emu, resources, first, last))
    finally:
        emu.stop()
    print(f"resync / initial wall: {rows[1]['wall_s'] / rows[0]['wall_s']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

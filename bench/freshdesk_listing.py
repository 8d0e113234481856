"""Benchmark: list N tickets with their conversations against the emulator at the Enterprise
plan's limit (700 credits per window, tickets-list sub-limit 200), with a shortened window.

Reports wall time, API calls and credits against the minimum possible for that listing
(ceil(n/100) list calls x 3 credits + ceil(convs/100) conversation calls per ticket that has
conversations), 429s received, and what the same credits cost at Freshdesk's real 60 s window.

    .venv/bin/python bench/freshdesk_listing.py [--tickets 10000] [--window 6]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fd_pipeline.emulator import Emulator
from fd_pipeline.freshdesk import FreshdeskClient, Ticket

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
PLAN_TOTAL, PLAN_LIST = 700, 200


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=6.0, help="emulator rate window in seconds (real: 60)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "freshdesk_listing.json"))
    args = ap.parse_args()

    with Emulator(seed=11, tickets=args.tickets, articles=0, now=NOW, span_hours=72, plan="enterprise",
                  rate_window_s=args.window) as emu:
        client = FreshdeskClient(api_key=emu.api_key, base_url=emu.base_url, max_retries=5)
        t0 = time.perf_counter()
        n_tickets = n_convs = 0
        min_conv_calls = 0
        for item in client.iter_tickets_updated(start=NOW - timedelta(days=4), end=NOW + timedelta(seconds=1)):
            if not isinstance(item, Ticket):
                continue
            n_tickets += 1
            convs = client.list_conversations(item.id)
            n_convs += len(convs)
            min_conv_calls += math.ceil(len(convs) / 100)  # a ticket with none still needs 1 call to know
        wall = time.perf_counter() - t0
        stats = client.stats.snapshot()
        emu_stats = emu.stats.snapshot()
        client.close()

    list_calls_min = math.ceil(n_tickets / 100)
    min_credits = list_calls_min * 3 + min_conv_calls
    # Lower bound on time under the limits: whichever budget runs out last.
    windows_needed = max(min_credits / PLAN_TOTAL, list_calls_min * 3 / PLAN_LIST)
    bound_s = max(math.ceil(windows_needed) - 1, 0) * args.window
    conv_calls = stats.by_endpoint.get("conversations", 0)
    result = {
        "tickets": n_tickets,
        "conversations": n_convs,
        "window_s": args.window,
        "plan": "enterprise (700 credits/window, tickets-list 200)",
        "wall_s": round(wall, 2),
        "api_calls": stats.calls,
        "min_api_calls": list_calls_min + min_conv_calls,
        "credits": stats.credits,
        "min_credits": min_credits,
        "list_calls": stats.by_endpoint.get("tickets", 0),
        "conversation_calls": conv_calls,
        "throttled_429": stats.throttled,
        "emulator_429_sent": emu_stats["throttled"],
        "retries": stats.retries,
        "paced_s": round(stats.paced_s, 2),
        "learnt_window_s": None if client.pacer.window_s is None else round(client.pacer.window_s, 3),
        "lower_bound_s_at_this_window": round(bound_s, 1),
        "credits_per_window_achieved": round(stats.credits / (wall / args.window), 1),
        # At 60 s windows the same credits need credits/700 windows (pacing dominates latency).
        "projected_wall_s_at_60s_window": round(stats.credits / PLAN_TOTAL * 60, 1),
    }

    rows = [
        ("tickets listed", f"{n_tickets}"),
        ("conversations read", f"{n_convs}"),
        ("rate window (emulator)", f"{args.window:g} s (Freshdesk: 60 s)"),
        ("wall time", f"{wall:.1f} s"),
        ("lower bound at this window", f"{bound_s:.1f} s"),
        ("API calls / minimum", f"{stats.calls} / {list_calls_min + min_conv_calls}"),
        ("  list calls", f"{stats.by_endpoint.get('tickets', 0)} (min {list_calls_min})"),
        ("  conversation calls", f"{conv_calls} (min {min_conv_calls})"),
        ("credits / minimum", f"{stats.credits} / {min_credits}"),
        ("credits per window achieved", f"{result['credits_per_window_achieved']} (limit {PLAN_TOTAL})"),
        ("429s received", f"{stats.throttled} (emulator sent {emu_stats['throttled']})"),
        ("pacing waits", f"{stats.paced_s:.1f} s"),
        ("window learnt by the pacer", f"{result['learnt_window_s']} s"),
        ("same credits at a 60 s window", f"~{result['projected_wall_s_at_60s_window'] / 60:.1f} min"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

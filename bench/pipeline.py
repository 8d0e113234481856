"""Benchmark the whole pipeline against its ceiling and its predecessor, on the Freshdesk emulator.

Per configuration (model x store), in one child process so peak RSS is that run's own:
  initial    one single-run backfill of 24 hourly partitions (tickets with conversations + KB)
  ceiling    the same unique texts through FlagEmbedding's encode, in one call (same model object)
  predecessor per ticket/article in sequence: one encode call, one single-point upsert, one log insert
  resync     the same 24 partitions again, nothing changed
  changed    ~5% of live tickets mutated (clock +30 min), then that hour's partition
Then the memory runs: one initial backfill per --rss-sizes (tiny model), the emulator in the
parent so the child's peak RSS is the pipeline's alone.

    .venv/bin/python bench/pipeline.py                                   # everything (long)
    .venv/bin/python bench/pipeline.py --configs tiny:memory --tickets 200 --rss-sizes ""   # quick look
    .venv/bin/python bench/pipeline.py --configs full:disk --full-tickets 80 --rss-sizes ""
    .venv/bin/python bench/pipeline.py --configs tiny:memory --tickets 500 --rss-sizes "" --latency-ms 150 --jitter-ms 100

With --latency-ms the emulator delays every API answer (± --jitter-ms), as a Freshdesk 100-300 ms
away does; a "Latency" table then sets each run's ticket fetch against its conversation calls x
the mean latency (what reading them one at a time would take) and the most it read at once.

Prints markdown tables and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, FULL_MODEL_CACHE, RESULTS, machine, peak_rss_mb, rss_now_mb, run_child, table, write_json  # noqa: E402
from fd_pipeline.partitions import hour_key, range_tags  # noqa: E402
from fd_pipeline.domains import ASSETS, CHAINS  # noqa: E402
from fd_pipeline.knowledge_base.collection import KB_ASSETS  # noqa: E402
from fd_pipeline.tickets.collection import TICKET_ASSETS  # noqa: E402

NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)
HOURS = 24
RAW = tuple(c.raw for c in CHAINS)
EMBEDDINGS = tuple(c.embeddings for c in CHAINS)
COLLECTIONS = tuple(c.collection for c in CHAINS)
# stage -> (the assets that time it, their run_seconds_<key> figures)
STAGE_ASSETS = {
    "fetch": (RAW, ("fetch",)),
    "embed": (EMBEDDINGS, ("embed",)),
    "embed_cache": (EMBEDDINGS, ("store",)),
    "write": (COLLECTIONS, ("write",)),
    "log": (COLLECTIONS, ("log",)),
}


# The definitions refuse to load without it; the bench's desk is dated, so its first hour is set
# here (and inherited by the children), whatever the environment says.
os.environ["FD_PARTITIONS_START"] = hour_key(NOW - timedelta(hours=HOURS))


def model_dir(kind: str) -> Path:
    from fd_pipeline.embedding import build_random_bge_m3, build_tiny_bge_m3

    if kind == "tiny":
        path = CACHE / "tiny-bge-m3"
        if not (path / "sparse_linear.pt").is_file():
            build_tiny_bge_m3(path)
        return path
    if not (FULL_MODEL_CACHE / "sparse_linear.pt").is_file():
        from bench.embedder import bench_words

        build_random_bge_m3(FULL_MODEL_CACHE, extra_words=bench_words())
    return FULL_MODEL_CACHE


def shared_memory_qdrant(name: str):
    """A QdrantResource whose ':memory:' store outlives each asset: the stock resource opens a new
    client per asset, which would hand every asset an empty in-memory store."""
    from fd_pipeline.resources import QdrantResource
    from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig

    stores: dict[str, VectorStore] = _SHARED_STORES

    class SharedMemoryQdrant(QdrantResource):
        store_name: str = "bench"

        @contextmanager
        def open(self):
            store = stores.get(self.store_name)
            if store is None:
                store = stores[self.store_name] = VectorStore(VectorStoreConfig(path=":memory:"))
            yield store

    return SharedMemoryQdrant(store_name=name)


_SHARED_STORES: dict = {}


def _assets():
    from fd_pipeline.definitions import defs

    return [defs.get_assets_def(k) for k in ASSETS]


def _metadata(result) -> dict[str, dict]:
    """asset -> its numeric metadata for the whole run (`run_metadata.run_totals`)."""
    from fd_pipeline.run_metadata import run_totals

    return run_totals(result.get_asset_materialization_events())


def _require_metadata(md: dict[str, dict]) -> None:
    """Fail loudly when the assets' metadata names change, instead of tabulating zeros."""
    wanted = ((TICKET_ASSETS.raw, "run_seconds_fetch"), (TICKET_ASSETS.embeddings, "run_seconds_embed"),
              (TICKET_ASSETS.collection, "run_seconds_write"), (TICKET_ASSETS.collection, "count_new"))
    missing = [f"{a}.{k}" for a, k in wanted if k not in md.get(a, {})]
    if missing:
        raise RuntimeError(f"the materialisations carry no {', '.join(missing)}: the assets' metadata names "
                           "changed; update bench/pipeline.py to read them")


def _conv_calls(snapshot: dict) -> int:
    return sum(snapshot["conversation_calls"].values())


def minimum_credits(emu, start: datetime, end: datetime, conversation_tickets: int) -> dict:
    """The fewest credits Freshdesk's API allows for this window: listing pages (3 credits with
    descriptions), the deleted and spam listings, one conversations call per new or changed ticket,
    and the KB tree (categories, each category's folders, each folder's articles and subfolders)."""
    lo, hi = start.timestamp(), end.timestamp()
    in_window = [t for t in emu.desk.tickets.values() if lo <= t.updated_at < hi]
    live = sum(1 for t in in_window if not t.deleted and not t.spam)
    deleted = sum(1 for t in in_window if t.deleted)
    spam = sum(1 for t in in_window if t.spam and not t.deleted)
    pages = lambda n: max(1, math.ceil(n / 100))  # noqa: E731
    per_folder: dict[int, int] = {}
    for a in emu.desk.articles.values():
        per_folder[a.folder_id] = per_folder.get(a.folder_id, 0) + 1
    kb = 1 + len(emu.desk.categories) + sum(pages(per_folder.get(f, 0)) + 1 for f in emu.desk.folders)
    tickets = 3 * pages(live) + pages(deleted) + pages(spam) + conversation_tickets
    return {"live_in_window": live, "credits": tickets + kb, "ticket_credits": tickets, "kb_credits": kb}


def materialize(resources: dict, first: str, last: str) -> tuple[object, float]:
    import dagster as dg

    kwargs: dict = {}
    tags: dict = {}
    if first == last:
        kwargs["partition_key"] = first
    else:
        tags = range_tags(first, last)
    started, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(_assets(), resources=resources, tags=tags, raise_on_error=True, **kwargs)
    _LAST_CPU["s"] = round(time.process_time() - cpu, 3)
    return result, time.perf_counter() - started


# Process CPU seconds of the last materialisation: steadier than wall time on a shared machine.
_LAST_CPU: dict = {}


def scenario(name: str, emu, resources: dict, first: str, last: str, start: datetime, end: datetime,
             conversation_min: int) -> dict:
    emu.stats.reset()
    result, wall = materialize(resources, first, last)
    md = _metadata(result)
    _require_metadata(md)
    snap = emu.stats.snapshot()
    stage = {
        s: round(sum(md.get(a, {}).get(f"run_seconds_{k}", 0.0) for a in assets for k in keys), 3)
        for s, (assets, keys) in STAGE_ASSETS.items()
    }
    tickets_md, kb_md = md.get(TICKET_ASSETS.collection, {}), md.get(KB_ASSETS.collection, {})
    emb = [md.get(a, {}) for a in EMBEDDINGS]
    tickets = sum(int(tickets_md.get(f"count_{k}", 0)) for k in ("new", "changed", "unchanged"))
    articles = sum(int(kb_md.get(f"count_{k}", 0)) for k in ("new", "changed", "unchanged"))
    tokens = sum(int(m.get("count_tokens", 0)) for m in emb)
    minimum = minimum_credits(emu, start, end, conversation_min)
    conversations = "GET /api/v2/tickets/{ticket_id}/conversations"
    return {
        "ticket_fetch_s": round(md.get(TICKET_ASSETS.raw, {}).get("run_seconds_fetch", 0.0), 3),
        "max_conversations_in_flight": snap["max_in_flight_by_endpoint"].get(conversations, 0),
        "max_requests_in_flight": snap["max_in_flight"],
        "scenario": name,
        "wall_s": round(wall, 3),
        "cpu_s": _LAST_CPU["s"],
        "stage_s": stage,
        "tickets": tickets,
        "articles": articles,
        "tickets_per_s": round(tickets / wall, 2),
        "texts_embedded": sum(int(m.get("count_embedded", 0)) for m in emb),
        "cache_hits": sum(int(m.get("count_cached", 0)) for m in emb),
        "tokens": tokens,
        "embed_tokens_per_s": round(tokens / stage["embed"], 1) if stage["embed"] else None,
        "upserted": int(tickets_md.get("count_upserted", 0)) + int(kb_md.get("count_upserted", 0)),
        "deleted": int(tickets_md.get("count_deleted", 0)) + int(kb_md.get("count_deleted", 0)),
        "conversation_calls": _conv_calls(snap),
        "api_requests": snap["requests"],
        "api_credits": snap["credits"],
        "min_credits": minimum["credits"],
        "credits_over_min_pct": round(100 * (snap["credits"] - minimum["credits"]) / minimum["credits"], 2),
        "credits_per_ticket": round(snap["credits"] / max(1, tickets), 3),
        "min_credits_per_ticket": round(minimum["credits"] / max(1, tickets), 3),
        "throttled_429": snap["throttled"],
        "client_retries": sum(int(md.get(a, {}).get("run_api_retries", 0)) for a in RAW),
        "client_paced_wait_s": round(sum(md.get(a, {}).get("run_api_wait_seconds", 0.0) for a in RAW), 3),
        "peak_rss_mb_so_far": peak_rss_mb(),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "minimum": minimum,
        "metadata": md,
    }


def _build_resources(args, emu_url: str, api_key: str, mdir: Path, work: Path, store: str) -> dict:
    from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource

    qdrant = shared_memory_qdrant("pipeline") if store == "memory" else QdrantResource(path=str(work / "qdrant"))
    return {
        "freshdesk": FreshdeskResource(base_url=emu_url, api_key=api_key, max_retries=3),
        "embedder": EmbedderResource(model=str(mdir), device="cpu", threads=args.threads, batch_size=args.batch_size,
                                     max_tokens=args.max_tokens),
        "qdrant": qdrant,
        "sync_log": SyncLogResource(database_url=f"sqlite:///{work / 'sync_state.db'}"),
        "sync_settings": SyncSettingsResource(),
    }


def ceiling(args, embedder, db_url: str, start: datetime, end: datetime) -> dict:
    """The texts the initial sync embedded, in one encode call on the same FlagEmbedding model."""
    from fd_pipeline.knowledge_base.scope import article_documents
    from fd_pipeline.sync_log import SyncLog
    from fd_pipeline.tickets.scope import ticket_documents

    with SyncLog(db_url) as store:
        docs = list(ticket_documents(store, start=start, end=end, model=embedder.identity.key))
        docs += list(article_documents(store))
    texts = list(dict.fromkeys(t for d in docs if not d.removed for t in d.texts.values() if t.strip()))
    # The very model object the pipeline's Embedder loaded: encode() here is FlagEmbedding, unwrapped.
    flag_model = embedder._model().model
    lengths = [len(ids) for ids in flag_model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]
    tokens = sum(min(n, args.max_tokens) for n in lengths)
    started, cpu = time.perf_counter(), time.process_time()
    flag_model.encode(texts, batch_size=args.batch_size, max_length=args.max_tokens)
    seconds = time.perf_counter() - started
    return {"texts": len(texts), "tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
            "cpu_s": round(time.process_time() - cpu, 3),
            "peak_rss_mb_so_far": peak_rss_mb()}


def child_config(args) -> dict:
    import torch

    from fd_pipeline.emulator import Emulator
    from fd_pipeline.freshdesk import FreshdeskClient
    from fd_pipeline.embedding import Embedder
    from fd_pipeline.resources import EmbedderResource
    from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig

    from bench.predecessor import sync_like_predecessor

    torch.set_num_threads(args.threads)
    mdir = model_dir(args.model)
    out: dict = {"model": args.model, "store": args.store, "tickets_generated": args.tickets, "articles_generated": args.articles,
                 "max_tokens": args.max_tokens, "batch_size": args.batch_size, "threads": args.threads,
                 "rate_window_s": args.rate_window, "plan": "enterprise",
                 "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms}
    embedder = Embedder(EmbedderResource(model=str(mdir), device="cpu", threads=args.threads, batch_size=args.batch_size,
                                         max_tokens=args.max_tokens).config())
    started = time.perf_counter()
    embedder.load()
    out["model_load_s"] = round(time.perf_counter() - started, 2)
    _assets()  # imports dagster and the definitions outside the timed runs
    out["rss_after_load_mb"] = rss_now_mb()
    emu = Emulator(seed=args.seed, tickets=args.tickets, articles=args.articles, now=NOW, span_hours=HOURS,
                   plan="enterprise", rate_window_s=args.rate_window, latency_ms=args.latency_ms,
                   jitter_ms=args.jitter_ms).start()
    try:
        with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
            work = Path(tmp)
            resources = _build_resources(args, emu.base_url, emu.api_key, mdir, work, args.store)
            start, end = NOW - timedelta(hours=HOURS), NOW
            first, last = hour_key(start), hour_key(end - timedelta(hours=1))
            live = minimum_credits(emu, start, end, 0)["live_in_window"]
            print(f"[{args.model}:{args.store}] initial sync of {live} live tickets...", file=sys.stderr, flush=True)
            out["initial"] = scenario("initial", emu, resources, first, last, start, end, conversation_min=live)
            print(f"[{args.model}:{args.store}] ceiling...", file=sys.stderr, flush=True)
            out["ceiling"] = ceiling(args, embedder, f"sqlite:///{work / 'sync_state.db'}", start, end)
            print(f"[{args.model}:{args.store}] predecessor...", file=sys.stderr, flush=True)
            emu.stats.reset()
            legacy_store = VectorStore(VectorStoreConfig(path=":memory:" if args.store == "memory" else str(work / "qdrant_legacy")))
            cpu = time.process_time()
            with FreshdeskClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=3) as client:
                out["predecessor"] = sync_like_predecessor(
                    client=client, flag_model=embedder._model().model, identity=embedder.identity, vector_store=legacy_store,
                    log_url=f"sqlite:///{work / 'legacy_sync_logs.db'}", start=start, end=end,
                    batch_size=args.batch_size, max_tokens=args.max_tokens,
                )
            legacy_store.close()
            snap = emu.stats.snapshot()
            out["predecessor"].update(cpu_s=round(time.process_time() - cpu, 3), throttled_429=snap["throttled"], api_credits=snap["credits"],
                                      conversation_calls=_conv_calls(snap), peak_rss_mb_so_far=peak_rss_mb(),
                                      api_requests=snap["requests"], max_requests_in_flight=snap["max_in_flight"])
            print(f"[{args.model}:{args.store}] resync, nothing changed...", file=sys.stderr, flush=True)
            out["resync"] = scenario("resync", emu, resources, first, last, start, end, conversation_min=0)
            emu.clock.advance(1800)
            changed = emu.mutate_random(0.05, seed=args.seed)
            now = emu.clock.now()
            hour = now.replace(minute=0, second=0, microsecond=0)
            print(f"[{args.model}:{args.store}] resync after {len(changed)} tickets changed...", file=sys.stderr, flush=True)
            out["changed"] = scenario("changed", emu, resources, hour_key(hour), hour_key(hour), hour,
                                      hour + timedelta(hours=1), conversation_min=len(changed))
            out["changed"]["tickets_mutated"] = len(changed)
    finally:
        emu.stop()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child_rss(args) -> dict:
    """One initial backfill against the parent's emulator; the peak RSS is the pipeline's alone."""
    import torch

    from fd_pipeline.embedding import Embedder
    from fd_pipeline.resources import EmbedderResource

    torch.set_num_threads(args.threads)
    mdir = model_dir(args.model)
    embedder = Embedder(EmbedderResource(model=str(mdir), device="cpu", threads=args.threads, batch_size=args.batch_size,
                                         max_tokens=args.max_tokens).config())
    embedder.load()
    _assets()  # imports dagster and the definitions before the baseline is read
    baseline = rss_now_mb()
    with tempfile.TemporaryDirectory(prefix="fd-bench-rss-") as tmp:
        work = Path(tmp)
        resources = _build_resources(args, args.base_url, args.api_key, mdir, work, args.store)
        start, end = NOW - timedelta(hours=HOURS), NOW
        result, wall = materialize(resources, hour_key(start), hour_key(end - timedelta(hours=1)))
        md = _metadata(result)
        _require_metadata(md)
    return {"tickets_generated": args.tickets, "store": args.store, "model": args.model, "wall_s": round(wall, 2),
            "rss_before_run_mb": baseline, "peak_rss_mb": peak_rss_mb(),
            "tickets_synced": int(md.get(TICKET_ASSETS.collection, {}).get("count_new", 0)),
            "texts_embedded": int(md.get(TICKET_ASSETS.embeddings, {}).get("count_embedded", 0)),
            "client_throttled": int(md.get(TICKET_ASSETS.raw, {}).get("run_api_throttled", 0)),
            "fetch_s": round(md.get(TICKET_ASSETS.raw, {}).get("run_seconds_fetch", 0.0), 2),
            "client_wait_s": round(md.get(TICKET_ASSETS.raw, {}).get("run_api_wait_seconds", 0.0), 2)}


def _child_args(args, **overrides) -> list[str]:
    values = {"threads": args.threads, "batch_size": args.batch_size, "max_tokens": args.max_tokens, "seed": args.seed,
              "rate_window": args.rate_window, "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, **overrides}
    flags = []
    for key, value in values.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


def rss_runs(args, sizes: list[int]) -> list[dict]:
    from fd_pipeline.emulator import Emulator

    rows = []
    for n in sizes:
        emu = Emulator(seed=args.seed, tickets=n, articles=args.articles, now=NOW, span_hours=HOURS, plan="enterprise",
                       rate_window_s=args.rss_rate_window, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms).start()
        try:
            print(f"[rss] initial backfill of {n} tickets (tiny model, {args.rss_store} store)...", file=sys.stderr, flush=True)
            row = run_child(["--child", "rss", "--model", "tiny", "--store", args.rss_store, "--tickets", str(n),
                             "--base-url", emu.base_url, "--api-key", emu.api_key,
                             *_child_args(args, rate_window=args.rss_rate_window)], RESULTS / f".rss-{n}.json")
            snap = emu.stats.snapshot()
            row.update(throttled_429=snap["throttled"], api_requests=snap["requests"], api_credits=snap["credits"],
                       conversation_calls=_conv_calls(snap), rate_window_s=args.rss_rate_window)
        finally:
            emu.stop()
        rows.append(row)
    return rows


def summarise(configs: list[dict], rss: list[dict]) -> tuple[str, list[dict]]:
    lines: list[str] = []
    targets: list[dict] = []
    scenario_rows, stage_rows, api_rows = [], [], []
    for c in configs:
        label = f"{c['model']}/{c['store']}"
        for key in ("initial", "resync", "changed"):
            s = c[key]
            scenario_rows.append({
                "config": label, "scenario": key, "tickets": s["tickets"], "articles": s["articles"], "wall s": s["wall_s"],
                "tickets/s": s["tickets_per_s"], "texts embedded": s["texts_embedded"], "embed tok/s": s["embed_tokens_per_s"],
                "Qdrant upserts": s["upserted"], "conv calls": s["conversation_calls"], "peak RSS MB": s["peak_rss_mb_so_far"],
            })
            stage_rows.append({"config": label, "scenario": key, **{f"{k} s": v for k, v in s["stage_s"].items()},
                               "dagster+other s": round(s["wall_s"] - sum(s["stage_s"].values()), 2)})
            api_rows.append({"config": label, "scenario": key, "requests": s["api_requests"], "credits": s["api_credits"],
                             "minimum": s["min_credits"], "over min %": s["credits_over_min_pct"],
                             "credits/ticket": s["credits_per_ticket"], "min/ticket": s["min_credits_per_ticket"],
                             "429s": s["throttled_429"], "window s": c["rate_window_s"]})
        p = c["predecessor"]
        scenario_rows.append({
            "config": label, "scenario": "predecessor", "tickets": p["counts"]["tickets"], "articles": p["counts"]["articles"],
            "wall s": p["wall_s"], "tickets/s": round(p["counts"]["tickets"] / p["wall_s"], 2), "texts embedded": p["counts"]["texts"],
            "embed tok/s": round(p["counts"]["tokens"] / p["seconds"]["embed"], 1) if p["seconds"]["embed"] else None,
            "Qdrant upserts": p["counts"]["upserts"], "conv calls": p["conversation_calls"], "peak RSS MB": p["peak_rss_mb_so_far"],
        })
        stage_rows.append({"config": label, "scenario": "predecessor", "fetch s": p["seconds"]["fetch"], "embed s": p["seconds"]["embed"],
                           "write s": p["seconds"]["write"], "log s": p["seconds"]["log"]})
        api_rows.append({"config": label, "scenario": "predecessor", "credits": p["api_credits"], "429s": p["throttled_429"],
                         "window s": c["rate_window_s"]})
        ce = c["ceiling"]
        scenario_rows.append({"config": label, "scenario": "ceiling (1 encode)", "texts embedded": ce["texts"], "wall s": ce["seconds"],
                              "embed tok/s": ce["tokens_per_s"], "peak RSS MB": ce["peak_rss_mb_so_far"]})

        init, rs, ch = c["initial"], c["resync"], c["changed"]
        speedup = round(p["wall_s"] / init["wall_s"], 2)
        if c["model"] == "full":
            ratio = round((init["embed_tokens_per_s"] or 0) / ce["tokens_per_s"], 3)
            targets.append({"target": "full: embed stage >= 90% of ceiling tok/s", "config": label,
                            "figure": f"{init['embed_tokens_per_s']} vs {ce['tokens_per_s']} tok/s = {ratio:.1%}", "met": ratio >= 0.9})
            targets.append({"target": "full: whole sync >= 1.3x faster than predecessor", "config": label,
                            "figure": f"{p['wall_s']} s / {init['wall_s']} s = {speedup}x", "met": speedup >= 1.3})
            share = rs["wall_s"] / init["wall_s"]
            targets.append({"target": "full: re-sync (nothing changed) < 5% of initial", "config": label,
                            "figure": f"{rs['wall_s']} s / {init['wall_s']} s = {share:.1%}", "met": share < 0.05})
        else:
            targets.append({"target": "tiny: >= 5x faster than predecessor", "config": label,
                            "figure": f"{p['wall_s']} s / {init['wall_s']} s = {speedup}x", "met": speedup >= 5})
        targets.append({"target": "re-sync (nothing changed): 0 embeddings, 0 conversation calls", "config": label,
                        "figure": f"{rs['texts_embedded']} embedded, {rs['conversation_calls']} conversation calls",
                        "met": rs["texts_embedded"] == 0 and rs["conversation_calls"] == 0})
        worst = max(s["credits_over_min_pct"] for s in (init, rs, ch))
        targets.append({"target": "API credits within 5% of the minimum", "config": label,
                        "figure": "; ".join(f"{s['scenario']} {s['api_credits']}/{s['min_credits']}" for s in (init, rs, ch)),
                        "met": worst <= 5})
        throttled = sum(s["throttled_429"] for s in (init, rs, ch))
        targets.append({"target": "zero 429s at the Enterprise limit", "config": label,
                        "figure": f"{throttled} (700 credits per {c['rate_window_s']} s window)", "met": throttled == 0})
    if any(c.get("latency_ms") or c.get("jitter_ms") for c in configs):
        latency_rows = []
        for c in configs:
            label = f"{c['model']}/{c['store']}"
            # The jitter is uniform and symmetric, so the mean delay is the latency (clipped at 0).
            mean_s = c["latency_ms"] / 1000
            for key in ("initial", "resync", "changed"):
                s = c[key]
                serial = s["conversation_calls"] * mean_s
                latency_rows.append({
                    "config": label, "scenario": key, "latency": f"{c['latency_ms']:g} ± {c['jitter_ms']:g} ms",
                    "requests": s["api_requests"], "requests x latency s": round(s["api_requests"] * mean_s, 1),
                    "conv calls": s["conversation_calls"], "calls x latency s": round(serial, 1),
                    "ticket fetch s": s["ticket_fetch_s"],
                    "fetch / serial": f"{s['ticket_fetch_s'] / serial:.0%}" if serial else None,
                    "conv in flight (max)": s["max_conversations_in_flight"], "wall s": s["wall_s"]})
            p = c["predecessor"]
            latency_rows.append({"config": label, "scenario": "predecessor", "latency": f"{c['latency_ms']:g} ± {c['jitter_ms']:g} ms",
                                 "requests": p.get("api_requests"),
                                 "requests x latency s": round(p["api_requests"] * mean_s, 1) if "api_requests" in p else None,
                                 "conv calls": p["conversation_calls"],
                                 "calls x latency s": round(p["conversation_calls"] * mean_s, 1),
                                 "ticket fetch s": p["seconds"]["fetch"], "wall s": p["wall_s"],
                                 "conv in flight (max)": p.get("max_requests_in_flight")})
            init = c["initial"]
            serial = init["conversation_calls"] * mean_s
            targets.append({"target": "with latency: conversation reads overlap (ticket fetch < 50% of calls x latency)",
                            "config": label,
                            "figure": f"{init['ticket_fetch_s']} s vs {serial:.1f} s, up to "
                                      f"{init['max_conversations_in_flight']} at once",
                            "met": bool(serial) and init["ticket_fetch_s"] < 0.5 * serial
                            and init["max_conversations_in_flight"] > 1})
        lines.append(table(latency_rows, ["config", "scenario", "latency", "requests", "requests x latency s", "wall s",
                                          "conv calls", "calls x latency s", "ticket fetch s",
                                          "fetch / serial", "conv in flight (max)"],
                           "Latency (every API answer delayed; calls x latency = reading conversations one at a time)"))
        lines.append("")
    lines.append(table(scenario_rows, ["config", "scenario", "tickets", "articles", "wall s", "tickets/s", "texts embedded",
                                       "embed tok/s", "Qdrant upserts", "conv calls", "peak RSS MB"], "Scenarios"))
    lines.append("")
    lines.append(table(stage_rows, ["config", "scenario", "fetch s", "embed s", "embed_cache s", "write s", "log s", "dagster+other s"],
                       "Stages (from the materialisation metadata; predecessor timed inline)"))
    lines.append("")
    lines.append(table(api_rows, ["config", "scenario", "requests", "credits", "minimum", "over min %", "credits/ticket",
                                  "min/ticket", "429s", "window s"], "Freshdesk API"))
    if rss:
        lines.append("")
        lines.append(table(rss, ["tickets_generated", "tickets_synced", "store", "wall_s", "rss_before_run_mb", "peak_rss_mb",
                                 "api_requests", "fetch_s", "client_wait_s", "throttled_429", "rate_window_s"], "Peak RSS of one backfill (tiny model)"))
        by_n = sorted(rss, key=lambda r: r["tickets_generated"])
        if len(by_n) >= 2:
            growth = round(by_n[-1]["peak_rss_mb"] - by_n[0]["peak_rss_mb"], 1)
            targets.append({"target": "peak RSS grows < 300 MB from 2,000 to 20,000 tickets",
                            "config": f"tiny/{by_n[0]['store']}",
                            "figure": f"{by_n[0]['peak_rss_mb']} -> {by_n[-1]['peak_rss_mb']} MB (+{growth})", "met": growth < 300})
        throttled = sum(r["throttled_429"] for r in rss)
        targets.append({"target": "zero 429s at the Enterprise limit (large backfills)", "config": f"tiny/{rss[0]['store']}",
                        "figure": f"{throttled} (700 credits per {rss[0]['rate_window_s']} s window)", "met": throttled == 0})
    lines.append("")
    for t in targets:
        t["met"] = "met" if t["met"] else "NOT met"
    lines.append(table(targets, ["target", "config", "figure", "met"], "Targets"))
    return "\n".join(lines), targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="tiny:memory,tiny:disk,full:disk", help="model:store pairs (tiny|full : memory|disk)")
    ap.add_argument("--tickets", type=int, default=1000, help="tickets generated for tiny-model configs")
    ap.add_argument("--full-tickets", type=int, default=90, help="tickets generated for full-model configs")
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--rss-sizes", default="2000,20000", help="tickets per memory run ('' to skip)")
    ap.add_argument("--rss-store", default="memory", choices=("memory", "disk"))
    ap.add_argument("--rss-rate-window", type=float, default=3.0)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--rate-window", type=float, default=6.0,
                    help="the emulator's credit window in seconds (Freshdesk: 60; 700 credits per window either way)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay every emulator answer by this much (default 0)")
    ap.add_argument("--jitter-ms", type=float, default=0.0, help="spread that delay uniformly by ± this much")
    ap.add_argument("--out", default=str(RESULTS / "pipeline.json"))
    # child-only
    ap.add_argument("--child", choices=("config", "rss"), help=argparse.SUPPRESS)
    ap.add_argument("--model", default="tiny", help=argparse.SUPPRESS)
    ap.add_argument("--store", default="memory", help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    ap.add_argument("--api-key", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        logging.basicConfig(level=logging.WARNING)
        out = child_config(args) if args.child == "config" else child_rss(args)
        Path(args.result_file).write_text(json.dumps(out, default=str))
        return

    for kind in {c.split(":")[0] for c in args.configs.split(",") if c} | ({"tiny"} if args.rss_sizes else set()):
        model_dir(kind)  # built once here, not raced by children
    started = time.perf_counter()
    configs = []
    for pair in [c for c in args.configs.split(",") if c]:
        model, store = pair.split(":")
        n = args.full_tickets if model == "full" else args.tickets
        configs.append(run_child(["--child", "config", "--model", model, "--store", store, "--tickets", str(n),
                                  "--articles", str(args.articles), *_child_args(args)], RESULTS / f".{model}-{store}.json"))
    sizes = [int(x) for x in args.rss_sizes.split(",") if x.strip()]
    rss = rss_runs(args, sizes) if sizes else []
    text, targets = summarise(configs, rss)
    print(text)
    path = write_json(Path(args.out).name, {"machine": machine(), "args": vars(args), "configs": configs, "rss": rss,
                                            "targets": targets, "total_s": round(time.perf_counter() - started, 1)})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

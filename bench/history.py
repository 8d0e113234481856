"""Benchmark a first sync of years of history: one single-run backfill of many hourly partitions.

A small desk (default 200 tickets, 20 articles) spread over the whole range, the tiny model and an
in-memory Qdrant, so what is measured is the cost per partition: Dagster's bookkeeping (one
materialisation event per partition and asset, the instance's storage) and the project's own
per-partition work. Per --hours value, one backfill of all six assets, on each --instances:

  sqlite     a fresh DAGSTER_HOME with the project's dagster.yaml (the default instance)
  memory     Dagster's ephemeral in-memory instance (the floor)
  postgres   a DAGSTER_HOME whose storage is Postgres (--postgres-url, e.g. a private cluster)

With --profile, the backfill runs under cProfile and the report lists where the time went:
functions by cumulative and own time, and the instance's events by type.

--variants compares ways to cut Dagster's cost per partition, each a separate backfill:
  baseline       Dagster as configured
  subset         DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=true: one "planned" event per
                 asset for the whole range instead of one per partition (Dagster's own switch;
                 the price: a failed range run leaves its hours missing rather than failed)
  cached         fd_pipeline.dagster_sqlite.SqliteStorage: Dagster's SQLite storage keeping one
                 engine per event-log shard (so SQLAlchemy's compiled-statement cache survives)
  subset+cached  both
  subset+nosync  subset, and PRAGMA synchronous=OFF on Dagster's SQLite files in this process: each
                 event is two SQLite commits, and each commit waits for the disk
  subset+cached+wal  subset+cached, and WAL with synchronous=NORMAL on Dagster's SQLite files: commits
                 stop waiting for the disk, keeping the files consistent across a crash
  batch          DAGSTER_EVENT_BATCH_SIZE=1000: Dagster hands a step's per-partition asset events to
                 the storage's store_event_batch 1,000 at a time (Postgres: one INSERT per batch;
                 Dagster 1.13's SQLite storage has no batch write and stores them one by one)
  subset+cached+batch  all three

After every run on a stored instance the bench checks what the UI shows: every hour of the range
materialised for every asset, each raw_tickets hour with its own counts, the run's figures on the
last hour; it fails the run otherwise and reports the hours with tickets and their total.

    .venv/bin/python bench/history.py --hours 720 --instances sqlite,memory --profile
    .venv/bin/python bench/history.py --hours 8760 --instances sqlite
    .venv/bin/python bench/history.py --hours 720 --instances sqlite --variants baseline,subset,subset+nosync
    .venv/bin/python bench/history.py --hours 720 --instances sqlite --variants subset+cached,subset+cached+batch
    .venv/bin/python bench/history.py --hours 720 --instances postgres --postgres-url postgresql://u@127.0.0.1:5432/dagster

Prints a table and writes bench/results/history.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, ROOT, machine, peak_rss_mb, table, write_json  # noqa: E402
# Imported before main() sets FD_PARTITIONS_START: bench.pipeline sets its own 24-hour start on import.
from bench.pipeline import shared_memory_qdrant  # noqa: E402
from fd_pipeline.partitions import hour_key, range_tags  # noqa: E402
from fd_pipeline.domains import ASSETS  # noqa: E402
from fd_pipeline.tickets.collection import TICKET_ASSETS  # noqa: E402

NOW = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)


def instance_for(kind: str, home: Path, postgres_url: str | None, variant: str = "baseline"):
    """A DagsterInstance of `kind` in `home` (None: the ephemeral one `materialize` makes itself)."""
    import dagster as dg

    if kind == "memory":
        return None
    home.mkdir(parents=True, exist_ok=True)
    # The project's dagster.yaml names fd_pipeline.dagster_sqlite (as its instance class's default
    # storage); the variants pick the storage.
    text = re.sub(r"^(?:storage|instance_class):\n(?:[ #].*\n|\n)*", "", (ROOT / "dagster.yaml").read_text(), flags=re.M)
    if kind == "postgres":
        if not postgres_url:
            raise SystemExit("--instances postgres needs --postgres-url")
        # psycopg2, as dagster.yaml's commented production block says (psycopg 3 breaks NOTIFY).
        url = postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        text += f"\nstorage:\n  postgres:\n    postgres_url: \"{url}\"\n"
    elif "cached" in variant:
        text += ("\nstorage:\n  custom:\n    module: fd_pipeline.dagster_sqlite\n    class: SqliteStorage\n"
                 f"    config:\n      base_dir: \"{home}\"\n")
    (home / "dagster.yaml").write_text(text)
    return dg.DagsterInstance.from_config(str(home))


def resources(emu, model: Path, work: Path) -> dict:
    from fd_pipeline.resources import EmbedderResource, FreshdeskResource, SyncLogResource, SyncSettingsResource

    return {
        "freshdesk": FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key, max_retries=3),
        "embedder": EmbedderResource(model=str(model), device="cpu", threads=1, batch_size=32, max_tokens=256),
        "qdrant": shared_memory_qdrant(f"history-{work.name}"),
        "sync_log": SyncLogResource(database_url=f"sqlite:///{work / 'sync_state.db'}"),
        "sync_settings": SyncSettingsResource(),
    }


def event_counts(instance, run_id: str) -> dict[str, int]:
    if instance is None:
        return {}
    records = instance.all_logs(run_id)
    return dict(Counter(r.dagster_event.event_type_value if r.dagster_event else "log_message" for r in records))


def check_ui_truth(instance, hours: list[str]) -> dict:
    """What the UI would show after the range run: every hour of every asset, with its own metadata.

    Raises if an hour is missing or lacks its counts; returns figures to compare across variants.
    """
    import dagster as dg

    expected = set(hours)
    for name in ASSETS:
        done = instance.get_materialized_partitions(dg.AssetKey(name))
        if done != expected:
            raise AssertionError(f"{name}: {len(expected - done)} hours missing, {len(done - expected)} unexpected")
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(TICKET_ASSETS.raw)),
                                              limit=len(hours) + 1).records
    by_hour = {r.partition_key: r.asset_materialization.metadata for r in records}
    if set(by_hour) != expected or any("count_fetched" not in md for md in by_hour.values()):
        raise AssertionError("raw_tickets: an hour's materialisation or its count_fetched is missing")
    if by_hour[hours[-1]].get("run_hours") is None or by_hour[hours[-1]]["run_hours"].value != len(hours):
        raise AssertionError("raw_tickets: the run's figures are not on the range's last hour")
    fetched = {h: md["count_fetched"].value for h, md in by_hour.items()}
    busy = sum(1 for v in fetched.values() if v)
    if busy < 2:
        raise AssertionError(f"raw_tickets: only {busy} hours carry tickets; per-hour counts were lost")
    return {"busy_hours": busy, "tickets_fetched": sum(fetched.values())}


def profile_summary(profiler: cProfile.Profile, top: int) -> dict:
    """The functions with the most cumulative and the most own time, as printable lines."""
    out = {}
    for key in ("cumulative", "tottime"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(key).print_stats(top)
        lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        out[key] = lines[start:start + top + 1]
    return out


_NOSYNC = {"on": False, "wal": False}


def _install_nosync() -> None:
    """PRAGMA synchronous=OFF (nosync), or WAL with synchronous=NORMAL (wal), on every SQLite
    connection Dagster's storage opens in this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if getattr(_install_nosync, "done", False):
        return

    @event.listens_for(Engine, "connect")
    def _pragma(dbapi_connection, _record):  # noqa: ANN001
        if (_NOSYNC["on"] or _NOSYNC["wal"]) and type(dbapi_connection).__module__.startswith("sqlite3"):
            path = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
            if "dagster_home" not in path:  # Dagster's own files, not the project's sync log
                return
            if _NOSYNC["on"]:
                dbapi_connection.execute("PRAGMA synchronous=OFF")
            elif _NOSYNC["wal"]:
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
                dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    _install_nosync.done = True


_BATCHES = Counter()


def _count_batches() -> None:
    """Count the batches Dagster hands its event-log storage (SQLite inherits the base class's loop)."""
    from dagster._core.storage.event_log.base import EventLogStorage

    if getattr(_count_batches, "done", False):
        return
    inner = EventLogStorage.store_event_batch

    def store_event_batch(self, events):  # noqa: ANN001, ANN202
        _BATCHES["calls"] += 1
        _BATCHES["events"] += len(events)
        return inner(self, events)

    EventLogStorage.store_event_batch = store_event_batch
    _count_batches.done = True


VARIANTS = ("baseline", "subset", "subset+nosync", "cached", "subset+cached", "batch", "subset+cached+batch",
            "subset+cached+wal", "cached+batch")


def apply_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true" if "subset" in variant else "false"
    # Dagster reads this on every event; 0 turns batching off.
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "1000" if "batch" in variant else "0"
    _install_nosync()
    _count_batches()
    _BATCHES.clear()
    _NOSYNC["on"] = variant.endswith("nosync")
    _NOSYNC["wal"] = variant.endswith("wal")


def run_one(hours: int, kind: str, args, variant: str = "baseline") -> dict:
    import dagster as dg

    from fd_pipeline.definitions import defs
    from fd_pipeline.embedding import build_tiny_bge_m3
    from fd_pipeline.emulator import Emulator

    model = CACHE / "tiny-bge-m3"
    if not (model / "sparse_linear.pt").is_file():
        build_tiny_bge_m3(model)
    assets = [defs.get_assets_def(name) for name in ASSETS]
    start = NOW - timedelta(hours=hours)
    first, last = hour_key(start), hour_key(NOW - timedelta(hours=1))
    emu = Emulator(seed=args.seed, tickets=args.tickets, articles=args.articles, now=NOW, span_hours=hours,
                   plan="enterprise").start()
    work = Path(tempfile.mkdtemp(prefix=f"fd-history-{kind}-{hours}-"))
    try:
        instance = instance_for(kind, work / "dagster_home", args.postgres_url, variant)
        res = resources(emu, model, work)
        tags = range_tags(first, last)
        profiler = cProfile.Profile() if args.profile else None
        print(f"[{kind}] {hours} partitions {first}..{last}, {args.tickets} tickets...", file=sys.stderr, flush=True)
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = dg.materialize(assets, resources=res, tags=tags, instance=instance, raise_on_error=True)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        materialisations = len(result.get_asset_materialization_events())
        row = {
            "instance": kind,
            "variant": variant,
            "partitions": hours,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "ms_per_partition": round(1000 * wall / hours, 1),
            "materialisations": materialisations,
            "ms_per_materialisation": round(1000 * wall / max(1, materialisations), 2),
            "tickets": args.tickets,
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
            "events": event_counts(instance, result.run_id),
            "event_batches": dict(_BATCHES),
        }
        if instance is not None:
            row["ui_truth"] = check_ui_truth(instance, [hour_key(start + timedelta(hours=i)) for i in range(hours)])
        if profiler:
            row["profile"] = profile_summary(profiler, args.profile_top)
            profiler.dump_stats(str(CACHE / f"history-{kind}-{variant}-{hours}.prof"))
        if instance is not None:
            instance.dispose()
        return row
    finally:
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", default="720", help="comma-separated partition counts, e.g. 720,8760")
    ap.add_argument("--instances", default="sqlite", help="comma-separated: sqlite, memory, postgres")
    ap.add_argument("--postgres-url", help="Postgres database for --instances postgres (a fresh, empty one)")
    ap.add_argument("--tickets", type=int, default=200)
    ap.add_argument("--articles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--variants", default="baseline", help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--profile", action="store_true", help="run under cProfile and report the top functions")
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--out", default="history.json")
    args = ap.parse_args()

    hours = [int(h) for h in args.hours.split(",")]
    # The definitions read the first partition when they load: the longest range must fit.
    os.environ["FD_PARTITIONS_START"] = hour_key(NOW - timedelta(hours=max(hours)))
    os.environ.setdefault("FD_DATA_DIR", str(CACHE / "history-data"))
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = []
    for h in hours:
        for kind, variant in [(k, v) for k in args.instances.split(",") for v in args.variants.split(",")]:
            apply_variant(variant)
            rows.append(run_one(h, kind, args, variant))
            r = rows[-1]
            print(f"  {kind:<9} {variant:<14} {h:>6} partitions {r['wall_s']:>8.1f} s wall {r['cpu_s']:>8.1f} s cpu "
                  f"{r['ms_per_partition']:>7.1f} ms/partition {r.get('ui_truth', '')} batches {r['event_batches']}",
                  file=sys.stderr, flush=True)
            for line in r.get("profile", {}).get("cumulative", []):
                print("    " + line, file=sys.stderr)
    print(table(rows, ["instance", "variant", "partitions", "wall_s", "cpu_s", "ms_per_partition", "materialisations",
                       "ms_per_materialisation", "loadavg_1m_after"], title="Single-run backfill, all six assets"))
    for r in rows:
        if r["events"]:
            print(f"\nevents of the {r['instance']} {r['variant']} run over {r['partitions']} partitions: " +
                  ", ".join(f"{k} {v}" for k, v in sorted(r["events"].items(), key=lambda kv: -kv[1])))
    path = write_json(args.out, {"machine": machine(), "now": NOW.isoformat(), "peak_rss_mb": peak_rss_mb(), "rows": rows})
    for r in rows:
        if r.get("ui_truth"):
            print(f"UI check of the {r['instance']} {r['variant']} run: all {r['partitions']} hours of all six assets, "
                  f"{r['ui_truth']['busy_hours']} hours with tickets, {r['ui_truth']['tickets_fetched']} tickets in all")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

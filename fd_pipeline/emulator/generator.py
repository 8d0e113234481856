"""Deterministic fake Freshdesk content: tickets, conversations and a KB that answer each other.

Every ticket is about one *topic* (a product x an issue category); every topic with a KB
article gives the ground truth `ticket id -> article id`, and every topic has one fix
(`topic_fix`; products that differ get different fixes), which gives `ticket -> same-fix
tickets` (`same_fix_groups`). About 38% of tickets are Korean. What makes it a fair test of
search (`corpus.py` says how the voices are kept apart): tickets describe the problem in
customers' words, never a line of the article; resolving replies say what the agent did and
name the product; published FAQ pages nearly duplicate some articles; the articles of the
`long` issues are procedures of several thousand tokens whose symptoms come last; Korean
translations exist for about 40% of the KB. Text is HTML with quoted earlier mails and
signatures, as real support mail is. Generation is cheap
string assembly from `random.Random(seed)` so 50,000 tickets take a couple of seconds;
conversations are built lazily per ticket from `(seed, ticket id)`. The names, phrases, labels and
field values come from corpus.py; this module decides which, in what order, and renders the HTML.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from .corpus import (
    AGENT_TIME_ZONES,
    AGENTS,
    AREAS,
    CATEGORY_DESCRIPTION,
    COMPANIES,
    CONTACT_TIME_ZONES_EN,
    CUSTOMER_PLANS,
    DRAFT_TITLE,
    ENV_NO_PRODUCT_EN,
    ENV_NO_PRODUCT_KO,
    ERROR_ACTIONS_EN,
    ERROR_ACTIONS_KO,
    ERROR_MEANINGS_EN,
    ERROR_MEANINGS_KO,
    FOLDER_DESCRIPTION,
    GETTING_STARTED_FOLDER,
    GREETINGS_EN,
    GREETINGS_KO,
    ISSUES,
    JOB_TITLES_EN,
    JOB_TITLES_KO,
    LONG_CHECKS_EN,
    LONG_CHECKS_KO,
    LONG_DETAIL_EN,
    LONG_DETAIL_KO,
    MONTHS,
    NAMES_EN,
    NAMES_KO,
    PHRASES,
    PRODUCTS,
    REGIONS_EN,
    REGIONS_KO,
    RELEASE_NOTES_FOLDER,
    SETUPS,
    SOURCES,
    SPAM_LINE,
    SPAM_SUBJECTS,
    STATUSES,
    SURVEY_FEEDBACK,
    TIME_NOTES,
    TRIED_EN,
    TRIED_KO,
    TROUBLESHOOTING_FOLDER,
    TYPES,
    UPDATES_FOLDER,
    WEEKDAYS,
    Fix,
    Issue,
    Product,
)
from .rows import (
    AgentRow,
    ArticleRow,
    ArticleTranslation,
    CategoryRow,
    ContactRow,
    ConversationRow,
    FolderRow,
    RatingRow,
    TicketRow,
    TimeEntryRow,
)

TICKET_ID_START = 1000
CATEGORY_ID_START = 60_000_000_001
FOLDER_ID_START = 70_000_000_001
ARTICLE_ID_START = 80_000_000_001
REQUESTER_ID_START = 3_000_000_000
AGENT_ID_START = 4_000_000_001
COMPANY_ID_START = 5_000_001
GROUP_ID_START = 6_000_001
PRODUCT_ID_START = 7_000_001
ROLE_ID_START = 8_000_001
SURVEY_ID = 9_000_001
TICKET_FIELD_ID_START = 10_000_001
TIME_ENTRY_ID_START = 11_000_000_000
RATING_ID_START = 12_000_000_000
# Generated conversation ids are tid * 1000 + n: stable without generating every ticket.
CONVERSATION_ID_FACTOR = 1000

KOREAN_SHARE = 0.38
DAY = 86_400


TOPICS: tuple[tuple[int, int], ...] = tuple((p, i) for p in range(len(PRODUCTS)) for i in range(len(ISSUES)))


def _product_issue(topic: int) -> tuple[Product, Issue]:
    pix, iix = TOPICS[topic]
    return PRODUCTS[pix], ISSUES[iix]


def topic_fix(topic: int) -> Fix:
    """The fix that answers a topic: the issue's fix for this product."""
    pix, iix = TOPICS[topic]
    issue = ISSUES[iix]
    return issue.fixes[issue.fix_for[pix]]


def fix_key(topic: int) -> str:
    """Tickets with the same key are solved by the same procedure (possibly on different products)."""
    return topic_fix(topic).key


def same_fix_groups(tickets) -> dict[int, frozenset[int]]:
    """Ticket id -> the ids of every ticket (itself included) solved by the same fix; spam and
    tickets without a topic are absent. Each group is one shared frozenset, so 50,000 tickets
    cost 22 sets, not 50,000."""
    members: dict[str, list[int]] = {}
    for t in tickets:
        if t.topic is not None:
            members.setdefault(fix_key(t.topic), []).append(t.id)
    groups = {key: frozenset(ids) for key, ids in members.items()}
    return {tid: groups[key] for key, ids in members.items() for tid in ids}

def _requester(rid: int) -> tuple[str, str]:
    """Requester id -> (name, e-mail); odd ids are Korean-speaking."""
    n = rid - REQUESTER_ID_START
    if n % 2:
        name = NAMES_KO[(n // 2) % len(NAMES_KO)]
        return name, f"user{n}@mail.example.kr"
    name = NAMES_EN[(n // 2) % len(NAMES_EN)]
    return name, f"{name.split()[0].lower()}.{n}@mail.example.com"


def requester_json(rid: int) -> dict:
    name, email = _requester(rid)
    return {"id": rid, "name": name, "email": email, "mobile": None, "phone": None}


_KO_COMPANIES = tuple(i for i, c in enumerate(COMPANIES) if not c.isascii())
_EN_COMPANIES = tuple(i for i, c in enumerate(COMPANIES) if c.isascii())


def requester_company_id(rid: int) -> int | None:
    """The company a requester belongs to (about 70% have one; Korean speakers work at Korean
    firms), a pure function of the id so a contact and each of its tickets agree."""
    n = rid - REQUESTER_ID_START
    h = (n * 2_654_435_761) % 1000
    if h >= 700:
        return None
    pool = _KO_COMPANIES if n % 2 else _EN_COMPANIES
    return COMPANY_ID_START + pool[(n // 2 + h) % len(pool)]


def agent_groups(agent_id: int) -> tuple[int, ...]:
    """The groups an agent works in: one product's queue each, the account admin in all."""
    n = agent_id - AGENT_ID_START
    if n == 0:
        return tuple(GROUP_ID_START + p for p in range(len(PRODUCTS)))
    return (GROUP_ID_START + n % len(PRODUCTS),)


@functools.cache
def group_agents(group_id: int) -> tuple[int, ...]:
    return tuple(AGENT_ID_START + n for n in range(len(AGENTS)) if group_id in agent_groups(AGENT_ID_START + n))


def agent_role_id(agent_id: int, ticket_scope: int) -> int:
    """Role ids of ROLES: the admin is the account administrator, the rest follow their ticket scope."""
    if agent_id == AGENT_ID_START:
        return ROLE_ID_START
    return ROLE_ID_START + ticket_scope


def agent_name(agent_id: int) -> str:
    return AGENTS[(agent_id - AGENT_ID_START) % len(AGENTS)]


def generate_agents(now_ts: int) -> list[AgentRow]:
    """The generator's agents (the responders and note authors of its tickets) as account users.

    Derived from `now_ts` alone, never from the seeded streams, so adding agents changed no data.
    The first is the account's admin, who owns the API key (`/agents/me`); one is occasional.
    """
    out = []
    for n, name in enumerate(AGENTS):
        created = now_ts - (420 - 3 * n) * DAY
        out.append(AgentRow(
            id=AGENT_ID_START + n, name=name, email=f"{name.lower().replace(' ', '.')}@support.example.com",
            occasional=n == len(AGENTS) - 2, available=n % 3 != 2, ticket_scope=1 if n == 0 else 1 + n % 3,
            time_zone=AGENT_TIME_ZONES[n % len(AGENT_TIME_ZONES)], created_at=created, updated_at=created + 7 * DAY,
            last_login_at=now_ts - (n + 1) * 3600, agent_level_id=1 + (7 * n + 3) % 6))
    return out


def contact_row(rid: int, first_ticket_at: int, last_ticket_at: int) -> ContactRow:
    """A requester as a contact: created before their first ticket, updated when they last wrote in."""
    name, email = _requester(rid)
    n = rid - REQUESTER_ID_START
    ko = n % 2 == 1
    h = (n * 40_503) % 997
    created = first_ticket_at - (1 + h % 200) * DAY
    titles = JOB_TITLES_KO if ko else JOB_TITLES_EN
    return ContactRow(id=rid, name=name, email=email, company_id=requester_company_id(rid),
                      language="ko" if ko else "en",
                      time_zone="Seoul" if ko else CONTACT_TIME_ZONES_EN[h % len(CONTACT_TIME_ZONES_EN)],
                      job_title=titles[h % len(titles)], created_at=created, updated_at=max(created, last_ticket_at))


def generate_time_entries(seed: int, t: TicketRow) -> list[TimeEntryRow]:
    """The time an agent logged on a ticket they worked (a pure function of seed and the ticket as generated)."""
    rng = random.Random(seed * 7_000_003 + t.id)
    if t.topic is None or t.responder_id is None or t.status == 2 or rng.random() >= 0.45:
        return []
    ko = t.language == "ko"
    out = []
    span = max(60, t.updated_at - t.created_at)
    for n in range(1 if rng.random() < 0.7 else 2):
        executed = t.created_at + rng.randrange(span)
        minutes = rng.choice((5, 10, 15, 20, 30, 45, 60, 90))
        logged = max(executed, min(executed + minutes * 60, t.updated_at))
        note = rng.choice(TIME_NOTES)[1 if ko else 0]
        out.append(TimeEntryRow(id=TIME_ENTRY_ID_START + t.id * 10 + n, ticket_id=t.id, agent_id=t.responder_id,
                                company_id=t.company_id, billable=rng.random() < 0.6, note=note, minutes=minutes,
                                executed_at=executed, created_at=logged, updated_at=logged))
    return out


def generate_rating(seed: int, t: TicketRow, now_ts: int) -> RatingRow | None:
    """The requester's survey answer on a resolved ticket (about a third answer), or None."""
    rng = random.Random(seed * 9_000_011 + t.id)
    if t.topic is None or t.status not in (4, 5) or rng.random() >= 0.35:
        return None
    rating, en, ko = rng.choices(SURVEY_FEEDBACK, weights=(30, 25, 20, 10, 10, 5))[0]
    # answered within two days of the resolution, and never after the desk's now
    at = min(now_ts, t.status_updated_at + int(rng.random() * max(60, min(2 * DAY, now_ts - t.status_updated_at))))
    return RatingRow(id=RATING_ID_START + t.id, ticket_id=t.id, user_id=t.requester_id, agent_id=t.responder_id,
                     group_id=t.group_id, rating=rating, feedback=ko if t.language == "ko" else en,
                     created_at=at, updated_at=at)


def _say(key: str, ko: bool, **fields):
    """`PHRASES[key]` in Korean or English with `fields` filled in; a tuple of lines stays a list."""
    template = PHRASES[key][1 if ko else 0]
    if isinstance(template, tuple):
        return [line.format(**fields) for line in template]
    return template.format(**fields)


def _fill(template: str, product: Product, ko: bool, rng: random.Random) -> str:
    return template.format(
        p=product.name_ko if ko else product.name,
        c=product.component_ko if ko else product.component,
        ver=rng.choice(product.versions),
        code=f"E{rng.randrange(100, 999)}",
    )


def _mail_date(ts: int, ko: bool) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    if ko:
        return f"{d.year}년 {d.month}월 {d.day}일 {d.hour:02d}:{d.minute:02d}"
    return f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year} at {d.hour:02d}:{d.minute:02d}"


class _Doc:
    """Builds the HTML body and its plain text side by side."""

    __slots__ = ("html", "text")

    def __init__(self) -> None:
        self.html: list[str] = []
        self.text: list[str] = []

    def para(self, s: str) -> None:
        self.html.append(f"<div>{escape(s, quote=False)}</div>")
        self.text.append(s)

    def lines(self, lines: list[str]) -> None:
        self.html.append("<div>" + "<br>".join(escape(x, quote=False) for x in lines) + "</div>")
        self.text.append("\n".join(lines))

    def steps(self, steps: tuple[str, ...]) -> None:
        self.html.append("<ol>" + "".join(f"<li>{escape(s, quote=False)}</li>" for s in steps) + "</ol>")
        self.text.append("\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1)))

    def quote(self, header: str, quoted: str, as_blockquote: bool) -> None:
        lines = quoted.split("\n")
        if as_blockquote:
            self.html.append(f"<div>{escape(header, quote=False)}</div><blockquote>"
                             + "<br>".join(escape(x, quote=False) for x in lines) + "</blockquote>")
        else:
            self.html.append("<div>" + escape(header, quote=False) + "<br>"
                             + "<br>".join("&gt; " + escape(x, quote=False) for x in lines) + "</div>")
        self.text.append(header + "\n" + "\n".join("> " + x for x in lines))

    def done(self) -> tuple[str, str]:
        return "".join(self.html), "\n\n".join(self.text)


def _signature(doc: _Doc, name: str, ko: bool, rng: random.Random, company: str | None) -> None:
    if ko:
        doc.lines(_say("signature", ko, name=name))
    elif rng.random() < 0.5:
        doc.lines(_say("signature_company", ko, name=name) + ([company] if company else []))
    else:
        doc.lines(_say("signature_phone", ko, name=name))


def ticket_description(rng: random.Random, topic: int, ko: bool, name: str, company: str | None,
                       created_at: int) -> tuple[str, str]:
    """A customer's first mail: their own words for the symptom (never a line of the article),
    sometimes what they tried, the product and version in 70% of mails, a signature, and now and
    then the quoted reply of an earlier ticket."""
    product, issue = _product_issue(topic)
    doc = _Doc()
    doc.para(rng.choice(GREETINGS_KO if ko else GREETINGS_EN))
    symptoms = issue.symptoms_ko if ko else issue.symptoms
    first = rng.randrange(len(symptoms))
    doc.para(_fill(symptoms[first], product, ko, rng))
    if rng.random() < 0.5:
        doc.para(_fill(symptoms[(first + 1) % len(symptoms)], product, ko, rng))
    if rng.random() < 0.4:
        doc.para(rng.choice(TRIED_KO if ko else TRIED_EN))
    ver = rng.choice(product.versions)
    if rng.random() < 0.7:
        doc.para(_say("environment", ko, product=product, ver=ver))
    else:
        doc.para(rng.choice(ENV_NO_PRODUCT_KO if ko else ENV_NO_PRODUCT_EN))
    _signature(doc, name, ko, rng, company)
    if rng.random() < 0.25:
        earlier = created_at - rng.randrange(3600, 20 * DAY)
        header = _say("quote_header", ko, date=_mail_date(earlier, ko), product=product)
        doc.quote(header, _say("quote_body", ko), rng.random() < 0.6)
    return doc.done()


def generate_tickets(rng: random.Random, n: int, now_ts: int, span_hours: float,
                     deleted_share: float, spam_share: float) -> list[TicketRow]:
    span_s = max(1, int(span_hours * 3600))
    n_requesters = max(4, n // 4)
    rows: list[TicketRow] = []
    rand, randrange, choice = rng.random, rng.randrange, rng.choice
    for k in range(n):
        tid = TICKET_ID_START + k
        updated = now_ts - span_s + int(rand() * span_s)
        if rand() < 0.35:
            created = updated - int(rand() * min(span_s, updated - (now_ts - span_s) + 1))
        else:
            created = updated - randrange(60, 60 * DAY)
        is_spam = rand() < spam_share
        ko = rand() < KOREAN_SHARE
        r = randrange(n_requesters) * 2 + (1 if ko else 0)
        rid = REQUESTER_ID_START + r
        name = _requester(rid)[0]
        if rand() < 0.7:
            randrange(len(COMPANIES))  # still drawn, so the seeded stream (and every later value) is unchanged
        company_id = requester_company_id(rid)
        company = COMPANIES[company_id - COMPANY_ID_START] if company_id is not None else None
        if is_spam:
            subject = choice(SPAM_SUBJECTS)
            html = f"<div>{escape(subject)}</div><div>{SPAM_LINE}</div>"
            text = f"{subject}\n\n{SPAM_LINE}"
            topic = None
            status, ptype, tags, pix = 2, None, [], None
        else:
            topic = randrange(len(TOPICS))
            pix, iix = TOPICS[topic]
            product, issue = PRODUCTS[pix], ISSUES[iix]
            subject = _fill(choice(issue.subjects_ko if ko else issue.subjects), product, ko, rng)
            if rand() < 0.02:
                html, text = "", ""  # phone tickets often have no description at all
            else:
                html, text = ticket_description(rng, topic, ko, name, company, created)
            status = choice(STATUSES)
            ptype = choice(TYPES)
            tags = [t for t in issue.tags if rand() < 0.6]
        status_open = status in (2, 3)
        responder = None if (status == 2 and rand() < 0.4) else AGENT_ID_START + randrange(len(AGENTS))
        row = TicketRow(
            id=tid, subject=subject, description_html=html, description_text=text,
            status=status, priority=1 + int(rand() * rand() * 4.0), source=choice(SOURCES),
            type=ptype, tags=tags,
            custom_fields={
                "cf_plan": choice(CUSTOMER_PLANS),
                "cf_app_version": choice(PRODUCTS[pix].versions) if pix is not None and rand() < 0.7 else None,
                "cf_region": choice(REGIONS_KO if ko else REGIONS_EN),
                "cf_order_number": None,
            },
            requester_id=rid, responder_id=responder,
            group_id=(GROUP_ID_START + pix) if pix is not None and rand() < 0.9 else None,
            company_id=company_id,
            product_id=(PRODUCT_ID_START + pix) if pix is not None and rand() < 0.9 else None,
            created_at=created, updated_at=updated,
            due_by=created + 3 * DAY, fr_due_by=created + DAY,
            is_escalated=status_open and updated > created + 3 * DAY,
            fr_escalated=status_open and updated > created + DAY and rand() < 0.5,
            spam=is_spam, deleted=(not is_spam) and rand() < deleted_share,
            language="ko" if ko else "en", topic=topic, status_updated_at=updated,
        )
        if responder is not None and row.group_id is not None:
            # The same draw, mapped onto the agents of the ticket's group: responders work its queue.
            members = group_agents(row.group_id)
            row.responder_id = members[(responder - AGENT_ID_START) % len(members)]
        rows.append(row)
    return rows


def generate_conversations(seed: int, t: TicketRow) -> list[ConversationRow]:
    """The generated thread of one ticket, a pure function of (seed, the ticket as generated)."""
    rng = random.Random(seed * 1_000_003 + t.id)
    if t.topic is None or rng.random() < 0.1:
        return []
    pix, iix = TOPICS[t.topic]
    product, issue = PRODUCTS[pix], ISSUES[iix]
    fix = topic_fix(t.topic)
    ko = t.language == "ko"
    requester_name, requester_email = _requester(t.requester_id)
    agent_id = t.responder_id or (AGENT_ID_START + rng.randrange(len(AGENTS)))
    agent = agent_name(agent_id)
    plan: list[str] = []  # "ask", "follow", "note", "resolve", "thanks"
    if t.status == 2:
        plan = rng.choice(([], ["ask"], ["ask", "follow"], ["follow"]))
    elif t.status == 3:
        plan = ["note", "ask"] if rng.random() < 0.5 else ["ask"]
    else:
        plan = (["ask", "follow"] if rng.random() < 0.4 else []) + (["note"] if rng.random() < 0.7 else []) \
            + ["resolve"] + (["thanks"] if rng.random() < 0.5 else [])
    if rng.random() < 0.015:
        plan = ["ask", "follow"] * rng.randrange(16, 23) + plan  # a long thread, more than a page
    span = max(len(plan), t.updated_at - t.created_at)
    out: list[ConversationRow] = []
    for n, kind in enumerate(plan):
        ts = t.created_at + (span * (n + 1)) // (len(plan) + 1)
        ts = min(ts, t.updated_at)
        doc = _Doc()
        incoming = kind in ("follow", "thanks")
        private = kind == "note"
        if kind == "ask":
            doc.para(_say("ask_greeting", ko, name=requester_name, first=requester_name.split()[0]))
            doc.para(_say("ask", ko))
        elif kind == "follow":
            doc.para(_fill(rng.choice(issue.symptoms_ko if ko else issue.symptoms), product, ko, rng))
            doc.para(_say("still_happening", ko))
            _signature(doc, requester_name, ko, rng, None)
        elif kind == "note":
            doc.para(fix.cause_ko if ko else fix.cause)
            doc.para(_say("note", ko))
        elif kind == "resolve":
            # What was done, naming the product, then the steps for next time: agents reuse the
            # KB's steps but the first line is theirs.
            doc.para(_say("resolve_greeting", ko, name=requester_name, first=requester_name.split()[0]))
            done = rng.choice(fix.done_ko if ko else fix.done)
            doc.para(done.format(p=product.name_ko if ko else product.name))
            doc.para(_say("resolve_steps", ko))
            doc.steps(fix.steps_ko if ko else fix.steps)
            doc.lines(_say("agent_signature", ko, agent=agent, product=product))
        else:  # thanks
            doc.para(_say("thanks", ko))
        html, text = doc.done()
        out.append(ConversationRow(
            id=t.id * CONVERSATION_ID_FACTOR + n, ticket_id=t.id, body_html=html, body_text=text,
            incoming=incoming, private=private, source=2 if private else 0,
            user_id=t.requester_id if incoming else agent_id,
            from_email=requester_email if incoming else (None if private else product.support),
            to_emails=None if private else ([product.support] if incoming else [requester_email]),
            created_at=ts, updated_at=ts,
        ))
    return out


Section = tuple[str | None, str, list[str]]  # (heading, "p" | "ul" | "ol", items)


def _render(sections: list[Section]) -> tuple[str, str]:
    html: list[str] = []
    text: list[str] = []
    for heading, kind, items in sections:
        block: list[str] = []
        if heading:
            html.append(f"<h3>{escape(heading, quote=False)}</h3>")
            block.append(heading)
        if kind == "p":
            html.extend(f"<p>{escape(x, quote=False)}</p>" for x in items)
            block.extend(items)
        else:
            html.append(f"<{kind}>" + "".join(f"<li>{escape(x, quote=False)}</li>" for x in items) + f"</{kind}>")
            block.extend(f"{n}. {x}" if kind == "ol" else x for n, x in enumerate(items, 1))
        text.append("\n".join(block))
    return "".join(html), "\n\n".join(text)


def _core_sections(topic: int, ko: bool) -> list[Section]:
    """Symptoms in the KB's words, the cause and this product's fix."""
    product, issue = _product_issue(topic)
    fix = topic_fix(topic)
    return [
        (_say("symptoms", ko), "ul", list(issue.kb_symptoms_ko if ko else issue.kb_symptoms)),
        (_say("cause", ko), "p", [(fix.cause_ko if ko else fix.cause).split(": ", 1)[-1]]),
        (_say("resolution", ko), "ol", list(fix.steps_ko if ko else fix.steps)),
        (None, "p", [_say("still_not_working", ko, product=product)]),
    ]


def long_article_sections(topic: int, ko: bool) -> list[Section]:
    """A procedure of several pages (about 3,000 tokens in English): checks, a section per setup,
    an error-code table and questions come first, so a model that reads only its first 512 tokens
    never sees the symptoms, the cause or the summary of the fix, which come last."""
    pix, iix = TOPICS[topic]
    product, issue = PRODUCTS[pix], ISSUES[iix]
    fix = topic_fix(topic)
    name = product.name_ko if ko else product.name
    steps = fix.steps_ko if ko else fix.steps
    detail = LONG_DETAIL_KO if ko else LONG_DETAIL_EN
    meanings, actions = (ERROR_MEANINGS_KO, ERROR_ACTIONS_KO) if ko else (ERROR_MEANINGS_EN, ERROR_ACTIONS_EN)
    out: list[Section] = [
        (_say("overview", ko), "p", [_say("overview_text", ko, name=name, product=product, issue=issue)]),
        (_say("before_you_start", ko), "ul", list(LONG_CHECKS_KO if ko else LONG_CHECKS_EN)),
    ]
    for k, (setup_en, setup_ko) in enumerate(SETUPS[product.key]):
        out.append((_say("procedure", ko, setup=setup_ko if ko else setup_en), "ol",
                    [f"{step} {detail[(k + j) % len(detail)]}" for j, step in enumerate(steps)]
                    + [detail[(k + 3) % len(detail)]]))
    codes = [_say("error_code", ko, code=400 + 3 * n + iix, meaning=meanings[(n * 5 + iix) % len(meanings)],
                  action=actions[(n * 3 + pix) % len(actions)]) for n in range(110)]
    out.append((_say("error_codes", ko), "ul", codes))
    faq = [_say(key, ko, detail=detail[n]) for key, n in (("faq_data", 5), ("faq_setup", 4), ("faq_users", 1),
                                                             ("faq_time", 0))]
    out.append((_say("faq", ko), "ul", faq))
    core = _core_sections(topic, ko)
    out.append((_say("symptoms_covered", ko), core[0][1], core[0][2]))
    out += core[1:]
    return out


def article_body(topic: int, ko: bool) -> tuple[str, str]:
    """A topic's article: short (applies-to, symptoms, cause, resolution) or, for the issues
    marked `long`, a multi-section procedure (`long_article_sections`)."""
    product, issue = _product_issue(topic)
    if issue.long:
        return _render(long_article_sections(topic, ko))
    applies = _say("applies_to", ko, product=product, first=product.versions[0], last=product.versions[-1])
    return _render([(None, "p", [applies])] + _core_sections(topic, ko))


def faq_body(topic: int, ko: bool) -> tuple[str, str]:
    """A FAQ page that nearly duplicates the topic's article: one symptom as a question, the same
    steps as one answer. Real KBs grow these; search has to rank the full article above it."""
    issue = ISSUES[TOPICS[topic][1]]
    fix = topic_fix(topic)
    question = (issue.kb_symptoms_ko if ko else issue.kb_symptoms)[0]
    answer = " ".join(fix.steps_ko if ko else fix.steps)
    return _render([(None, "p", [_say("faq_question", ko, question=question), _say("faq_answer", ko, answer=answer)])])


def article_title(topic: int, ko: bool) -> str:
    product, issue = _product_issue(topic)
    return _say("article_title", ko, product=product, issue=issue)


def faq_title(topic: int, ko: bool) -> str:
    product, issue = _product_issue(topic)
    return _say("faq_title", ko, product=product, issue=issue, title=issue.title.lower())


@dataclass
class KbTree:
    categories: list[CategoryRow]
    folders: list[FolderRow]
    articles: list[ArticleRow]
    topic_article: dict[int, int]          # topic -> the published article that answers it
    folder_for: dict[tuple[int, int], int]  # (product, area or 99 for updates) -> folder id


def generate_kb(rng: random.Random, n_articles: int, now_ts: int) -> KbTree:
    cats: list[CategoryRow] = []
    folders: list[FolderRow] = []
    folder_for: dict[tuple[int, int], int] = {}
    base = now_ts - 400 * DAY
    fid = FOLDER_ID_START

    def folder(cat: int, parent: int | None, name: str, name_ko: str) -> int:
        nonlocal fid
        ts = base + rng.randrange(0, 30 * DAY)
        description = None if rng.random() < 0.4 else FOLDER_DESCRIPTION.format(name=name)
        folders.append(FolderRow(id=fid, category_id=cat, parent_folder_id=parent, name=name, name_ko=name_ko,
                                 description=description, created_at=ts, updated_at=ts))
        fid += 1
        return fid - 1

    for pix, product in enumerate(PRODUCTS):
        cid = CATEGORY_ID_START + pix
        ts = base + rng.randrange(0, DAY)
        cats.append(CategoryRow(id=cid, name=product.name, name_ko=product.name_ko,
                                description=CATEGORY_DESCRIPTION.format(kind=product.kind), created_at=ts, updated_at=ts))
        folder_for[(pix, -1)] = folder(cid, None, *GETTING_STARTED_FOLDER)
        trouble = folder(cid, None, *TROUBLESHOOTING_FOLDER)
        for aix, (name, name_ko) in enumerate(AREAS):
            folder_for[(pix, aix)] = folder(cid, trouble, name, name_ko)
        folder_for[(pix, 99)] = folder(cid, folder_for[(pix, 2)], *UPDATES_FOLDER)
        folder(cid, None, *RELEASE_NOTES_FOLDER)  # deliberately empty
    articles: list[ArticleRow] = []
    topic_article: dict[int, int] = {}
    for k in range(n_articles):
        aid = ARTICLE_ID_START + k
        topic = k % len(TOPICS)
        pix, iix = TOPICS[topic]
        issue = ISSUES[iix]
        primary = k < len(TOPICS)
        if primary:
            title = article_title(topic, False)
            html, text = article_body(topic, False)
            status = 2
            fkey = (pix, 99 if issue.key == "update" else issue.area)
        else:
            # Extras: drafts being rewritten and FAQ pages that answer no single ticket.
            status = 1 if k % 2 else 2
            title = DRAFT_TITLE.format(title=article_title(topic, False)) if status == 1 else faq_title(topic, False)
            html, text = article_body(topic, False) if status == 1 else faq_body(topic, False)
            fkey = (pix, -1) if status == 2 else (pix, issue.area)
        created = now_ts - rng.randrange(10 * DAY, 300 * DAY)
        updated = min(now_ts - 3600, created + rng.randrange(0, 10 * DAY))
        row = ArticleRow(
            id=aid, title=title, description_html=html, description_text=text, status=status,
            type=1 if rng.random() < 0.8 else 2, tags=list(issue.tags[:rng.randrange(0, len(issue.tags) + 1)]),
            folder_id=folder_for[fkey], category_id=CATEGORY_ID_START + pix,
            agent_id=AGENT_ID_START + rng.randrange(len(AGENTS)),
            hits=rng.randrange(0, 5000), thumbs_up=rng.randrange(0, 80), thumbs_down=rng.randrange(0, 10),
            created_at=created, updated_at=updated, topic=topic if primary else None,
        )
        if rng.random() < 0.4:  # translations cover part of the KB, as on a real desk
            faq = not primary and status == 2
            kh, kt = faq_body(topic, True) if faq else article_body(topic, True)
            tts = min(now_ts - 60, updated + rng.randrange(0, 5 * DAY))
            row.translations["ko"] = ArticleTranslation(faq_title(topic, True) if faq else article_title(topic, True),
                                                        kh, kt, status, tts, tts)
        articles.append(row)
        if primary:
            topic_article[topic] = aid
    return KbTree(cats, folders, articles, topic_article, folder_for)

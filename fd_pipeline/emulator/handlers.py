"""The Freshdesk API v2 endpoints the emulator serves (tickets, conversations, agents, solutions,
and the account's contacts, companies, groups, roles, products, ticket fields, time entries,
satisfaction ratings, surveys and helpdesk settings), with Freshdesk's parameter validation,
paging and `link` headers. Auth, credits, faults and the
rate-limit headers are the gate's (gate.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import account
from .responses import ApiError, JsonResponse, invalid, not_found
from .shapes import (
    agent_json,
    article_json,
    category_json,
    contact_json,
    conversation_json,
    folder_json,
    rating_json,
    ticket_json,
    time_entry_json,
)

if TYPE_CHECKING:
    from .server import Emulator

MAX_PAGES = 300
PRIMARY_LANGUAGE = "en"
# The KB's translations are generated in these; /settings/helpdesk names them so a client can discover them.
SUPPORTED_LANGUAGES = ("ko",)
LANGUAGES = (PRIMARY_LANGUAGE, *SUPPORTED_LANGUAGES)
PAGE_301_BODY = {
    "description": "Validation failed",
    "errors": [{"field": "page",
                "message": "You cannot access tickets beyond the 300th page. Please provide a smaller page number.",
                "code": "invalid_value"}],
}
_LIST_INCLUDES = ("description", "requester", "stats", "company")
_SHOW_INCLUDES = ("conversations", "requester", "company", "stats")
_ORDER_BY = ("created_at", "due_by", "updated_at", "status")
_ORDER_TYPES = ("asc", "desc")
_FILTERS = ("new_and_my_open", "watching", "spam", "deleted")
_AGENT_STATES = ("fulltime", "occasional")
_CONTACT_STATES = ("blocked", "deleted", "unverified", "verified")
_BOOLEANS = ("true", "false")


def _not_one_of(name: str, allowed: tuple[str, ...]) -> ApiError:
    """Freshdesk's 400 for a parameter outside its allowed values, listing them."""
    return invalid(name, f"It should be one of these values: '{','.join(allowed)}'")


def _int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" less than or equal to {maximum}" if maximum else ""
        raise invalid(name, f"It should be a Positive Integer{limit}")
    return value


def _paging(request: Request) -> tuple[int, int]:
    return _int_param(request, "page", 1), _int_param(request, "per_page", 30, 100)


def _includes(request: Request, allowed: tuple[str, ...]) -> list[str]:
    raw = request.query_params.get("include")
    if raw is None:
        return []
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise _not_one_of("include", allowed)
    return values


def parse_since(raw: str, field: str = "updated_since") -> int:
    text = raw.strip().replace(" ", "+")  # a '+' offset arrives as a space when not escaped
    try:
        if len(text) == 10:
            dt = datetime.strptime(text, "%Y-%m-%d")
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, "It should be in the 'valid date time' format", "invalid_date") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # Freshdesk reads a zone-less date as UTC
    return int(dt.timestamp())


def _link(request: Request, page: int, has_more: bool) -> dict[str, str]:
    if not has_more:
        return {}
    url = request.url.include_query_params(page=page + 1)
    return {"link": f'<{url}>; rel="next"'}


def _one_page(request: Request, items: list) -> tuple[list, dict[str, str]]:
    """The requested page of a whole list (30 unless `per_page`), and its `link` header while more remain."""
    page, per_page = _paging(request)
    offset = (page - 1) * per_page
    return items[offset: offset + per_page], _link(request, page, offset + per_page < len(items))


def _since(request: Request, field: str) -> int | None:
    raw = request.query_params.get(field)
    return None if raw is None else parse_since(raw, field)


def _id_param(request: Request, field: str) -> int | None:
    raw = request.query_params.get(field)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise invalid(field, "It should be a Positive Integer", "datatype_mismatch")
    return value


def _by_id(rows: list[dict], request: Request, param: str) -> dict:
    """The one of a fixed list of records the path names, or Freshdesk's 404."""
    wanted = request.path_params[param]
    for row in rows:
        if row["id"] == wanted:
            return row
    raise not_found()


def _language(request: Request) -> str:
    lang = request.path_params.get("language", "en")
    if lang not in LANGUAGES:
        raise _not_one_of("language", LANGUAGES)
    return lang


def _found(rows: dict, request: Request, param: str):
    """The row the path parameter names, or Freshdesk's 404."""
    row = rows.get(request.path_params[param])
    if row is None:
        raise not_found()
    return row


class Handlers:
    """The API's endpoints; each returns a Response or raises ApiError."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.desk = emu.desk

    async def tickets_list(self, request: Request) -> Response:
        q = request.query_params
        page, per_page = _paging(request)
        if page > MAX_PAGES:
            raise ApiError(400, PAGE_301_BODY["description"], PAGE_301_BODY["errors"])
        includes = _includes(request, _LIST_INCLUDES)
        flt = q.get("filter")
        if flt is not None and flt not in _FILTERS:
            raise _not_one_of("filter", _FILTERS)
        order_by = q.get("order_by", "created_at")
        if order_by not in _ORDER_BY:
            raise _not_one_of("order_by", _ORDER_BY)
        order_type = q.get("order_type", "desc")
        if order_type not in _ORDER_TYPES:
            raise _not_one_of("order_type", _ORDER_TYPES)
        since = parse_since(q["updated_since"]) if "updated_since" in q else None
        created_since = None
        if since is None:
            # Without updated_since Freshdesk only returns tickets created in the last 30 days.
            created_since = int((self.emu.clock.now() - timedelta(days=30)).timestamp())
        view = flt if flt in ("deleted", "spam") else "live"
        offset = (page - 1) * per_page
        desk = self.desk
        with desk.lock:
            if flt == "watching":
                ids, total = [], 0
            elif flt == "new_and_my_open":
                all_ids, _ = desk.list_ticket_ids(view=view, updated_since=since, created_since=created_since,
                                                  order_by=order_by, order_type=order_type, offset=0,
                                                  limit=len(desk.tickets))
                opened = [i for i in all_ids if desk.tickets[i].status == 2]
                ids, total = opened[offset: offset + per_page], len(opened)
            else:
                ids, total = desk.list_ticket_ids(view=view, updated_since=since, created_since=created_since,
                                                  order_by=order_by, order_type=order_type,
                                                  offset=offset, limit=per_page)
            body = [ticket_json(desk.tickets[i], description="description" in includes,
                                requester="requester" in includes, stats="stats" in includes,
                                company="company" in includes) for i in ids]
        return JsonResponse(body, headers=_link(request, page, offset + per_page < total))

    def _ticket(self, request: Request):
        return _found(self.desk.tickets, request, "ticket_id")

    async def ticket_show(self, request: Request) -> Response:
        includes = _includes(request, _SHOW_INCLUDES)
        with self.desk.lock:
            t = self._ticket(request)
            body = ticket_json(t, description=True, requester="requester" in includes, stats="stats" in includes,
                               company="company" in includes)
            body["attachments"] = []
            body["source_additional_info"] = None
            if "conversations" in includes:
                self.emu.stats.conversation_read(t.id)
                body["conversations"] = [conversation_json(c) for c in self.desk.conversations(t.id)[:10]]
        return JsonResponse(body)

    async def conversations_list(self, request: Request) -> Response:
        _paging(request)  # a bad page or per_page is a 400 before anything is read
        with self.desk.lock:
            t = self._ticket(request)
            self.emu.stats.conversation_read(t.id)
            convs, link = _one_page(request, self.desk.conversations(t.id))
            body = [conversation_json(c) for c in convs]
        return JsonResponse(body, headers=link)

    async def agents_list(self, request: Request) -> Response:
        q = request.query_params
        state = q.get("state")
        if state is not None and state not in _AGENT_STATES:
            raise _not_one_of("state", _AGENT_STATES)
        with self.desk.lock:
            agents = sorted(self.desk.agents.values(), key=lambda a: a.id)
        if state is not None:
            agents = [a for a in agents if a.occasional == (state == "occasional")]
        if "email" in q:
            agents = [a for a in agents if a.email.lower() == q["email"].strip().lower()]
        if "phone" in q or "mobile" in q:
            agents = []  # no generated agent has a phone or mobile number
        page, link = _one_page(request, agents)
        return JsonResponse([agent_json(a) for a in page], headers=link)

    async def agent_me(self, request: Request) -> Response:
        with self.desk.lock:
            return JsonResponse(agent_json(self.desk.agents[self.desk.me_agent_id]))

    async def agent_show(self, request: Request) -> Response:
        with self.desk.lock:
            return JsonResponse(agent_json(_found(self.desk.agents, request, "agent_id")))

    def _chain(self, folder_id: int, language: str) -> list[tuple[str, int, str]]:
        chain = self.desk.folder_chain(folder_id)
        if language == "en":
            return chain
        out = []
        for kind, oid, name in chain:
            row = self.desk.categories[oid] if kind == "category" else self.desk.folders[oid]
            out.append((kind, oid, row.name_ko))
        return out

    def _folder_json(self, f, language: str) -> dict:
        desk = self.desk
        n_articles = sum(1 for a in desk.articles.values() if a.folder_id == f.id
                         and (language == "en" or language in a.translations))
        n_sub = sum(1 for g in desk.folders.values() if g.parent_folder_id == f.id)
        return folder_json(f, language, self._chain(f.id, language), n_articles, n_sub)

    async def categories(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            cats, link = _one_page(request, sorted(self.desk.categories.values(), key=lambda c: c.id))
            body = [category_json(c, lang) for c in cats]
        return JsonResponse(body, headers=link)

    def _category(self, request: Request):
        return _found(self.desk.categories, request, "category_id")

    def _folder(self, request: Request):
        return _found(self.desk.folders, request, "folder_id")

    async def category_show(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            return JsonResponse(category_json(self._category(request), lang))

    async def category_folders(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            c = self._category(request)
            folders, link = _one_page(request, [f for f in sorted(self.desk.folders.values(), key=lambda f: f.id)
                                                if f.category_id == c.id and f.parent_folder_id is None])
            body = [self._folder_json(f, lang) for f in folders]
        return JsonResponse(body, headers=link)

    async def folder_show(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            return JsonResponse(self._folder_json(self._folder(request), lang))

    async def folder_subfolders(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            f = self._folder(request)
            subs, link = _one_page(request, [g for g in sorted(self.desk.folders.values(), key=lambda g: g.id)
                                             if g.parent_folder_id == f.id])
            body = [self._folder_json(g, lang) for g in subs]
        return JsonResponse(body, headers=link)

    async def folder_articles(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            f = self._folder(request)
            arts, link = _one_page(request, [a for a in sorted(self.desk.articles.values(), key=lambda a: a.id)
                                             if a.folder_id == f.id and (lang == "en" or lang in a.translations)])
            chain = self._chain(f.id, lang)
            body = [article_json(a, lang, chain) for a in arts]
        return JsonResponse(body, headers=link)

    async def article_show(self, request: Request) -> Response:
        lang = _language(request)
        with self.desk.lock:
            a = self.desk.articles.get(request.path_params["article_id"])
            if a is None or (lang != "en" and lang not in a.translations):
                raise not_found()
            return JsonResponse(article_json(a, lang, self._chain(a.folder_id, lang)))

    async def contacts_list(self, request: Request) -> Response:
        q = request.query_params
        _paging(request)
        state = q.get("state")
        if state is not None and state not in _CONTACT_STATES:
            raise _not_one_of("state", _CONTACT_STATES)
        since = _since(request, "_updated_since")
        company_id = _id_param(request, "company_id")
        with self.desk.lock:
            contacts = list(self.desk.contacts().values())
        if state in ("blocked", "deleted", "unverified"):
            contacts = []  # every generated contact is active and verified
        if since is not None:
            contacts = [c for c in contacts if c.updated_at >= since]
        if company_id is not None:
            contacts = [c for c in contacts if c.company_id == company_id]
        if "email" in q:
            contacts = [c for c in contacts if c.email.lower() == q["email"].strip().lower()]
        if "phone" in q or "mobile" in q:
            contacts = []  # no generated contact has a phone or mobile number
        page, link = _one_page(request, contacts)
        return JsonResponse([contact_json(c) for c in page], headers=link)

    async def contact_show(self, request: Request) -> Response:
        with self.desk.lock:
            return JsonResponse(contact_json(_found(self.desk.contacts(), request, "contact_id")))

    def _fixed_list(self, request: Request, rows: list[dict]) -> Response:
        _paging(request)
        page, link = _one_page(request, rows)
        return JsonResponse(page, headers=link)

    async def companies_list(self, request: Request) -> Response:
        return self._fixed_list(request, account.companies(self.desk.created_ts))

    async def company_show(self, request: Request) -> Response:
        return JsonResponse(_by_id(account.companies(self.desk.created_ts), request, "company_id"))

    async def groups_list(self, request: Request) -> Response:
        return self._fixed_list(request, account.groups(self.desk.created_ts))

    async def group_show(self, request: Request) -> Response:
        return JsonResponse(_by_id(account.groups(self.desk.created_ts), request, "group_id"))

    async def roles_list(self, request: Request) -> Response:
        return self._fixed_list(request, account.roles(self.desk.created_ts))

    async def role_show(self, request: Request) -> Response:
        return JsonResponse(_by_id(account.roles(self.desk.created_ts), request, "role_id"))

    async def products_list(self, request: Request) -> Response:
        return self._fixed_list(request, account.products(self.desk.created_ts))

    async def product_show(self, request: Request) -> Response:
        return JsonResponse(_by_id(account.products(self.desk.created_ts), request, "product_id"))

    def _ticket_fields(self) -> list[dict]:
        with self.desk.lock:
            names = {a.id: a.name for a in self.desk.agents.values()}
        return account.ticket_fields(self.desk.created_ts, names)

    async def ticket_fields(self, request: Request) -> Response:
        # Not paginated on Freshdesk: the whole form in one answer, optionally one field type.
        fields = self._ticket_fields()
        ftype = request.query_params.get("type")
        if ftype is not None:
            allowed = tuple(sorted({f["type"] for f in fields}))
            if ftype not in allowed:
                raise _not_one_of("type", allowed)
            fields = [f for f in fields if f["type"] == ftype]
        return JsonResponse(fields)

    async def ticket_field_show(self, request: Request) -> Response:
        return JsonResponse(_by_id(self._ticket_fields(), request, "field_id"))

    async def ticket_time_entries(self, request: Request) -> Response:
        _paging(request)
        with self.desk.lock:
            entries = self.desk.work(self._ticket(request).id)[0]
        page, link = _one_page(request, entries)
        return JsonResponse([time_entry_json(e) for e in page], headers=link)

    async def time_entries(self, request: Request) -> Response:
        q = request.query_params
        _paging(request)
        company_id, agent_id = _id_param(request, "company_id"), _id_param(request, "agent_id")
        after, before = _since(request, "executed_after"), _since(request, "executed_before")
        billable = q.get("billable")
        if billable is not None and billable not in _BOOLEANS:
            raise invalid("billable", "It should be a/an Boolean", "datatype_mismatch")
        with self.desk.lock:
            entries = self.desk.all_work()[0]
        entries = [e for e in entries
                   if (company_id is None or e.company_id == company_id)
                   and (agent_id is None or e.agent_id == agent_id)
                   and (after is None or e.executed_at >= after)
                   and (before is None or e.executed_at <= before)
                   and (billable is None or e.billable == (billable == "true"))]
        page, link = _one_page(request, entries)
        return JsonResponse([time_entry_json(e) for e in page], headers=link)

    async def ticket_ratings(self, request: Request) -> Response:
        _paging(request)
        with self.desk.lock:
            rating = self.desk.work(self._ticket(request).id)[1]
        page, link = _one_page(request, [rating] if rating else [])
        return JsonResponse([rating_json(r) for r in page], headers=link)

    async def ratings(self, request: Request) -> Response:
        _paging(request)
        since = _since(request, "created_since")
        if since is None:
            # Like the tickets list, Freshdesk answers only the last 30 days unless told otherwise.
            since = int((self.emu.clock.now() - timedelta(days=30)).timestamp())
        user_id = _id_param(request, "user_id")
        with self.desk.lock:
            ratings = self.desk.all_work()[1]
        ratings = [r for r in ratings if r.created_at >= since and (user_id is None or r.user_id == user_id)]
        page, link = _one_page(request, ratings)
        return JsonResponse([rating_json(r) for r in page], headers=link)

    async def surveys(self, request: Request) -> Response:
        return self._fixed_list(request, [account.survey(self.desk.created_ts)])

    async def helpdesk_settings(self, request: Request) -> Response:
        # Freshdesk lists the additional languages (not the primary) in supported_languages, and in
        # portal_languages those of them the customer portal shows.
        return JsonResponse({"primary_language": PRIMARY_LANGUAGE,
                             "supported_languages": list(SUPPORTED_LANGUAGES),
                             "portal_languages": list(SUPPORTED_LANGUAGES)})

    def routes(self) -> list[Route]:
        s = "/api/v2/solutions"
        pairs = [
            ("/api/v2/settings/helpdesk", self.helpdesk_settings),
            ("/api/v2/contacts", self.contacts_list),
            ("/api/v2/contacts/{contact_id:int}", self.contact_show),
            ("/api/v2/companies", self.companies_list),
            ("/api/v2/companies/{company_id:int}", self.company_show),
            ("/api/v2/groups", self.groups_list),
            ("/api/v2/groups/{group_id:int}", self.group_show),
            ("/api/v2/roles", self.roles_list),
            ("/api/v2/roles/{role_id:int}", self.role_show),
            ("/api/v2/products", self.products_list),
            ("/api/v2/products/{product_id:int}", self.product_show),
            ("/api/v2/ticket_fields", self.ticket_fields),
            ("/api/v2/ticket_fields/{field_id:int}", self.ticket_field_show),
            ("/api/v2/time_entries", self.time_entries),
            ("/api/v2/tickets/{ticket_id:int}/time_entries", self.ticket_time_entries),
            ("/api/v2/surveys", self.surveys),
            ("/api/v2/surveys/satisfaction_ratings", self.ratings),
            ("/api/v2/tickets/{ticket_id:int}/satisfaction_ratings", self.ticket_ratings),
            ("/api/v2/tickets", self.tickets_list),
            ("/api/v2/tickets/{ticket_id:int}", self.ticket_show),
            ("/api/v2/tickets/{ticket_id:int}/conversations", self.conversations_list),
            ("/api/v2/agents", self.agents_list),
            ("/api/v2/agents/me", self.agent_me),
            ("/api/v2/agents/{agent_id:int}", self.agent_show),
            (f"{s}/categories", self.categories),
            (f"{s}/categories/{{category_id:int}}", self.category_show),
            (f"{s}/categories/{{category_id:int}}/folders", self.category_folders),
            (f"{s}/folders/{{folder_id:int}}", self.folder_show),
            (f"{s}/folders/{{folder_id:int}}/subfolders", self.folder_subfolders),
            (f"{s}/folders/{{folder_id:int}}/articles", self.folder_articles),
            (f"{s}/articles/{{article_id:int}}", self.article_show),
        ]
        routes = [Route(p, h, methods=["GET"]) for p, h in pairs]
        # Translations: the same paths with a `/{language}` suffix; after the int routes.
        routes += [Route(p + "/{language}", h, methods=["GET"]) for p, h in pairs if p.startswith(s)]
        return routes

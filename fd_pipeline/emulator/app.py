"""The ASGI app: Freshdesk API v2 under `/api/v2`, the emulator's own controls under `/_emulator`.

`ApiGate` is the outermost ASGI callable, so it holds uvicorn's own `send` and can drop a
connection for real (it aborts the transport; see `_drop`). For each API request it matches
the Starlette route, then applies, in order: injected faults, Basic auth, the credit budget,
the handler, and the `X-RateLimit-*` headers every Freshdesk response carries.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from .faults import FaultConfig
from .rows import iso
from .shapes import agent_json, article_json, category_json, conversation_json, folder_json, ticket_json

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger(__name__)

MAX_PAGES = 300
LANGUAGES = ("en", "ko")
PAGE_301_BODY = {
    "description": "Validation failed",
    "errors": [{"field": "page",
                "message": "You cannot access tickets beyond the 300th page. Please provide a smaller page number.",
                "code": "invalid_value"}],
}
_LIST_INCLUDES = ("description", "requester", "stats", "company")
_SHOW_INCLUDES = ("conversations", "requester", "company", "stats")
_ORDER_BY = ("created_at", "due_by", "updated_at", "status")
_FILTERS = ("new_and_my_open", "watching", "spam", "deleted")
_AGENT_STATES = ("fulltime", "occasional")


class ApiError(Exception):
    def __init__(self, status: int, description: str, errors: list[dict]) -> None:
        super().__init__(description)
        self.status, self.description, self.errors = status, description, errors


def _invalid(field: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, "Validation failed", [{"field": field, "message": message, "code": code}])


def _not_found() -> ApiError:
    return ApiError(404, "Resource not found",
                    [{"message": "The requested resource does not exist.", "code": "not_found"}])


def dumps(data) -> bytes:
    """UTF-8 JSON like Freshdesk's; a lone surrogate forces the escaped form (`\\ud800`)."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class JsonResponse(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content) -> bytes:
        return dumps(content)


def _error_response(e: ApiError) -> JsonResponse:
    return JsonResponse({"description": e.description, "errors": e.errors}, status_code=e.status)


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
        raise _invalid(name, f"It should be a Positive Integer{limit}")
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
        raise _invalid("include", f"It should be one of these values: '{','.join(allowed)}'")
    return values


def include_credits(scope: dict) -> int:
    """Each include value costs 2 credits on top of the call's 1."""
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        if part.startswith("include="):
            return 2 * len([v for v in unquote_plus(part[8:]).split(",") if v.strip()])
    return 0


def parse_since(raw: str) -> int:
    text = raw.strip().replace(" ", "+")  # a '+' offset arrives as a space when not escaped
    try:
        if len(text) == 10:
            dt = datetime.strptime(text, "%Y-%m-%d")
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("updated_since", "It should be in the 'valid date time' format", "invalid_date") from None
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


def _language(request: Request) -> str:
    lang = request.path_params.get("language", "en")
    if lang not in LANGUAGES:
        raise _invalid("language", f"It should be one of these values: '{','.join(LANGUAGES)}'")
    return lang


class Handlers:
    """The API's endpoints; each returns a Response or raises ApiError."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.desk = emu.desk

    # --- tickets ------------------------------------------------------------------------------
    async def tickets_list(self, request: Request) -> Response:
        q = request.query_params
        page, per_page = _paging(request)
        if page > MAX_PAGES:
            raise ApiError(400, PAGE_301_BODY["description"], PAGE_301_BODY["errors"])
        includes = _includes(request, _LIST_INCLUDES)
        flt = q.get("filter")
        if flt is not None and flt not in _FILTERS:
            raise _invalid("filter", f"It should be one of these values: '{','.join(_FILTERS)}'")
        order_by = q.get("order_by", "created_at")
        if order_by not in _ORDER_BY:
            raise _invalid("order_by", f"It should be one of these values: '{','.join(_ORDER_BY)}'")
        order_type = q.get("order_type", "desc")
        if order_type not in ("asc", "desc"):
            raise _invalid("order_type", "It should be one of these values: 'asc,desc'")
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
        t = self.desk.tickets.get(request.path_params["ticket_id"])
        if t is None:
            raise _not_found()
        return t

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

    # --- agents -----------------------------------------------------------------------------------
    async def agents_list(self, request: Request) -> Response:
        q = request.query_params
        state = q.get("state")
        if state is not None and state not in _AGENT_STATES:
            raise _invalid("state", f"It should be one of these values: '{','.join(_AGENT_STATES)}'")
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
            a = self.desk.agents.get(request.path_params["agent_id"])
            if a is None:
                raise _not_found()
            return JsonResponse(agent_json(a))

    # --- solutions ------------------------------------------------------------------------------
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
        c = self.desk.categories.get(request.path_params["category_id"])
        if c is None:
            raise _not_found()
        return c

    def _folder(self, request: Request):
        f = self.desk.folders.get(request.path_params["folder_id"])
        if f is None:
            raise _not_found()
        return f

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
                raise _not_found()
            return JsonResponse(article_json(a, lang, self._chain(a.folder_id, lang)))

    def routes(self) -> list[Route]:
        s = "/api/v2/solutions"
        pairs = [
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


class Admin:
    """`/_emulator/...`: drive the clock, mutations and faults over HTTP (no auth; loopback only)."""

    OPS = ("create_ticket", "update_ticket", "add_conversation", "resolve_ticket", "delete_ticket",
           "spam_ticket", "restore_ticket", "edit_article", "unpublish_article", "publish_article",
           "move_article", "delete_article", "add_article", "add_category", "add_folder", "corrupt_ticket",
           "repair_ticket", "mutate_random")

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def stats(self, request: Request) -> Response:
        if request.method == "POST":
            self.emu.stats.reset()
        return JsonResponse({**self.emu.stats.snapshot(), "desk": self.emu.desk.counts(),
                             "now": iso(self.emu.clock.timestamp())})

    async def ground_truth(self, request: Request) -> Response:
        return JsonResponse({str(k): v for k, v in self.emu.ground_truth.items()})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            if "set" in data:
                self.emu.clock.set(datetime.fromisoformat(str(data["set"]).replace("Z", "+00:00")))
            if "advance" in data:
                self.emu.clock.advance(float(data["advance"]))
        return JsonResponse({"now": iso(self.emu.clock.timestamp())})

    async def mutate(self, request: Request) -> Response:
        data = dict(await request.json())
        op = data.pop("op", None)
        if op not in self.OPS:
            return JsonResponse({"error": f"op must be one of {list(self.OPS)}"}, status_code=400)
        try:
            result = getattr(self.emu, op)(**data)
        except (KeyError, ValueError, TypeError) as exc:
            return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse({"op": op, "result": result, "now": iso(self.emu.clock.timestamp())})

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.emu.set_faults(None)
        elif request.method == "POST":
            try:
                self.emu.set_faults(FaultConfig.from_dict(await request.json()))
            except (TypeError, ValueError) as exc:
                return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse({"faults": repr(self.emu.fault_config)})

    def routes(self) -> list[Route]:
        return [
            Route("/_emulator/stats", self.stats, methods=["GET", "POST"]),
            Route("/_emulator/ground_truth", self.ground_truth, methods=["GET"]),
            Route("/_emulator/clock", self.clock, methods=["GET", "POST"]),
            Route("/_emulator/mutate", self.mutate, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
        ]


async def _drop(send) -> bool:
    """Close the connection without a response.

    ASGI has no "abort" message, so this reaches uvicorn's per-request cycle (the bound
    `send`'s owner) and aborts its transport; marking the cycle disconnected stops uvicorn
    from writing its own 500 afterwards. Returns False when the server is not uvicorn.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    cycle.disconnected = True
    transport.abort()
    return True


_HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"


class ApiGate:
    """The outermost ASGI callable: routing, faults, auth, credits, headers, stats."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.api_routes = Handlers(emu).routes()
        self.admin_routes = Admin(emu).routes()

    @staticmethod
    def _match(routes: list[Route], scope: dict):
        partial = None
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return route, child, False
            if match == Match.PARTIAL and partial is None:
                partial = route
        return partial, None, partial is not None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/_emulator/"):
            route, child, wrong_method = self._match(self.admin_routes, scope)
            if route is None or wrong_method:
                await JsonResponse({"error": "not found"}, status_code=404)(scope, receive, send)
                return
            scope = {**scope, **child}
            response = await route.endpoint(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self._api(scope, receive, send)

    def _auth(self, scope: dict) -> ApiError | None:
        header = dict(scope["headers"]).get(b"authorization", b"")
        user = None
        if header[:6].lower() == b"basic ":
            try:
                user = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                user = None
        if user is not None and user == self.emu.api_key:
            return None
        if user is not None and self.emu.restricted_api_key and user == self.emu.restricted_api_key:
            return ApiError(403, "You are not authorized to perform this action.",
                            [{"code": "access_denied", "message": "You are not authorized to perform this action."}])
        return ApiError(401, "Authentication failure",
                        [{"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}])

    async def _api(self, scope, receive, send) -> None:
        emu = self.emu
        route, child, wrong_method = self._match(self.api_routes, scope)
        endpoint = f"{scope['method']} {route.path_format if route is not None else scope['path']}"
        request = Request(scope, receive)
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 1
        fault = emu.injector.decide(scope["path"], page)
        limiter = emu.rate_limiter
        if fault:
            emu.stats.fault(fault)
        if fault == "drop" and await _drop(send):
            emu.stats.record(endpoint, 0, 0)
            return
        if fault == "429":
            response = JsonResponse(
                {"description": "You have exceeded the limit of requests per minute",
                 "errors": [{"code": "rate_limit_exceeded", "message": "Retry after the time in Retry-After."}]},
                status_code=429, headers={"Retry-After": str(emu.fault_config.retry_after_s)})
            await self._send(response, scope, receive, send, endpoint, 0, limiter.remaining())
            return
        if fault == "slow":
            await asyncio.sleep(emu.fault_config.slow_s)
        elif fault == "timeout":
            await asyncio.sleep(emu.fault_config.timeout_s)

        auth_error = self._auth(scope)
        cost = 1 if auth_error or route is None or wrong_method else 1 + include_credits(scope)
        is_list = endpoint == "GET /api/v2/tickets"
        allowed, remaining = limiter.charge(cost, is_list=is_list)
        if not allowed:
            response = JsonResponse(
                {"description": "You have exceeded the limit of requests per minute",
                 "errors": [{"code": "rate_limit_exceeded", "message": "Retry after the time in Retry-After."}]},
                status_code=429, headers={"Retry-After": str(limiter.retry_after())})
            await self._send(response, scope, receive, send, endpoint, 0, remaining)
            return
        if fault in ("500", "502", "503"):
            if fault == "502":
                response = Response(_HTML_502, status_code=502, media_type="text/html")
            elif fault == "503":
                response = _error_response(ApiError(503, "Service Unavailable", [
                    {"code": "service_unavailable", "message": "The server is temporarily unavailable."}]))
            else:
                response = _error_response(ApiError(500, "Internal Server Error", [
                    {"code": "internal_error", "message": "We're sorry, but something went wrong."}]))
            await self._send(response, scope, receive, send, endpoint, cost, remaining)
            return
        if auth_error is not None:
            response = _error_response(auth_error)
        elif route is None:
            response = _error_response(_not_found())
        elif wrong_method:
            response = _error_response(ApiError(405, "Method not allowed", [
                {"code": "method_not_allowed", "message": f"{scope['method']} is not allowed here."}]))
        else:
            scope = {**scope, **child}
            try:
                response = await route.endpoint(Request(scope, receive))
            except ApiError as e:
                response = _error_response(e)
            except Exception:
                log.exception("emulator handler failed for %s", endpoint)
                response = _error_response(ApiError(500, "Internal Server Error", [
                    {"code": "internal_error", "message": "We're sorry, but something went wrong."}]))
        if fault == "truncate" and response.status_code == 200:
            body = response.body
            response = Response(body[: max(1, len(body) // 2)], status_code=200,
                                media_type="application/json; charset=utf-8",
                                headers={k: v for k, v in response.headers.items() if k == "link"})
        elif fault == "malformed" and response.status_code == 200:
            response = Response(b"<!DOCTYPE html><html><body>Something went wrong</body></html>",
                                status_code=200, media_type="application/json; charset=utf-8")
        await self._send(response, scope, receive, send, endpoint, cost, remaining)

    async def _send(self, response: Response, scope, receive, send, endpoint: str, cost: int,
                    remaining: int) -> None:
        emu = self.emu
        response.headers["X-RateLimit-Total"] = str(emu.rate_limiter.total)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Used-CurrentRequest"] = str(cost)
        response.headers["X-Freshdesk-API-Version"] = "latest=v2; requested=v2"
        emu.stats.record(endpoint, response.status_code, cost)
        await response(scope, receive, send)

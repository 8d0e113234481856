"""The emulator's ASGI app: Freshdesk API v2 under `/api/v2` (handlers.py), its controls under
`/_emulator` (admin.py).

`ApiGate` is the outermost ASGI callable, so it holds uvicorn's own `send` and can drop a
connection for real (it aborts the transport; see `_drop`). For each API request it matches
the Starlette route, then applies, in order: the configured latency (latency.py), injected
faults, Basic auth, the credit budget, the handler, and the `X-RateLimit-*` headers every
Freshdesk response carries.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from .admin import Admin
from .handlers import Handlers
from .responses import ApiError, JsonResponse, error_response, not_found

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger(__name__)


def include_credits(scope: dict) -> int:
    """Each include value costs 2 credits on top of the call's 1."""
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        if part.startswith("include="):
            return 2 * len([v for v in unquote_plus(part[8:]).split(",") if v.strip()])
    return 0


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


def _rate_limited(retry_after_s: int) -> JsonResponse:
    return JsonResponse(
        {"description": "You have exceeded the limit of requests per minute",
         "errors": [{"code": "rate_limit_exceeded", "message": "Retry after the time in Retry-After."}]},
        status_code=429, headers={"Retry-After": str(retry_after_s)})


# The list calls with a per-minute budget of their own besides the account's (ratelimit.SUB_LIMITED).
_SUB_LIMITED = {"GET /api/v2/tickets": "tickets", "GET /api/v2/contacts": "contacts"}

_INTERNAL_ERROR = ApiError(500, "Internal Server Error", [
    {"code": "internal_error", "message": "We're sorry, but something went wrong."}])
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
        emu.stats.started(endpoint)
        try:
            delay = emu.latency.draw()
            if delay:
                await asyncio.sleep(delay)  # on the event loop: other requests go on meanwhile
            await self._answer(scope, receive, send, route, child, wrong_method, endpoint)
        finally:
            emu.stats.finished(endpoint)

    async def _answer(self, scope, receive, send, route, child, wrong_method: bool, endpoint: str) -> None:
        emu = self.emu
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
            response = _rate_limited(emu.fault_config.retry_after_s)
            await self._send(response, scope, receive, send, endpoint, 0, limiter.remaining())
            return
        if fault == "slow":
            await asyncio.sleep(emu.fault_config.slow_s)
        elif fault == "timeout":
            await asyncio.sleep(emu.fault_config.timeout_s)

        auth_error = self._auth(scope)
        cost = 1 if auth_error or route is None or wrong_method else 1 + include_credits(scope)
        sub_limit = _SUB_LIMITED.get(endpoint)
        allowed, remaining = limiter.charge(cost, sub_limit=sub_limit)
        if not allowed:
            response = _rate_limited(limiter.retry_after())
            await self._send(response, scope, receive, send, endpoint, 0, remaining)
            return
        if fault in ("500", "502", "503"):
            if fault == "502":
                response = Response(_HTML_502, status_code=502, media_type="text/html")
            elif fault == "503":
                response = error_response(ApiError(503, "Service Unavailable", [
                    {"code": "service_unavailable", "message": "The server is temporarily unavailable."}]))
            else:
                response = error_response(_INTERNAL_ERROR)
            await self._send(response, scope, receive, send, endpoint, cost, remaining)
            return
        if auth_error is not None:
            response = error_response(auth_error)
        elif route is None:
            response = error_response(not_found())
        elif wrong_method:
            response = error_response(ApiError(405, "Method not allowed", [
                {"code": "method_not_allowed", "message": f"{scope['method']} is not allowed here."}]))
        else:
            scope = {**scope, **child}
            try:
                response = await route.endpoint(Request(scope, receive))
            except ApiError as e:
                response = error_response(e)
            except Exception:
                log.exception("emulator handler failed for %s", endpoint)
                response = error_response(_INTERNAL_ERROR)
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

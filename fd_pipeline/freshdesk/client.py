"""A Freshdesk API v2 client that survives long windows, rate limits and flaky transports.

All HTTP goes through `FreshdeskClient._get`: pacing, retries, Retry-After, error mapping
and accounting live there and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from fd_pipeline.freshdesk.errors import (
    FreshdeskAuthError,
    FreshdeskConfigError,
    FreshdeskError,
    FreshdeskMalformedResponse,
    FreshdeskNotFound,
    FreshdeskPaginationError,
    FreshdeskRateLimited,
    FreshdeskUnavailable,
)
from fd_pipeline.freshdesk.ratelimit import ACCOUNT, TICKETS_LIST, ApiStats, RatePacer, WaitBudget, header_int
from fd_pipeline.freshdesk.records import Article, Conversation, MalformedItem, Ticket, parse_timestamp
from fd_pipeline.tls import plain_http_to_remote

__all__ = ["FreshdeskClient", "resolve_origin"]

log = logging.getLogger("fd_pipeline.freshdesk")

# Freshdesk refuses page 301 of a ticket listing whatever per_page is.
MAX_LIST_PAGES = 300
# The setting that sizes a run's WaitBudget, named in the error when a storm outlasts it.
BUDGET_SETTING = "FRESHDESK_RATE_LIMIT_BUDGET_MINUTES"
# A 429 that asks for no wait (or none at all) is still waited this long at least: a server
# refusing again at once must not spin the client, nor leave the budget unspent forever.
MIN_THROTTLE_WAIT_S = 1.0


def resolve_origin(domain: str | None, base_url: str | None) -> str:
    """`https://{domain}.freshdesk.com` (or the given full host / base URL), without `/api/v2`.

    Plain http:// is refused unless the host is loopback: the API key travels in every request.
    """
    if base_url:
        url = base_url.strip()
    elif domain:
        d = domain.strip().rstrip("/")
        url = d if "://" in d else (f"https://{d}" if "." in d else f"https://{d}.freshdesk.com")
    else:
        raise FreshdeskConfigError(
            "No Freshdesk account configured: set FRESHDESK_DOMAIN (your helpdesk subdomain, e.g. "
            "'acme' for https://acme.freshdesk.com) or FRESHDESK_BASE_URL (a full base URL, e.g. an "
            "emulator at http://127.0.0.1:PORT), and FRESHDESK_API_KEY."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FreshdeskConfigError(f"Freshdesk URL must be https://host[/...], got scheme {parts.scheme!r}")
    if plain_http_to_remote(url):
        raise FreshdeskConfigError(
            f"Refusing plain http:// to {parts.hostname}: Freshdesk requires HTTPS and the API key "
            "would travel in clear. Use https:// (http:// is accepted only for loopback emulators)."
        )
    # Credentials embedded in the URL would leak into logs; the key comes from api_key only.
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    path = parts.path.rstrip("/")
    if path.endswith("/api/v2"):
        path = path[: -len("/api/v2")]
    return f"{parts.scheme}://{netloc}{path}"


def _fmt_since(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _floor_second(dt: datetime) -> datetime:
    return _utc(dt).replace(microsecond=0)


def list_cost(include_description: bool) -> int:
    """The credits of one ticket list page: Freshdesk charges 2 extra with descriptions."""
    return 3 if include_description else 1


@dataclass(frozen=True)
class UpdatedListing:
    """A Freshdesk listing that `FreshdeskClient.walk_updated` reads by update time: its path, what
    one item is called, and the parser of one item's JSON (raising on a malformed one). A domain
    synced by update time declares one.

    `since_param`: the query parameter of the lower bound (tickets: `updated_since`; contacts and
    companies: `_updated_since`). `ordered`: the listing takes `order_by=updated_at` (oldest
    first), so a walk stops at the window's end and restarts past the page cap; an unordered one
    is read to its last page, within the cap.
    """

    path: str
    kind: str
    parse: Callable[[Any], Any]
    since_param: str = "updated_since"
    ordered: bool = True

    @property
    def endpoint(self) -> str:
        return self.path.strip("/")

    def label(self, filter_: str | None = None) -> str:
        return f"{self.endpoint} (filter={filter_})" if filter_ else self.endpoint


TICKET_LISTING = UpdatedListing("/tickets", "ticket", Ticket.from_raw)


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((_utc(when) - datetime.now(UTC)).total_seconds(), 0.0)


def _error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """Freshdesk's `description` plus its error codes/messages, for messages a user can act on."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:200] or response.reason_phrase or "no body"), None
    if not isinstance(body, dict):
        return str(body)[:200], None
    parts = [str(body.get("description") or body.get("message") or "").strip()]
    code = body.get("code")
    for err in body.get("errors") or []:
        if isinstance(err, dict):
            code = code or err.get("code")
            bits = [str(err[k]) for k in ("field", "message", "code") if err.get(k)]
            parts.append(": ".join(bits))
    return "; ".join(p for p in parts if p) or response.reason_phrase, code


class _Retry(Exception):
    """Internal: the attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, wait: float | None = None, malformed: bool = False, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.malformed = malformed
        self.throttled = throttled


class FreshdeskClient:
    """Read-only Freshdesk API v2 client; see docs/contracts.md "Freshdesk client"."""

    def __init__(
        self,
        api_key: str,
        domain: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        per_page: int = 100,
        verify: bool | str = True,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        progress: Callable[[str], None] | None = None,
        progress_every_s: float = 10.0,
        rate_limit_budget_s: float = 900.0,
        budget: WaitBudget | None = None,
    ) -> None:
        if not api_key:
            raise FreshdeskConfigError("FRESHDESK_API_KEY is empty: set it to an agent's API key (Profile settings).")
        if not 1 <= per_page <= 100:
            raise FreshdeskConfigError(f"per_page must be between 1 and 100 (Freshdesk's maximum), got {per_page}")
        self.origin = resolve_origin(domain, base_url)
        self.host = urlsplit(self.origin).netloc
        self._api_root = f"{self.origin}/api/v2"
        self.per_page = per_page
        self.max_retries = max(int(max_retries), 0)
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.pacer = RatePacer()
        self.stats = ApiStats()
        # 429s are waited out for as long as the server asks, until this budget (shared by a run's
        # clients) is spent; `max_retries` bounds every other failure of one request.
        self.budget = budget if budget is not None else WaitBudget(rate_limit_budget_s)
        # The plan's credits per window, as the latest response's X-RateLimit-Total said.
        self.rate_limit_total: int | None = None
        # A long listing on a tight rate limit can run for minutes: say where it is every so often.
        self.progress: Callable[[str], None] = progress or log.info
        self.progress_every_s = progress_every_s
        self.pages_read = 0
        self.items_listed = 0
        self._started = self._last_progress = time.monotonic()
        if self.origin.startswith("http://"):
            verify_arg: bool | ssl.SSLContext = False  # loopback only; loading the CA store costs ~75 ms
        elif isinstance(verify, str):
            verify_arg = ssl.create_default_context(cafile=verify)
        else:
            verify_arg = verify
        self._http = httpx.Client(
            auth=httpx.BasicAuth(api_key, "X"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify_arg,
            headers={"Accept": "application/json", "User-Agent": "fd-pipeline/0.1"},
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"FreshdeskClient(origin={self.origin!r}, per_page={self.per_page}, max_retries={self.max_retries})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FreshdeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        # Jitter keeps parallel workers from retrying in lock-step.
        return random.uniform(delay / 2, delay)

    def _wait(self, seconds: float, *, pacing: bool, why: str) -> None:
        if seconds <= 0:
            return
        if seconds >= self.progress_every_s / 2:
            self.progress(f"Freshdesk: waiting {seconds:.1f}s {why}")
        left = seconds
        while left > 0:
            step = min(left, self.progress_every_s)
            time.sleep(step)
            self.stats.record_wait(step, pacing=pacing)
            left -= step
            if left > 0:
                self.report_progress(force=True, now=f"{left:.1f}s left of that wait")

    def report_progress(self, *, force: bool = False, now: str | None = None) -> None:
        moment = time.monotonic()
        if not force and moment - self._last_progress < self.progress_every_s:
            return
        self._last_progress = moment
        s = self.stats.snapshot()
        self.progress(
            f"Freshdesk after {moment - self._started:.0f}s: {self.pages_read} pages, {self.items_listed} items listed, "
            f"{s.calls} calls ({s.credits} credits), {s.retries} retries, {s.throttled} throttled, "
            f"waited {s.waited_s:.1f}s ({s.paced_s:.1f}s pacing)" + (f"; {now}" if now else "")
        )

    @property
    def _rate_window_key(self) -> str:
        return f"freshdesk.rate_window_s:{self.host}"

    @property
    def _rate_window_began_key(self) -> str:
        return f"freshdesk.rate_window_began:{self.host}"

    def recall_rate_window(self, memory: Any) -> None:
        """Pace from the rate window an earlier run learnt, and go on from where its windows stood
        when it was recent (`RatePacer.resume`); `memory` has get_meta (the sync store)."""
        hint = memory.get_meta(self._rate_window_key)
        if isinstance(hint, (int, float)) and hint > 0:
            self.pacer.window_hint_s = float(hint)
            log.debug("pacing from the rate window learnt before: %.3fs", hint)
            began = memory.get_meta(self._rate_window_began_key)
            if isinstance(began, (int, float)):
                self.pacer.resume(float(hint), float(began))

    def remember_rate_window(self, memory: Any) -> None:
        """Keep the window this run learnt, and when its latest one began, for the next (`memory` has set_meta)."""
        if self.pacer.window_s:
            memory.set_meta(self._rate_window_key, math.ceil(self.pacer.window_s * 1000) / 1000)
            began = self.pacer.window_began_at()
            if began is not None:
                memory.set_meta(self._rate_window_began_key, round(began, 3))

    def _get(
        self,
        path_or_url: str,
        params: dict[str, Any] | None,
        *,
        endpoint: str,
        what: str,
        expect: type,
        cost: int = 1,
        page: int | None = None,
        not_found_ok: bool = False,
    ) -> tuple[Any, httpx.Response] | None:
        """GET one resource, paced and retried. Returns (json, response), or None on an allowed 404."""
        url = path_or_url if path_or_url.startswith("http") else f"{self._api_root}{path_or_url}"
        buckets = (ACCOUNT, TICKETS_LIST) if endpoint == "tickets" else (ACCOUNT,)
        where = f"GET {urlsplit(url).path}" + (f" page {page}" if page else "")
        last: _Retry | None = None
        failures = throttles = 0  # per request: failures count against max_retries, 429s against the budget
        while True:
            self.report_progress()
            delay = self.pacer.delay_before(buckets, cost)
            if delay > 0:
                log.debug("pacing: waiting %.2fs before %s to stay under the rate limit", delay, where)
                self._wait(delay, pacing=True, why=f"before {where} to stay under the rate limit")
                self.pacer.note_paced(buckets)
            try:
                return self._attempt(url, params, endpoint, buckets, cost, what, expect, where, not_found_ok)
            except _Retry as retry:
                last = retry
                if retry.throttled:
                    wait = max(retry.wait if retry.wait is not None else self._backoff(throttles), MIN_THROTTLE_WAIT_S)
                    throttles += 1
                    if self.budget.charge(wait) is None:
                        raise FreshdeskRateLimited(
                            f"Freshdesk at {self.host} kept rate-limiting {where} ({what}): {throttles} 429s for this request, "
                            f"and waiting the {wait:g}s it asks would pass this run's {self.budget.seconds / 60:g} min of "
                            f"rate-limit waits ({BUDGET_SETTING}; {self.budget.spent_s:.0f}s spent)"
                        ) from None
                    count = f"429 #{throttles}, {self.budget.spent_s:.0f}s of {self.budget.seconds:.0f}s budget spent"
                else:
                    if failures >= self.max_retries:
                        break
                    wait = retry.wait if retry.wait is not None else self._backoff(failures)
                    failures += 1
                    count = f"retry {failures}/{self.max_retries}"
                self.stats.bump("retries")
                log.warning("%s: %s; %s, again in %.2fs", where, retry.reason, count, wait)
                self._wait(wait, pacing=False, why=f"to retry {where} ({retry.reason})")
        assert last is not None
        tries = failures + throttles + 1
        if last.malformed:
            raise FreshdeskMalformedResponse(
                f"Freshdesk at {self.host} sent a malformed body for {where} ({what}) {tries} times: {last.reason}"
            )
        raise FreshdeskUnavailable(
            f"Freshdesk at {self.host} is unavailable: {where} ({what}) failed {tries} times; last: {last.reason}"
        )

    def _fetch(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        """One GET, whole within `timeout` from the moment it is sent.

        httpx's read timeout applies to each read, so a server (or proxy) that stalls mid-body,
        sending a byte now and then, could hold a request for ever, and a worker with it. Past
        the deadline the connection's socket is shut, which ends the read in progress at once.
        """
        started = time.monotonic()
        with self._http.stream("GET", url, params=params) as streamed:
            network = streamed.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            stalled = threading.Event()

            def cut() -> None:
                stalled.set()
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: wakes a blocked read

            timer = threading.Timer(max(self.timeout - (time.monotonic() - started), 0.0), cut) if sock is not None else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                raw = b"".join(streamed.iter_raw())
            except httpx.TransportError:
                if stalled.is_set():
                    raise _Retry(f"stalled: the response was not complete {self.timeout:g}s after it was sent") from None
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        # Rebuilt from the raw bytes, so it decodes them as the streamed response would have.
        return httpx.Response(streamed.status_code, headers=streamed.headers, content=raw,
                              request=streamed.request, extensions=streamed.extensions)

    def _attempt(
        self,
        url: str,
        params: dict[str, Any] | None,
        endpoint: str,
        buckets: tuple[str, ...],
        cost: int,
        what: str,
        expect: type,
        where: str,
        not_found_ok: bool,
    ) -> tuple[Any, httpx.Response] | None:
        sent_at = self.pacer.now()
        try:
            response = self._fetch(url, params)
        except httpx.TransportError as exc:
            # Connection refused/reset, timeouts and bodies cut short (RemoteProtocolError).
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        used = header_int(response.headers, "X-RateLimit-Used-CurrentRequest")
        credits = used if used is not None else cost
        self.stats.record_call(endpoint, credits)
        remaining = header_int(response.headers, "X-RateLimit-Remaining")
        total = header_int(response.headers, "X-RateLimit-Total")
        if total is not None:
            self.rate_limit_total = total
        self.pacer.observe(total, remaining, sent_at)
        status = response.status_code
        if status != 429:
            self.pacer.spend(buckets[1:], credits)
        else:
            self.stats.bump("throttled")
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                # Budget left on the account means the call hit a sub-limit no header shows.
                blocked = buckets[1:] if len(buckets) > 1 and (remaining or 0) >= 2 * cost else buckets
                # Held no longer than the budget: a wait past it ends the run instead (see _get).
                self.pacer.throttled(blocked, min(retry_after, self.budget.seconds))
            raise _Retry("429 rate limited" + (f" (Retry-After {retry_after:g}s)" if retry_after is not None else ""),
                         retry_after, throttled=True)
        if status >= 500:
            detail, _ = _error_detail(response)
            raise _Retry(f"{status} {detail}")
        if status in (401, 403):
            detail, code = _error_detail(response)
            hint = (
                "the API key is wrong or revoked: check FRESHDESK_API_KEY"
                if status == 401
                else "the key's agent lacks permission, or the plan does not include this feature"
            )
            raise FreshdeskAuthError(
                f"Freshdesk at {self.host} refused {where} ({status}: {detail}): {hint}", status=status, code=code
            )
        if status == 404:
            if not_found_ok:
                return None
            detail, code = _error_detail(response)
            raise FreshdeskNotFound(f"{what} not found on {self.host} ({where}: {detail})", status=404, code=code)
        if status >= 400:
            detail, code = _error_detail(response)
            raise FreshdeskError(f"Freshdesk at {self.host} rejected {where} ({status}: {detail})", status=status, code=code)
        if status != 200:
            raise FreshdeskError(f"Freshdesk at {self.host} answered {where} with unexpected {status}", status=status)
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Retry(f"body is not valid JSON ({exc.__class__.__name__}: {exc})", malformed=True) from None
        if not isinstance(body, expect):
            raise _Retry(f"expected a JSON {expect.__name__}, got {type(body).__name__}", malformed=True)
        return body, response

    def _next_url(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        # Rebuild on our own origin: the key must never follow a link to another host.
        parts = urlsplit(link)
        return f"{self.origin}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _pages(
        self, path: str, params: dict[str, Any], *, endpoint: str, what: str, cost: int = 1,
        not_found_ok: bool = False,
    ) -> Iterator[tuple[int, list[Any]]]:
        """Yield (page number, items) following `link: rel=next`; fetches lazily, page by page."""
        url: str | None = path
        page_params: dict[str, Any] | None = dict(params)
        page = int(params.get("page", 1))
        while url is not None:
            got = self._get(url, page_params, endpoint=endpoint, what=what, expect=list, cost=cost,
                            page=page, not_found_ok=not_found_ok)
            if got is None:
                return
            items, response = got
            self.pages_read += 1
            yield page, items
            url = self._next_url(response)
            page_params = None
            if url is not None:
                query_page = parse_qs(urlsplit(url).query).get("page")
                page = int(query_page[0]) if query_page and query_page[0].isdigit() else page + 1

    def iter_tickets_updated(self, *, start: datetime, end: datetime) -> Iterator[Ticket | MalformedItem]:
        """Tickets with start <= updated_at < end, oldest first, each id once (descriptions included)."""
        yield from self.walk_updated(TICKET_LISTING, start, end, include="description", cost=list_cost(True))

    def iter_removed_tickets(self, *, start: datetime, end: datetime) -> Iterator[Ticket | MalformedItem]:
        """Deleted and spam tickets updated in [start, end), each id once."""
        seen: set[str] = set()
        for filter_ in ("deleted", "spam"):
            yield from self.walk_updated(TICKET_LISTING, start, end, filter_=filter_, cost=list_cost(False), seen=seen)

    def walk_updated(
        self, listing: UpdatedListing, start: datetime, end: datetime, *, filter_: str | None = None,
        include: str | None = None, cost: int = 1, seen: set[str] | None = None,
    ) -> Iterator[Any]:
        """The items of `listing` with start <= updated_at < end, oldest first, each id once (ids
        in `seen` are skipped, and those yielded added), each parsed or a MalformedItem.

        Freshdesk serves at most MAX_LIST_PAGES pages per listing: past them the walk restarts
        from the newest `updated_at` it read.
        """
        start, end = _utc(start), _utc(end)
        if end <= start:
            return
        seen = set() if seen is None else seen
        since = _floor_second(start)
        label = listing.label(filter_)
        while True:
            params = self._list_params(listing, since, filter_, include)
            pages = 0
            newest: datetime | None = None
            walk_on = False
            for page, items in self._pages(listing.path, params, endpoint=listing.endpoint, what=label, cost=cost):
                pages += 1
                for raw in items:
                    updated = self._updated_at(raw)
                    if updated is not None:
                        if updated >= end:
                            if listing.ordered:
                                return  # ascending order: nothing later is in the window
                            continue
                        newest = updated if newest is None or updated > newest else newest
                        if updated < start:
                            continue
                    item = self._parse(listing.parse, raw, listing.kind, f"GET /api/v2{listing.path} page {page}")
                    key = self._key(raw)
                    if key is not None:
                        if key in seen:
                            continue
                        seen.add(key)
                    self.items_listed += 1
                    yield item
                if pages >= MAX_LIST_PAGES:
                    # Page 301 is a 400; a full last page means the window goes on.
                    walk_on = len(items) >= self.per_page
                    break
            if not walk_on:
                return
            if not listing.ordered:
                raise FreshdeskPaginationError(
                    f"Cannot list {label} past {MAX_LIST_PAGES} pages since {_fmt_since(since)}: the listing is not "
                    "ordered by updated_at, so the walk cannot restart from the newest item read"
                )
            if newest is None or _floor_second(newest) <= since:
                raise FreshdeskPaginationError(
                    f"Cannot walk {label} past {_fmt_since(since)}: more than {MAX_LIST_PAGES * self.per_page} "
                    f"{listing.endpoint} share that updated_at second and Freshdesk serves at most "
                    f"{MAX_LIST_PAGES} pages per listing"
                )
            since = _floor_second(newest)
            log.info("%s: %d pages read, restarting the listing from updated_since=%s", label, pages, _fmt_since(since))

    def _list_params(self, listing: UpdatedListing, since: datetime, filter_: str | None,
                     include: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {listing.since_param: _fmt_since(since)}
        if listing.ordered:
            params.update(order_by="updated_at", order_type="asc")
        params["per_page"] = self.per_page
        if include:
            params["include"] = include
        if filter_:
            params["filter"] = filter_
        return params

    def ticket_page(
        self, *, since: datetime, page: int, filter_: str | None = None, include_description: bool = False
    ) -> list[Ticket | MalformedItem]:
        """One page (1..MAX_LIST_PAGES) of the listing the walkers read, oldest first: tickets updated at or
        after `since` (filter_ "deleted" or "spam" for removed ones), each parsed or a MalformedItem.

        For sizing a listing with a few calls (`fd-pipeline estimate`); syncs walk whole windows instead.
        """
        if not 1 <= page <= MAX_LIST_PAGES:
            raise ValueError(f"page must be between 1 and {MAX_LIST_PAGES}, got {page}")
        listing = TICKET_LISTING
        params = {**self._list_params(listing, since, filter_, "description" if include_description else None), "page": page}
        # _pages fetches lazily: taking its first page makes one call (and counts it in pages_read).
        _, items = next(self._pages(listing.path, params, endpoint=listing.endpoint, what=listing.label(filter_),
                                    cost=list_cost(include_description)))
        where = f"GET /api/v2{listing.path} page {page}"
        return [self._parse(listing.parse, raw, listing.kind, where) for raw in items]

    @staticmethod
    def _updated_at(raw: Any) -> datetime | None:
        try:
            return parse_timestamp(raw.get("updated_at"), "updated_at") if isinstance(raw, dict) else None
        except ValueError:
            return None

    @staticmethod
    def _key(raw: Any) -> str | None:
        item_id = raw.get("id") if isinstance(raw, dict) else None
        return None if item_id is None else str(item_id)

    def _parse(self, factory: Any, raw: Any, kind: str, endpoint: str, **kwargs: Any) -> Any:
        try:
            return factory(raw, **kwargs)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.stats.bump("malformed")
            item = MalformedItem.from_error(kind, raw, endpoint, exc)
            log.warning("malformed %s %s from %s: %s", kind, item.item_id, endpoint, item.error)
            return item

    def get_ticket(self, ticket_id: int) -> Ticket:
        got = self._get(f"/tickets/{int(ticket_id)}", None, endpoint="tickets/{id}", what=f"ticket {ticket_id}",
                        expect=dict)
        assert got is not None
        item = self._parse(Ticket.from_raw, got[0], "ticket", f"GET /api/v2/tickets/{ticket_id}")
        if isinstance(item, MalformedItem):
            raise FreshdeskMalformedResponse(f"ticket {ticket_id} from {self.host} cannot be parsed: {item.error}")
        return item

    def latest_ticket_update(self, *, since: datetime) -> datetime | None:
        """Newest `updated_at` at or after `since`, or None; exactly one list call (1 credit)."""
        params = {"updated_since": _fmt_since(since), "order_by": "updated_at", "order_type": "desc", "per_page": 1}
        got = self._get("/tickets", params, endpoint="tickets", what="latest ticket update", expect=list, page=1)
        assert got is not None
        items = got[0]
        if not items:
            return None
        updated = self._updated_at(items[0])
        if updated is None:
            raise FreshdeskMalformedResponse(
                f"newest ticket from {self.host} has no parseable updated_at: {items[0].get('updated_at') if isinstance(items[0], dict) else items[0]!r}"
            )
        return updated

    def iter_conversations(self, ticket_id: int) -> Iterator[Conversation | MalformedItem]:
        """All conversations of a ticket, every page; unparseable ones as MalformedItem."""
        path = f"/tickets/{int(ticket_id)}/conversations"
        for page, items in self._pages(path, {"per_page": self.per_page}, endpoint="conversations",
                                       what=f"conversations of ticket {ticket_id}"):
            for raw in items:
                yield self._parse(Conversation.from_raw, raw, "conversation", f"GET /api/v2{path} page {page}")

    def list_conversations(self, ticket_id: int) -> list[Conversation]:
        """All conversations of a ticket; malformed ones are logged, counted in stats and left out."""
        return [c for c in self.iter_conversations(ticket_id) if isinstance(c, Conversation)]

    def helpdesk_languages(self) -> tuple[str | None, tuple[str, ...]] | None:
        """(primary language, the other languages articles may be translated into) from
        `GET /settings/helpdesk`; None where the desk does not serve it (404) or the key's agent or
        plan may not read it (403), so the caller finds the languages another way."""
        try:
            got = self._get("/settings/helpdesk", {}, endpoint="settings", what="help desk settings", expect=dict,
                            not_found_ok=True)
        except FreshdeskAuthError as exc:
            if exc.status == 403:
                return None
            raise
        if got is None:
            return None
        body, _ = got
        primary = body.get("primary_language")
        primary = primary if isinstance(primary, str) and primary else None
        listed = body.get("supported_languages")
        codes = [c for c in listed if isinstance(c, str) and c] if isinstance(listed, list) else []
        return primary, tuple(dict.fromkeys(c for c in codes if c != primary))

    def kb_translated_into(self, languages: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Those of `languages` the KB's first category has a translation in: for desks whose plan
        or key cannot read `/settings/helpdesk`. A language the desk does not have answers 400, one
        it has but this category lacks 404; one call per language."""
        first = next((c for _, cats in self._pages("/solutions/categories", {}, endpoint="solutions/categories",
                                                   what="KB categories")
                      for c in cats if isinstance(c, dict) and isinstance(c.get("id"), int)), None)
        if first is None:
            return ()
        found = []
        for language in languages:
            try:
                got = self._get(f"/solutions/categories/{first['id']}/{language}", {}, endpoint="solutions/categories",
                                what=f"KB category {first['id']} in {language}", expect=dict, not_found_ok=True)
            except FreshdeskError as exc:
                if exc.status == 400:
                    continue
                raise
            if got is not None:
                found.append(language)
        return tuple(found)

    def iter_kb_articles(
        self, languages: tuple[str, ...] | list[str] = (), category_ids: Any = None
    ) -> Iterator[Article | MalformedItem]:
        """Every article (drafts included) under every category, nested folders walked recursively;
        for each language also its translations (missing ones skipped)."""
        wanted = None if category_ids is None else {int(c) for c in category_ids}
        seen_folders: set[int] = set()
        for _, categories in self._pages("/solutions/categories", {}, endpoint="solutions/categories",
                                         what="KB categories"):
            for category in categories:
                cid = category.get("id") if isinstance(category, dict) else None
                if not isinstance(cid, int):
                    log.warning("skipping a KB category without an id: %r", category)
                    continue
                if wanted is not None and cid not in wanted:
                    continue
                name = str(category.get("name") or cid)
                for _, folders in self._pages(f"/solutions/categories/{cid}/folders", {},
                                              endpoint="solutions/folders", what=f"folders of KB category {cid}"):
                    for folder in folders:
                        yield from self._kb_folder(folder, (name,), cid, tuple(languages), seen_folders)

    def _kb_folder(
        self, folder: Any, parent_path: tuple[str, ...], category_id: int, languages: tuple[str, ...],
        seen: set[int],
    ) -> Iterator[Article | MalformedItem]:
        fid = folder.get("id") if isinstance(folder, dict) else None
        if not isinstance(fid, int):
            log.warning("skipping a KB folder without an id under %s: %r", "/".join(parent_path), folder)
            return
        if fid in seen:  # a cycle or a folder listed twice
            return
        seen.add(fid)
        path = parent_path + (str(folder.get("name") or fid),)
        base = f"/solutions/folders/{fid}/articles"
        for language in (None, *languages):
            list_path = base if language is None else f"{base}/{language}"
            what = f"articles of KB folder {fid}" + (f" in {language}" if language else "")
            # A folder without a translation answers 404: nothing to read in that language.
            for page, items in self._pages(list_path, {}, endpoint="solutions/articles", what=what,
                                           not_found_ok=language is not None):
                for raw in items:
                    self.items_listed += 1
                    yield self._parse(Article.from_raw, raw, "kb_article", f"GET /api/v2{list_path} page {page}",
                                      folder_path=path, language=language,
                                      translation=language is not None)
        for _, subfolders in self._pages(f"/solutions/folders/{fid}/subfolders", {},
                                         endpoint="solutions/subfolders", what=f"subfolders of KB folder {fid}",
                                         not_found_ok=True):
            for sub in subfolders:
                yield from self._kb_folder(sub, path, category_id, languages, seen)

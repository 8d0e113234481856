"""Errors a user can act on. Messages name the host, endpoint or resource, never the API key."""

from __future__ import annotations


class FreshdeskError(Exception):
    """Base class for every error raised by the Freshdesk client."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class FreshdeskConfigError(FreshdeskError, ValueError):
    """The environment or arguments do not describe a usable Freshdesk account."""


class FreshdeskAuthError(FreshdeskError):
    """401/403: the key is wrong, or the agent/plan may not use this endpoint."""


class FreshdeskNotFound(FreshdeskError):
    """404: the named resource does not exist (or the domain is wrong)."""


class FreshdeskUnavailable(FreshdeskError):
    """Retries exhausted, or the host could not be reached."""


class FreshdeskRateLimited(FreshdeskUnavailable):
    """Freshdesk kept answering 429 for longer than the run's rate-limit wait budget allows."""


class FreshdeskMalformedResponse(FreshdeskError):
    """A response body that is not the JSON the endpoint promises, after retries."""


class FreshdeskPaginationError(FreshdeskError):
    """A listing cannot be walked to completion (e.g. >300 pages share one updated_at second)."""

"""Freshdesk API v2 client: typed records, pacing under the rate limit, long-window walking.

Plain Python, no Dagster import; see docs/contracts.md "Freshdesk client".
"""

from fd_pipeline.freshdesk.client import TICKET_LISTING, FreshdeskClient, UpdatedListing
from fd_pipeline.freshdesk.errors import (
    FreshdeskAuthError, FreshdeskConfigError, FreshdeskError, FreshdeskMalformedResponse,
    FreshdeskNotFound, FreshdeskPaginationError, FreshdeskRateLimited, FreshdeskUnavailable,
)
from fd_pipeline.freshdesk.ratelimit import ApiStats, RatePacer, WaitBudget
from fd_pipeline.freshdesk.records import Article, Conversation, MalformedItem, Ticket

__all__ = [
    "FreshdeskClient",
    "UpdatedListing",
    "TICKET_LISTING",
    "Ticket",
    "Conversation",
    "Article",
    "MalformedItem",
    "ApiStats",
    "RatePacer",
    "WaitBudget",
    "FreshdeskError",
    "FreshdeskAuthError",
    "FreshdeskConfigError",
    "FreshdeskMalformedResponse",
    "FreshdeskNotFound",
    "FreshdeskPaginationError",
    "FreshdeskRateLimited",
    "FreshdeskUnavailable",
]

"""Keep a Freshdesk help desk's tickets and KB articles searchable in Qdrant."""

__version__ = "0.1.0"

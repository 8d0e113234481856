"""`fd-pipeline migrate`: create or upgrade the sync-log schema explicitly."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("migrate", help="create or upgrade the sync-log database schema")
    parser.set_defaults(func=_run)


def _run(_args) -> int:
    from .log import SyncLog

    store = SyncLog(migrate=False)
    revision = store.migrate()
    print(f"{store.label}: schema at revision {revision}")
    store.close()
    return 0

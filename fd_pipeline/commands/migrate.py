"""`fd-pipeline migrate`: create or upgrade the sync-log schema explicitly."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("migrate", help="create or upgrade the sync-log database schema")
    parser.set_defaults(func=_run)


def _run(_args) -> int:
    from fd_pipeline.resources import configured

    # Opening migrates; asking again only reads the revision it reached.
    with configured("sync_log").open() as store:
        print(f"{store.label}: schema at revision {store.migrate()}")
    return 0

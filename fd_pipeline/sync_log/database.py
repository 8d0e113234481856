"""The sync-log database: its URL, engine, schema revision and errors.

Postgres through psycopg 3 or an SQLite file, named by an explicit URL (the caller reads the
settings). The same code runs on both: upserts use each dialect's `INSERT ... ON CONFLICT`, and
Alembic creates and upgrades the schema on open.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

CHUNK = 500
_MIGRATION_LOCK = 0x6664_7069  # "fdpi": serialises concurrent migrations on Postgres
_URL_EXAMPLE = "postgresql://user:password@host:5432/dbname or sqlite:///path/to/sync_state.db"


class SyncLogError(RuntimeError):
    """Base error of the sync log."""


class DatabaseUnavailable(SyncLogError):
    """The database cannot be reached; the message names it (never its password)."""


class DatabaseConfigError(SyncLogError, ValueError):
    """The database URL cannot be used as written; the message names the setting, never the password."""


def _alembic_config() -> Config:
    """The migrations folder of the package; no alembic.ini (the connection is handed over)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("fd_pipeline") / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest revision among the package's migrations."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


class Database:
    """One engine on the sync-log database, its schema upgraded on open; thread-safe through
    SQLAlchemy's pool.

    `setting` names where the URL came from (an environment variable, a resource field) so that a
    malformed URL is reported by that name; the URL itself is never echoed, it holds the password.
    """

    def __init__(self, url: str, *, setting: str = "the sync-log database URL"):
        parsed = _normalise_url(url, setting)
        self.label = _describe_url(parsed)
        self._dialect = parsed.get_backend_name()
        if self._dialect == "sqlite":
            path = parsed.database
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.engine = sa.create_engine(parsed, connect_args={"timeout": 30})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        self.migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest revision; returns that revision."""
        cfg = _alembic_config()
        with self._tx() as conn:
            if self._dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            cfg.attributes["connection"] = conn
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None and sa.inspect(conn).has_table("sync_logs"):
                log.info("found the predecessor's sync_logs table; upgrading it in place")
                command.stamp(cfg, "0001")
            if current != head_revision():
                command.upgrade(cfg, "head")
            return MigrationContext.configure(conn).get_current_revision() or ""

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise self._unavailable(exc) from None
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise self._unavailable(exc) from None
            raise

    def _unavailable(self, exc: sa.exc.DBAPIError) -> DatabaseUnavailable:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return DatabaseUnavailable(f"sync log: cannot use the {self.label}: {reason}")

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def _upsert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        rows: Sequence[dict],
        *,
        update: Callable[[Any], dict[str, Any]] | None = None,
        where: Callable[[Any], sa.ColumnElement[bool]] | None = None,
    ) -> None:
        """Insert `rows`, or update a row with the same primary key: its columns get
        `update(excluded)` (by default every column the rows carry outside the key), only where
        `where(excluded)` holds (`excluded` is the row proposed)."""
        if not rows:
            return
        stmt = self._insert(table)
        key = {c.name for c in table.primary_key}
        set_ = {c: stmt.excluded[c] for c in rows[0] if c not in key} if update is None else update(stmt.excluded)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(table.primary_key), set_=set_, where=None if where is None else where(stmt.excluded)
        )
        for chunk in chunks(rows):
            conn.execute(stmt, list(chunk))

    def _rows_in(self, query: sa.Select, column: sa.ColumnElement, keys: Iterable[str]) -> Iterator[sa.Row]:
        """The rows of `query` whose `column` is one of `keys`, asked in chunks so that no
        statement outgrows the database's parameter limit."""
        wanted = list(dict.fromkeys(keys))
        with self._tx() as conn:
            for chunk in chunks(wanted):
                yield from conn.execute(query.where(column.in_(chunk)))

    def _pages(self, query: sa.Select, version: sa.Column, key: sa.Column, size: int = CHUNK) -> Iterator[list[sa.Row]]:
        """The rows of `query` in (version, key) order, a page of `size` at a time, each page read
        in its own transaction after the last (version, key) seen, so memory stays bounded and
        no connection is held while the caller works on a page."""
        after: tuple | None = None
        while True:
            page = query
            if after is not None:
                page = page.where(
                    # A row-value comparison lets Postgres walk its index; SQLite keeps the equivalent spelled-out form.
                    sa.tuple_(version, key) > sa.tuple_(*after)
                    if self._dialect == "postgresql"
                    else sa.or_(version > after[0], sa.and_(version == after[0], key > after[1]))
                )
            with self._tx() as conn:
                rows = conn.execute(page.order_by(version, key).limit(size)).all()
            if not rows:
                return
            yield rows
            last = rows[-1]._mapping
            after = (last[version], last[key])


def chunks(seq: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _describe_url(url: sa.URL) -> str:
    """A label for messages: dialect, host, port and database, never the password."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite database {url.database or ':memory:'}"
    return f"postgres database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"


def _normalise_url(url: str, setting: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except (ValueError, sa.exc.ArgumentError):
        # SQLAlchemy's own messages either echo nothing useful ("invalid literal for int()") or
        # nothing at all; the raw URL is never echoed, it holds the password.
        raise DatabaseConfigError(f"{setting} is not a valid database URL: {_url_problem(url)} (expected {_URL_EXAMPLE})") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres", "sqlite"):
        raise DatabaseConfigError(
            f"{setting} names a {parsed.get_backend_name()!r} database; only Postgres and SQLite are supported (expected {_URL_EXAMPLE})"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise DatabaseConfigError(f"{setting} has port {parsed.port}, outside 1-65535 (expected {_URL_EXAMPLE})")
    # The project speaks psycopg 3; plain postgres URLs would pick psycopg2.
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _url_problem(url: str) -> str:
    """What is wrong with a URL SQLAlchemy cannot parse, naming no credentials."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        return "it has no scheme:// prefix"
    authority = rest.split("/", 1)[0]
    if "@" in rest and "@" not in authority:
        return "it does not parse: a '/' in the user name or password must be percent-encoded (%2F)"
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        port = hostport.partition("]")[2].lstrip(":")
    else:
        port = hostport.rpartition(":")[2] if ":" in hostport else ""
    if port and not port.isdigit():
        return f"the port {port!r} is not a number"
    if hostport.endswith(":"):
        return "the port after ':' is empty"
    return "it does not parse as scheme://user:password@host:port/database"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets the status command read while a run writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

"""The sync log keeps the predecessor's sync log and the per-item state a real sync needs.

Every test runs on SQLite and on the real Postgres: schema creation and upgrade (also of the
predecessor's database in place) to exactly the tables `schema.py` describes, idempotent upserts,
the no-regress rule, status transitions, the last-sync and failed-item queries, raw records, the
embedding cache, and the error that names the database when it is down, runs whose process died
closed (stale heartbeat, or their Dagster run over), or the setting and what is wrong when its
URL is malformed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.schema import CreateIndex

from fd_pipeline.embedding import Embedding
from fd_pipeline.sync_log import DatabaseConfigError, DatabaseUnavailable, ItemResult, RawRecord, SyncLog
from fd_pipeline.sync_log.database import CHUNK, head_revision
from fd_pipeline.sync_log.schema import metadata

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
C = "support_tickets"


def assert_schema_is_the_described_one(engine: sa.Engine) -> None:
    """The database holds exactly the tables, columns, types, defaults and indexes `schema.py`
    describes (Alembic's own comparison), and the check constraints it names."""
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diffs = compare_metadata(context, metadata)
        if conn.dialect.name == "sqlite":
            # SQLAlchemy reads no index ordering back from SQLite, so Alembic sees every DESC index
            # as dropped and added again; SQLite keeps each index's DDL, compared here instead.
            diffs = [d for d in diffs if d[0] not in ("add_index", "remove_index")]
            stored = dict(conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")).all())
            described = {ix.name: str(CreateIndex(ix).compile(dialect=conn.dialect)).strip() for t in metadata.tables.values() for ix in t.indexes}
            assert stored == described
        assert diffs == [], "\n".join(map(str, diffs))
        inspector = sa.inspect(conn)
        for table in metadata.tables.values():
            checks = {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
            assert {c["name"] for c in inspector.get_check_constraints(table.name)} == checks, table.name


def test_migrations_build_exactly_the_described_schema(db_url):
    store = SyncLog(db_url)
    assert_schema_is_the_described_one(store.engine)
    # Opening again is a no-op, not a second migration.
    assert SyncLog(db_url).migrate() == head_revision()


def test_predecessor_database_is_upgraded_in_place(db_url):
    """A database the FastAPI service filled has sync_logs and no alembic_version: its rows survive."""
    engine = sa.create_engine(db_url)
    # The predecessor ran on Postgres; on SQLite the same table in SQLite's types stands in for it.
    if engine.dialect.name == "postgresql":
        uuid_type, ts_type = "uuid", "timestamp with time zone NOT NULL DEFAULT now()"
    else:
        uuid_type, ts_type = "CHAR(32) NOT NULL", "DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP"
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE sync_logs (id {uuid_type} PRIMARY KEY, collection text NOT NULL, item_id text NOT NULL,"
            f" item_type text NOT NULL CONSTRAINT sync_logs_item_type CHECK (item_type IN ('ticket','kb_article')),"
            f" synced_at {ts_type})"
        ))
        conn.execute(sa.text("CREATE INDEX idx_sync_logs_collection ON sync_logs (collection)"))
        conn.execute(sa.text("CREATE INDEX idx_sync_logs_synced_at ON sync_logs (synced_at DESC)"))
        conn.execute(sa.text(
            "INSERT INTO sync_logs (id, collection, item_id, item_type) VALUES "
            "('0c7f4b4e3f9a4d0b8c1d2e3f4a5b6c7d', 'support_tickets', '12345', 'ticket')"
        ))
    store = SyncLog(db_url)
    assert_schema_is_the_described_one(store.engine)
    with engine.connect() as conn:
        (entry,) = conn.execute(sa.text("SELECT item_type, status FROM sync_logs WHERE item_id = '12345'")).all()
    engine.dispose()
    assert tuple(entry) == ("ticket", None)


def test_upserts_are_idempotent_and_log_appends(sync_log):
    result = ItemResult("1", "synced", T0, {"symptom": "a"}, payload_hash="p", model="m")
    for _ in range(3):
        sync_log.record_results(C, "ticket", [result], run_id="r1", partition_key="2026-11-20-10:00")
    assert sync_log.counts(C) == {"synced": 1, "deleted": 0, "failed": 0}
    state = sync_log.get_items(C, ["1"])["1"]
    assert (state.status, state.content_hashes, state.model, state.run_id) == ("synced", {"symptom": "a"}, "m", "r1")
    with sync_log.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sync_logs WHERE item_id = '1'")).scalar_one() == 3


def test_older_source_version_never_overwrites_newer(sync_log):
    sync_log.record_results(C, "ticket", [ItemResult("1", "synced", T0, {"symptom": "new"})])
    sync_log.record_results(C, "ticket", [ItemResult("1", "synced", T0 - timedelta(hours=1), {"symptom": "old"})])
    sync_log.record_results(C, "ticket", [ItemResult("1", "deleted", T0 - timedelta(seconds=1))])
    sync_log.record_results(C, "ticket", [ItemResult("1", "failed", T0 - timedelta(minutes=5), error="stale")])
    state = sync_log.get_items(C, ["1"])["1"]
    assert (state.status, state.content_hashes, state.source_updated_at) == ("synced", {"symptom": "new"}, T0)

    sync_log.put_raw("ticket", [RawRecord("1", T0, {"v": "new"})])
    sync_log.put_raw("ticket", [RawRecord("1", T0 - timedelta(hours=1), {"v": "old"})])
    assert sync_log.get_raw("ticket", ["1"])["1"].record == {"v": "new"}


def test_status_transitions_and_retry_queue(sync_log):
    sync_log.record_results(C, "ticket", [ItemResult("7", "failed", T0, error="Empty content", stage="embed")])
    sync_log.record_results(C, "ticket", [ItemResult("7", "failed", T0, error="Empty content", stage="embed")])
    sync_log.record_results(C, "ticket", [ItemResult("8", "failed", None, error="bad JSON", stage="fetch")])
    failed = {s.item_id: s for s in sync_log.failed_items(C)}
    assert set(failed) == {"7", "8"}
    assert failed["7"].attempts == 2 and failed["7"].error == "Empty content" and failed["7"].stage == "embed"
    first_failed = failed["7"].first_failed_at

    sync_log.record_results(C, "ticket", [ItemResult("7", "synced", T0, {"symptom": "h"})])
    state = sync_log.get_items(C, ["7"])["7"]
    assert (state.status, state.error, state.attempts, state.first_failed_at) == ("synced", None, 0, None)
    assert first_failed is not None

    sync_log.record_results(C, "ticket", [ItemResult("7", "deleted", T0 + timedelta(hours=1))])
    assert sync_log.counts(C) == {"synced": 0, "deleted": 1, "failed": 1}
    # A failure of a newer version is recorded, keeping what was known of the item.
    sync_log.record_results(C, "ticket", [ItemResult("7", "failed", T0 + timedelta(hours=2), error="boom")])
    assert sync_log.get_items(C, ["7"])["7"].status == "failed"


def test_last_sync_per_collection(sync_log):
    first = sync_log.start_run(C, run_id="a", partition_start="2026-11-20-09:00", partition_end="2026-11-20-10:00")
    sync_log.finish_run(first, status="success", counts={"fetched": 3})
    second = sync_log.start_run(C, run_id="b", partition_start="2026-11-20-10:00", partition_end="2026-11-20-11:00")
    sync_log.finish_run(second, status="failure", error="qdrant down")
    kb = sync_log.start_run("kb_procedures", run_id="c", partition_start="p", partition_end="q")
    assert [r["run_id"] for r in sync_log.running_syncs()] == ["c"]
    sync_log.finish_run(kb, status="success")
    last = sync_log.last_syncs()
    assert last[C].run_id == "a" and last[C].partition_start == "2026-11-20-09:00" and last[C].counts == {"fetched": 3}
    assert last["kb_procedures"].run_id == "c"


def test_run_of_a_dead_process_is_closed_once_its_heartbeat_is_stale(db_url):
    worker = SyncLog(db_url, heartbeat_s=0.05, stale_after_s=0.6)
    other = SyncLog(db_url, stale_after_s=0.6)
    try:
        worker.start_run(C, run_id="alive", partition_start="p", partition_end="q")
        time.sleep(1.2)
        # Still beating: twice the stale limit later, nobody may close it.
        assert other.close_orphaned_runs() == []
        dead = worker.start_run("kb_procedures", run_id="dies", partition_start="p", partition_end="q")
        worker.close()  # the process goes away without finish_run, as a killed one would
        time.sleep(1.0)
        # The next run to start closes it; a run already over is not reopened by its late finish.
        other.start_run(C, run_id="next", partition_start="q", partition_end="r")
        rows = {r["run_id"]: r for r in _runs(other)}
        assert rows["dies"]["status"] == rows["alive"]["status"] == "abandoned"
        assert "no heartbeat since" in rows["dies"]["error"] and rows["dies"]["finished_at"] is not None
        assert rows["next"]["status"] == "running"
        assert [r["run_id"] for r in other.running_syncs()] == ["next"]
        assert rows["dies"]["id"] == dead
    finally:
        worker.close()
        other.close()


def test_run_is_closed_once_its_dagster_run_is_over(sync_log, tmp_path):
    import dagster as dg

    @dg.op
    def sync() -> None: ...

    @dg.job
    def kb_job() -> None:  # any job: only its run's status matters here
        sync()

    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        run = instance.create_run_for_job(kb_job, status=dg.DagsterRunStatus.STARTED)
        dying = SyncLog(sync_log.engine.url.render_as_string(hide_password=False))
        dying.start_run("kb_procedures", run_id=run.run_id, partition_start="p", partition_end="p")
        dying.close()
        assert sync_log.close_orphaned_runs(dagster_instance=instance) == []  # its run is in progress
        instance.report_run_failed(run)  # what Dagster's run monitor does once the worker is gone
        (closed,) = sync_log.close_orphaned_runs(dagster_instance=instance)
        assert closed["run_id"] == run.run_id and "Dagster run ended (FAILURE)" in closed["error"]
        assert sync_log.running_syncs() == []


def _runs(store: SyncLog) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM sync_runs ORDER BY id"))]


def test_meta_round_trip(sync_log):
    assert sync_log.get_meta("freshdesk.rate_window_s:acme") is None
    sync_log.set_meta("freshdesk.rate_window_s:acme", 3.2)
    sync_log.set_meta("freshdesk.rate_window_s:acme", 60.4)
    assert sync_log.get_meta("freshdesk.rate_window_s:acme") == 60.4


def test_raw_records_stream_by_window(sync_log):
    # Two records per minute, so pages end inside a minute and the item id breaks the tie.
    records = [RawRecord(f"{i:04d}", T0 + timedelta(minutes=i // 2), {"id": i}, removed=i % 5 == 0) for i in range(3 * CHUNK)]
    sync_log.put_raw("ticket", records)
    batches = list(sync_log.iter_raw("ticket", start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=CHUNK)))
    assert [len(b) for b in batches] == [CHUNK, CHUNK - 10]
    assert [r.record["id"] for b in batches for r in b] == list(range(10, 2 * CHUNK))
    live = sync_log.raw_ids("ticket", removed=False)
    assert len(live) == 3 * CHUNK * 4 // 5 and "0005" not in live
    assert sync_log.raw_versions("ticket", ["0007"]) == {"0007": (T0 + timedelta(minutes=3), False)}


def test_embedding_cache_round_trip(sync_log):
    dense = np.linspace(-1, 1, 16, dtype=np.float32)
    # 3132746918: a hashed lexical term's index, past int32 (Qdrant's sparse indices are uint32).
    item = Embedding(dense, (3, 17, 250001, 3132746918), (0.5, 0.25, 0.125, 1.0), tokens=9, truncated=True)
    sync_log.put_embeddings("m", {"h1": item})
    sync_log.put_embeddings("m", {"h1": item})
    got = sync_log.get_embeddings(["h1", "missing"])
    assert set(got) == {"h1"}
    assert np.array_equal(got["h1"].dense, dense) and got["h1"].sparse_indices == (3, 17, 250001, 3132746918)
    assert got["h1"].sparse_values == pytest.approx((0.5, 0.25, 0.125, 1.0)) and got["h1"].truncated
    assert sync_log.existing_hashes(["h1", "h2"]) == {"h1"}


def test_closed_port_names_the_database():
    with pytest.raises(DatabaseUnavailable) as err:
        SyncLog("postgresql://fd:s3cret-pw@127.0.0.1:1/fd_sync")
    message = str(err.value)
    assert "127.0.0.1:1" in message and "fd_sync" in message and "s3cret-pw" not in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://fd:s3cret-pw@db.internal:54x32/fd_sync", "the port '54x32' is not a number"),
        ("postgresql://fd:s3cret-pw@db.internal:/fd_sync", "the port after ':' is empty"),
        ("postgresql://fd:s3cret-pw@db.internal:99999/fd_sync", "has port 99999, outside 1-65535"),
        ("fd:s3cret-pw@db.internal/fd_sync", "it has no scheme:// prefix"),
        ("mysql://fd:s3cret-pw@db.internal/fd_sync", "names a 'mysql' database"),
    ],
)
def test_malformed_database_url_is_one_line_naming_the_setting(url, reason):
    with pytest.raises(DatabaseConfigError) as err:
        SyncLog(url, setting="FD_DATABASE_URL")
    message = str(err.value)
    assert message.startswith("FD_DATABASE_URL ") and reason in message
    assert "\n" not in message and "s3cret-pw" not in message and err.value.__cause__ is None
    assert isinstance(err.value, ValueError)  # what configuration errors are, project-wide
    with pytest.raises(DatabaseConfigError, match="^the sync-log database URL "):
        SyncLog(url)


def test_migrate_command_upgrades_the_configured_database(monkeypatch, capsys, sqlite_url):
    from fd_pipeline import cli

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FD_DATABASE_URL", sqlite_url)
    assert cli.main(["migrate"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"schema at revision {head_revision()}")
    engine = sa.create_engine(sqlite_url)
    assert_schema_is_the_described_one(engine)
    engine.dispose()

    # A malformed URL is named by the variable it came from, the fallback too, on one line.
    malformed = "postgresql://fd:s3cret-pw@db.internal:54x32/fd_sync"
    monkeypatch.setenv("FD_DATABASE_URL", malformed)
    assert cli.main(["migrate"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("fd-pipeline migrate: error: FD_DATABASE_URL is not a valid database URL: the port '54x32'")
    assert "s3cret-pw" not in error and error.count("\n") == 1
    monkeypatch.delenv("FD_DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL", malformed)
    assert cli.main(["migrate"]) == 1
    assert capsys.readouterr().err.startswith("fd-pipeline migrate: error: DATABASE_URL is not a valid database URL")


@pytest.mark.postgres
def test_stopped_server_names_the_database_and_recovers(pg_server, stoppable_pg_url):
    store = SyncLog(stoppable_pg_url)
    store.record_results(C, "ticket", [ItemResult("1", "synced", T0, {"symptom": "a"})])
    pg_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable, match=f"127.0.0.1:{pg_server.port}"):
            store.counts(C)
    finally:
        pg_server.start()
    # The pool's stale connections are replaced: the same handle works again.
    assert store.counts(C)["synced"] == 1

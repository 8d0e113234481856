"""fd_pipeline.dagster_storage / dagster_sqlite: Dagster's SQLite storage with one engine kept per event-log shard.

Contract: an instance configured with it runs a single-run range backfill and records every
hour's materialisation; the files are Dagster's own (an instance on Dagster's default storage
over the same DAGSTER_HOME reads the same events and partitions); engines are reused, not
created per connection.
"""


import dagster as dg

from fd_pipeline.partitions import range_tags

from fd_pipeline_tests.webui import ROOT

HOURS = dg.HourlyPartitionsDefinition(start_date="2025-01-01-00:00")


@dg.asset(partitions_def=HOURS, backfill_policy=dg.BackfillPolicy.single_run())
def hourly_thing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"hours": len(context.partition_keys)})


def _instance(home, custom: bool) -> dg.DagsterInstance:
    config = ("storage:\n  custom:\n    module: fd_pipeline.dagster_sqlite\n    class: SqliteStorage\n"
              f"    config:\n      base_dir: \"{home}\"\n") if custom else ""
    (home / "dagster.yaml").write_text(config + "telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def test_range_run_records_every_hour_in_dagsters_own_files(tmp_path):
    from fd_pipeline.dagster_sqlite import EngineCachingSqliteEventLogStorage

    instance = _instance(tmp_path, custom=True)
    assert isinstance(instance.event_log_storage, EngineCachingSqliteEventLogStorage)
    result = dg.materialize([hourly_thing], instance=instance, tags=range_tags("2025-01-01-00:00", "2025-01-01-05:00"))
    assert result.success and len(result.get_asset_materialization_events()) == 6
    # Two shards (the run's and the index) however many events were written.
    assert 1 <= len(instance.event_log_storage._engines) <= 3
    key = dg.AssetKey("hourly_thing")
    expected = {f"2025-01-01-{h:02d}:00" for h in range(6)}
    assert set(instance.get_materialized_partitions(key)) == expected
    run_id = result.run_id
    instance.dispose()

    plain = _instance(tmp_path, custom=False)
    assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
    assert set(plain.get_materialized_partitions(key)) == expected
    assert sum(1 for r in plain.all_logs(run_id) if r.dagster_event and r.dagster_event.is_step_materialization) == 6
    plain.dispose()


def test_batched_asset_events_are_stored_as_dagsters_own_class_stores_them_one_by_one(tmp_path, monkeypatch):
    """DAGSTER_EVENT_BATCH_SIZE: a range run's per-hour materialisations go to the storage in batches,
    which this class writes with one insert per shard; what an instance reads back is what Dagster's
    own class stores event by event."""
    from fd_pipeline.dagster_sqlite import EngineCachingSqliteEventLogStorage

    batches = []
    inner = EngineCachingSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(EngineCachingSqliteEventLogStorage, "store_event_batch",
                        lambda self, events: (batches.append((events[0].dagster_event_type, len(events))), inner(self, events))[1])
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "4")
    key = dg.AssetKey("hourly_thing")
    hours = [f"2025-01-01-{h:02d}:00" for h in range(10)]
    seen = {}
    for custom in (True, False):
        home = tmp_path / ("custom" if custom else "plain")
        home.mkdir()
        instance = _instance(home, custom=custom)
        result = dg.materialize([hourly_thing], instance=instance, tags=range_tags(hours[0], hours[-1]))
        assert result.success
        instance.dispose()
        plain = _instance(home, custom=False)  # read back through Dagster's own class
        records = plain.fetch_materializations(key, limit=100).records
        seen[custom] = {
            "partitions": sorted(plain.get_materialized_partitions(key)),
            "records": sorted((r.partition_key, r.asset_materialization.metadata["hours"].value) for r in records),
            "latest": plain.get_latest_materialization_event(key).dagster_event.partition,
            "planned": sorted(r.partition_key for r in plain.get_event_records(
                dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key))),
            # Tags per stored event (the data version's value differs from run to run, its key does not).
            "tags": sorted(tuple(sorted(t)) for t in plain.get_event_tags_for_asset(key)),
        }
        plain.dispose()
    for kind in (dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION):
        sizes = [n for k, n in batches if k == kind]
        assert sum(sizes) == len(hours) and max(sizes) == 4, (kind, sizes)  # batched, 4 at a time
    assert seen[True] == seen[False]
    assert seen[True]["partitions"] == seen[True]["planned"] == hours and seen[True]["latest"] == hours[-1]


def _open_with_project_yaml(tmp_path):
    import shutil

    from dagster._core.instance.ref import InstanceRef

    config = tmp_path / "repo"
    config.mkdir()
    shutil.copy(ROOT / "dagster.yaml", config / "dagster.yaml")
    home = tmp_path / "home"
    home.mkdir()
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), config_dir=str(config)))


def test_the_instance_class_puts_the_storage_in_the_instances_own_folder(tmp_path, monkeypatch):
    """The project's dagster.yaml, with DAGSTER_HOME unset: `dagster dev` opens its temporary home so."""
    from fd_pipeline.dagster_sqlite import SqliteStorage
    from fd_pipeline.dagster_storage import Instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "home"
    with _open_with_project_yaml(tmp_path) as instance:
        assert isinstance(instance, Instance)
        assert isinstance(instance.get_ref().storage, SqliteStorage)
        assert dg.materialize([hourly_thing], instance=instance, partition_key="2025-01-01-00:00").success
        # The reference every started process receives names the folder itself.
        assert str(home) in instance.get_ref().storage_data.config_yaml
    assert (home / "history" / "runs.db").is_file() and not (tmp_path / "repo" / "history").exists()


@dg.asset_check(asset=hourly_thing, description="about the whole asset, so without partitions")
def whole_thing_ok() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_a_range_run_keeps_every_hour_apart_and_one_check_row(tmp_path, monkeypatch):
    """Batched hours get distinct milliseconds (the Events tab merges one run's events that share
    one), and an unpartitioned check of a range run is one execution row, not one Skipped per hour."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    instance = _instance(tmp_path, custom=True)
    hours = [f"2025-01-01-{h:02d}:00" for h in range(24)]
    result = dg.materialize([hourly_thing, whole_thing_ok], instance=instance, tags=range_tags(hours[0], hours[-1]))
    assert result.success
    entries = [e for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
    assert sorted(e.dagster_event.partition for e in entries) == hours
    stamps = [int(e.timestamp * 1000) for e in entries]
    assert len(set(stamps)) == 24 and stamps == sorted(stamps)
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("hourly_thing"), "whole_thing_ok"), limit=100)
    assert [(r.status.value, r.partition, r.run_id) for r in history] == [("SUCCEEDED", None, result.run_id)]
    instance.dispose()


def test_on_an_unverified_dagster_the_instance_class_gives_dagsters_own_storage(tmp_path, monkeypatch):
    """The fence's fallback: on a Dagster version the internals were not verified on, the project's
    dagster.yaml opens an instance on Dagster's own SQLite storage (and still runs)."""
    from fd_pipeline import dagster_internals

    monkeypatch.setattr(dagster_internals, "internals_apply", lambda: False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with _open_with_project_yaml(tmp_path) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert type(instance.get_ref().storage).__module__.startswith("dagster.")
        assert dg.materialize([hourly_thing], instance=instance, partition_key="2025-01-01-00:00").success


def test_the_instance_class_module_loads_no_dagster_internals():
    """dagster.yaml names fd_pipeline.dagster_storage: it must import on any Dagster version, so it
    imports nothing private itself; the storage that does (dagster_sqlite) loads only when verified."""
    import ast

    source = (ROOT / "fd_pipeline" / "dagster_storage.py").read_text()
    private = [ast.unparse(node) for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))
               and any(name.startswith("dagster._") for name in
                       ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]))]
    assert private == []


def test_an_older_dagster_yaml_naming_the_storage_in_dagster_storage_still_loads():
    from fd_pipeline import dagster_sqlite, dagster_storage

    assert dagster_storage.SqliteStorage is dagster_sqlite.SqliteStorage


def test_a_step_waiting_for_a_slot_asks_again_every_second(tmp_path):
    """Dagster's own back-off would let a step that waited a minute start ~5 s after the slot frees."""
    from fd_pipeline.dagster_sqlite import BLOCKED_CLAIM_RECHECK_S

    with _instance(tmp_path, custom=True) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("fd_test_pool", 1)
        assert storage.claim_concurrency_slot("fd_test_pool", "run-a", "fetch").is_claimed
        waiting = storage.claim_concurrency_slot("fd_test_pool", "run-b", "fetch")
        assert not waiting.is_claimed and waiting.sleep_interval == BLOCKED_CLAIM_RECHECK_S
        storage.free_concurrency_slots_for_run("run-a")
        assert storage.claim_concurrency_slot("fd_test_pool", "run-b", "fetch").is_claimed

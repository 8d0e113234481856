"""fd_pipeline.dagster_storage: Dagster's SQLite storage with one engine kept per event-log shard.

Contract: an instance configured with it runs a single-run range backfill and records every
hour's materialisation; the files are Dagster's own (an instance on Dagster's default storage
over the same DAGSTER_HOME reads the same events and partitions); engines are reused, not
created per connection.
"""


import dagster as dg

from fd_pipeline.partitions import range_tags

HOURS = dg.HourlyPartitionsDefinition(start_date="2025-01-01-00:00")


@dg.asset(partitions_def=HOURS, backfill_policy=dg.BackfillPolicy.single_run())
def hourly_thing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"hours": len(context.partition_keys)})


def _instance(home, custom: bool) -> dg.DagsterInstance:
    config = ("storage:\n  custom:\n    module: fd_pipeline.dagster_storage\n    class: SqliteStorage\n"
              f"    config:\n      base_dir: \"{home}\"\n") if custom else ""
    (home / "dagster.yaml").write_text(config + "telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def test_range_run_records_every_hour_in_dagsters_own_files(tmp_path):
    from fd_pipeline.dagster_storage import EngineCachingSqliteEventLogStorage

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

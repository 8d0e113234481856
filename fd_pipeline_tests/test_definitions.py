"""The code location loads and validates the way Dagster's own tools load it, and its asset
graph is the one the README draws: six hourly-partitioned assets in two domain groups, with
lineage raw -> embeddings -> collection, each naming the systems it touches. The partitions start
at FD_PARTITIONS_START (required: a missing, malformed or future value is one error naming it), and
a reversed or malformed partition range fails with one clear message instead of syncing nothing.
FD_AUTOMATION, FD_FRESHNESS_* and FD_FAILED_MAX_AGE_HOURS are read when definitions load and reach
the schedules, sensors, freshness rule and checks."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from fd_pipeline.definitions import defs
from fd_pipeline.partitions import partitions_start, range_tags

ROOT = Path(__file__).resolve().parents[1]


def _dagster(tmp_path, *args: str, **env: str | None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FD_DATA_DIR": str(tmp_path / "data"), **env}
    environ = {k: v for k, v in environ.items() if v is not None}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(dagster), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180)


def test_dagster_definitions_validate(tmp_path):
    done = _dagster(tmp_path, "definitions", "validate", "-w", str(ROOT / "workspace.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr

    unset = _dagster(tmp_path, "definitions", "validate", "-w", str(ROOT / "workspace.yaml"), FD_PARTITIONS_START=None)
    assert unset.returncode != 0 and "FD_PARTITIONS_START is not set" in unset.stdout + unset.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "is not set"), ("June 1st", "must be YYYY-MM-DD"), ("2025-06-01-10:30", "on the hour"), ("2031-01-01", "in the future")],
)
def test_partitions_start_is_required_and_checked(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("FD_PARTITIONS_START", raising=False)
    else:
        monkeypatch.setenv("FD_PARTITIONS_START", value)
    with pytest.raises(ValueError, match=message) as caught:
        partitions_start(now=datetime(2026, 1, 1, tzinfo=UTC))
    assert "FD_PARTITIONS_START" in str(caught.value)


def test_partitions_start_accepts_a_day_or_an_hour(monkeypatch):
    monkeypatch.setenv("FD_PARTITIONS_START", "2025-06-01")
    assert partitions_start() == "2025-06-01-00:00"
    monkeypatch.setenv("FD_PARTITIONS_START", "2025-06-01-07:00")
    assert partitions_start() == "2025-06-01-07:00"


def test_reversed_or_malformed_partition_range_is_one_clear_error(tmp_path):
    """`dagster asset materialize --partition-range B...A` used to succeed with 0 items. The CLI takes a
    range only from assets whose backfill is one run: FD_BACKFILL_HOURS_PER_RUN=0."""
    reversed_range = _dagster(
        tmp_path, "asset", "materialize", "-m", "fd_pipeline.definitions", "--select", "raw_articles",
        "--partition-range", "2025-06-02-05:00...2025-06-02-01:00", FD_PARTITIONS_START="2025-01-01",
        FD_BACKFILL_HOURS_PER_RUN="0",
    )
    out = reversed_range.stdout + reversed_range.stderr
    assert reversed_range.returncode != 0
    assert "partition range 2025-06-02-05:00...2025-06-02-01:00 is reversed" in out
    assert "did you mean 2025-06-02-01:00...2025-06-02-05:00" in out

    off_hour = dg.materialize(
        [defs.get_assets_def("raw_articles")], resources=_resources(tmp_path), raise_on_error=False,
        tags=range_tags("2025-06-02-01:00", "2025-06-02-05:30"),
    )
    (failure,) = off_hour.get_step_failure_events()
    assert "'2025-06-02-05:30' is not an hourly partition" in failure.step_failure_data.error.message


def _resources(tmp_path) -> dict:
    from fd_pipeline.resources import SyncLogResource, project_resources

    return {**project_resources(), "sync_log": SyncLogResource(database_url=f"sqlite:///{tmp_path / 'sync.db'}")}


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    edges = {
        (parent.to_user_string(), key.to_user_string())
        for key in graph.get_all_asset_keys()
        for parent in graph.get(key).parent_keys
    }
    assert edges == {
        ("raw_tickets", "ticket_embeddings"),
        ("ticket_embeddings", "support_tickets"),
        ("raw_articles", "article_embeddings"),
        ("article_embeddings", "kb_procedures"),
    }
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "raw_tickets": "tickets", "ticket_embeddings": "tickets", "support_tickets": "tickets",
        "raw_articles": "knowledge_base", "article_embeddings": "knowledge_base", "kb_procedures": "knowledge_base",
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.HourlyPartitionsDefinition)
        assert node.partitions_def.timezone == "UTC"
        assert node.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=168)
        assert node.description, key
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    assert "qdrant" in kinds["support_tickets"] and "qdrant" in kinds["kb_procedures"]
    assert "freshdesk" in kinds["raw_tickets"] and "freshdesk" in kinds["raw_articles"]


def test_definitions_pass_the_automation_settings_to_the_builders(monkeypatch):
    """FD_AUTOMATION, FD_FRESHNESS_* and FD_FAILED_MAX_AGE_HOURS are read when definitions load and
    reach the schedules, sensors, freshness rule and checks; a malformed one fails the load."""
    import fd_pipeline.definitions as definitions
    from fd_pipeline.freshness import Rule

    try:
        with monkeypatch.context() as env:
            env.setenv("FD_AUTOMATION", "running")
            env.setenv("FD_FRESHNESS_LOOKBACK_HOURS", "3")
            env.setenv("FD_FRESHNESS_GRACE_MINUTES", "7")
            env.setenv("FD_FAILED_MAX_AGE_HOURS", "1.5")
            loaded = importlib.reload(definitions)
            assert loaded.rule == Rule(lookback_hours=3, grace=timedelta(minutes=7))
            assert {s.default_status for s in loaded.defs.schedules} == {dg.DefaultScheduleStatus.RUNNING}
            assert {s.default_status for s in loaded.defs.sensors} == {dg.DefaultSensorStatus.RUNNING}
            stale = [spec for c in loaded.defs.asset_checks for spec in c.check_specs if spec.name == "no_stale_failures"]
            assert len(stale) == 2 and all("longer than 1.5 h" in spec.description for spec in stale)

            env.setenv("FD_AUTOMATION", "on")
            with pytest.raises(ValueError, match="FD_AUTOMATION must be running or stopped"):
                importlib.reload(definitions)
    finally:
        importlib.reload(definitions)
    assert {s.default_status for s in definitions.defs.schedules} == {dg.DefaultScheduleStatus.STOPPED}


def test_what_spans_the_domains_follows_the_domain_list():
    """Each domain of `domains.DOMAINS` gets, from the list alone: its three assets in its group, its
    job over that group and its schedule at its minute, the four checks on its collection, and its
    place in `fd-pipeline status` and `rebuild-vectors --only`."""
    from fd_pipeline.commands import rebuild_vectors, status
    from fd_pipeline.domains import DOMAINS

    graph = defs.resolve_asset_graph()
    groups = {key.path[-1]: graph.get(key).group_name for key in graph.get_all_asset_keys()}
    checks = {(key.asset_key.path[-1], key.name) for key in graph.asset_check_keys}
    for domain in DOMAINS:
        assert {name: groups[name] for name in domain.chain} == dict.fromkeys(domain.chain, domain.group)
        job = defs.resolve_job_def(domain.job)
        assert {node.name for node in job.nodes} >= set(domain.chain) and job.description == domain.job_description
        schedule = defs.get_schedule_def(domain.schedule)
        assert (schedule.job_name, schedule.cron_schedule) == (domain.job, f"{domain.schedule_minute} * * * *")
        assert {name for asset, name in checks if asset == domain.chain.collection} == {
            "points_match_sync_log", "vectors_have_model_dimension", "no_stale_failures", "closed_hours_synced"}
    assert sorted(rebuild_vectors.COLLECTIONS) == sorted(domain.name for domain in DOMAINS)
    assert status.COLLECTIONS == tuple(domain.spec for domain in DOMAINS)
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}  # but Dagster's implicit one
    assert jobs == {*(d.job for d in DOMAINS), "sync_all_job"}

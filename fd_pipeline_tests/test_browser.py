"""Browser contract: `fd-pipeline demo --ui` (the demo's data, then `dagster dev`) seen in Debian's
chromium, driven headless by Playwright:
- the lineage shows the six assets as two chains, raw -> embeddings -> collection, left to right;
- a collection asset page shows its checks passed, its writer pool, and non-empty metadata plots;
- its Events tab lists every hour of the demo's 24-hour run, and no check's execution history
  holds a Skipped row;
- the demo's run belongs to `sync_all_job` and can be re-executed from its page;
- a Materialize click on one partition of raw_articles's page launches a run that succeeds, while
  a second launch made as the UI makes it (the tickets group, no tags) waits for the Freshdesk
  pool's one slot: its fetch starts after the first run's fetch ended, and both succeed;
- SIGTERM to `fd-pipeline demo --ui` stops every process it started.
Screenshots land in `screenshots/` (git-ignored) for a person to look at; with FD_UI_DOCS=1 the
ones the README's UI section shows are written to docs/ui/ too (window-sized, not full pages).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from types import SimpleNamespace

import dagster as dg
import httpx
import psutil
import pytest

from fd_pipeline.partitions import PARTITION_TAG, RANGE_END, RANGE_START
from fd_pipeline.domains import ASSETS, CHAINS
from fd_pipeline.pools import SHARED_POOL

from fd_pipeline_tests.webui import (FD_PIPELINE, FINISHED, LAUNCH, ROOT, clean_env, descendants, free_port, gql,
                                     repository_selector, still_running, stop_group, wait_until_serving)

pytestmark = pytest.mark.slow

SHOTS = ROOT / "screenshots"
DOC_SHOTS = ROOT / "docs" / "ui"
DEMO_HOURS = 24  # what `make ui` syncs
COLLECTION_CHECKS = ("points_match_sync_log", "vectors_have_model_dimension", "no_stale_failures")
UI_WAIT_MS = 120_000  # generous: CI machines are busy, and nothing here asserts speed
RUNS = """query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
  runId jobName status startTime endTime tags { key value } } } } }"""
STEPS = """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { stepStats { stepKey startTime endTime } } } }"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


def _runs(client: httpx.Client, **tags) -> list[dict]:
    flt = {"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}
    return gql(client, RUNS, {"filter": flt})["runsOrError"]["results"]


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    """`fd-pipeline demo --ui` on a small desk: the demo syncs, then the UI serves its data."""
    folder = tmp_path_factory.mktemp("browser")
    port = free_port()
    log_path = folder / "demo-ui.log"
    command = [FD_PIPELINE, "demo", "--ui", "--port", str(port), "--tickets", "40", "--articles", "6",
               "--hours", str(DEMO_HOURS)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=folder, env=clean_env(FD_DATA_DIR=folder / "data"), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        wait_until_serving(client, [proc], log_path, timeout=900)
        emulator = re.search(r"Freshdesk emulator at (http://[\d.]+:\d+)", log_path.read_text()).group(1)
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", client=client, proc=proc, log=log_path, emulator=emulator)
    finally:
        client.close()
        stop_group(proc)


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        chromium = pw.chromium.launch(executable_path=executable, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, demo_ui):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=demo_ui.url)
    # The first visit opens a newsletter dialog over everything; a returning user has dismissed it.
    context.add_init_script("localStorage.setItem('communityNux', JSON.stringify('1'))")
    context.set_default_timeout(UI_WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def _shot(page, name: str, doc: bool = False) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if doc and os.environ.get("FD_UI_DOCS"):
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SHOTS / f"{name}.png"))


def _asset_nodes(page) -> dict[str, tuple[dict, str]]:
    """Asset name -> (its node's box on the page, the node's text)."""
    nodes = {}
    for node in page.locator("foreignObject[style*='overflow']").all():
        text = node.evaluate("e => e.textContent").strip()
        name = next((a for a in ASSETS if text.startswith(a)), None)
        if name:
            nodes[name] = (node.bounding_box(), text)
    return nodes


def test_lineage_shows_the_six_assets_in_two_chains(page):
    page.goto("/asset-groups")
    groups = page.locator("[class*=collapsedGroupNodeBox]")
    groups.first.wait_for()
    while groups.count():  # both groups start folded; a user opens each
        groups.first.click()
        page.wait_for_timeout(500)
    page.reload()  # the opened groups are remembered, and the graph is fitted to the page
    page.locator("foreignObject[style*='overflow']").nth(len(ASSETS) - 1).wait_for()
    # Each node fills in its status after the graph draws; the collections' checks come last.
    page.wait_for_function(r"""names => names.every(n => [...document.querySelectorAll('foreignObject')]
        .some(e => e.textContent.startsWith(n) && /(\d+) \/ \1 Passed/.test(e.textContent)))""",
                           arg=[chain.collection for chain in CHAINS])
    nodes = _asset_nodes(page)
    _shot(page, "lineage", doc=True)
    assert set(nodes) == set(ASSETS)
    boxes = {name: box for name, (box, _) in nodes.items()}
    rows = []
    for chain in CHAINS:
        xs = [boxes[name]["x"] for name in chain]
        ys = {round(boxes[name]["y"]) for name in chain}
        assert xs == sorted(xs) and len(set(xs)) == 3, (chain, xs)  # left to right
        assert len(ys) == 1, (chain, ys)  # one row per chain
        rows.append(ys.pop())
    assert rows[0] != rows[1]
    for chain in CHAINS:
        text = nodes[chain.collection][1]
        assert re.search(r"(\d+) / \1 Passed", text), text  # every check of the collection passed


def test_collection_page_shows_passed_checks_and_plots(page):
    from playwright.sync_api import expect

    page.goto("/assets/support_tickets?view=checks")
    for check in COLLECTION_CHECKS:
        row = page.locator("[class*=checkRow]", has=page.locator(f'[title="{check}"]'))
        expect(row).to_contain_text(re.compile("succeeded", re.I), timeout=UI_WAIT_MS)
    rows = page.locator("[class*=checkRow]")
    assert rows.count() >= len(COLLECTION_CHECKS)
    for i in range(rows.count()):
        expect(rows.nth(i)).to_contain_text(re.compile("succeeded", re.I), timeout=UI_WAIT_MS)
    _shot(page, "checks", doc=True)

    page.goto("/assets/support_tickets")
    page.get_by_text("Compute details", exact=True).click()  # folded by default; it names the pool
    page.get_by_text(SHARED_POOL, exact=True).first.wait_for()
    page.get_by_role("button", name="Plots").click()
    plot = page.locator("canvas").first
    plot.wait_for()
    page.get_by_text("count_new", exact=True).first.wait_for()
    page.wait_for_timeout(1500)  # chart animation
    _shot(page, "plots", doc=True)
    # A plot with points draws coloured lines; an empty one only grey axes and labels.
    coloured = page.evaluate("""() => [...document.querySelectorAll('canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) { const m = Math.max(d[i], d[i+1], d[i+2]), l = Math.min(d[i], d[i+1], d[i+2]);
          if (d[i+3] > 0 && m - l > 80) n++; }
        return n; })""")
    assert len(coloured) >= 4 and sum(1 for n in coloured if n > 50) >= 4, coloured


def _demo_hours(client: httpx.Client) -> list[str]:
    from fd_pipeline.partitions import HOURLY

    (run,) = _runs(client, **{"fd_pipeline/origin": "demo"})
    tags = {t["key"]: t["value"] for t in run["tags"]}
    return HOURLY.get_partition_keys_in_range(dg.PartitionKeyRange(tags[RANGE_START], tags[RANGE_END]))


def test_events_tab_lists_every_hour_of_the_demo_run(page, demo_ui):
    # One run wrote the 24 hours' materialisations in one batch; the tab lists each of them.
    hours = _demo_hours(demo_ui.client)
    assert len(hours) == DEMO_HOURS
    for chain in CHAINS:
        page.goto(f"/assets/{chain.collection}?view=events")
        page.wait_for_function("keys => keys.every(k => document.body.innerText.includes(k))", arg=hours)
        if chain is CHAINS[0]:
            _shot(page, "events", doc=True)


def test_check_history_has_no_skipped_row(page, demo_ui):
    from playwright.sync_api import expect

    for chain in CHAINS:
        for check in (*COLLECTION_CHECKS, "closed_hours_synced"):
            page.goto(f"/assets/{chain.collection}?view=checks&checkDetail={check}")
            page.get_by_text("Execution history", exact=True).click()
            history = page.locator("table").last
            expect(history).to_contain_text("Passed", timeout=UI_WAIT_MS)
            text = history.inner_text()
            assert "Skipped" not in text, (chain.collection, check, text)
            if chain is CHAINS[0] and check == COLLECTION_CHECKS[0]:
                _shot(page, "check_history", doc=True)


def test_the_demo_run_is_a_job_run_that_can_be_re_executed(page, demo_ui):
    (run,) = _runs(demo_ui.client, **{"fd_pipeline/origin": "demo"})
    assert run["jobName"] == "sync_all_job" and run["status"] == "SUCCESS"
    page.goto(f"/runs/{run['runId']}")
    reexecute = page.get_by_role("button", name=re.compile("Re-execute"))
    reexecute.first.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                           "b => b.innerText.includes('Re-execute') && !b.disabled)")
    assert page.get_by_text("sync_all_job").count()
    _shot(page, "demo_run")
    page.goto("/overview/activity/timeline")
    page.get_by_text("sync_all_job").first.wait_for()
    _shot(page, "timeline")


def test_materialize_click_runs_while_a_second_launch_waits_for_the_fetch_slot(page, demo_ui):
    client = demo_ui.client
    # Each Freshdesk call takes half a second: listing the KB tree keeps the first run busy.
    httpx.post(f"{demo_ui.emulator}/_emulator/faults", json={"rate_slow": 1.0, "slow_s": 0.5}).raise_for_status()
    try:
        before = {r["runId"] for r in _runs(client)}
        (demo,) = _runs(client, **{"fd_pipeline/origin": "demo"})
        partition = next(t["value"] for t in demo["tags"] if t["key"] == RANGE_END)
        page.goto("/assets/raw_articles")
        page.get_by_role("button", name=re.compile("Materialize\u2026")).click()  # the asset page's "Materialize…"
        dialog = page.get_by_role("dialog")
        picker = dialog.locator("input[placeholder]").first
        picker.fill(partition)
        picker.press("Enter")
        launch = dialog.get_by_role("button", name="Launch 1 run")
        launch.wait_for()
        _shot(page, "materialize_dialog", doc=True)
        launch.click()
        clicked = _new_run(client, before)

        # The second launch as the UI makes it for the tickets group: an asset selection, no tags of ours.
        params = {
            "selector": {**repository_selector(client), "jobName": "__ASSET_JOB",
                         "assetSelection": [{"path": [name]} for name in CHAINS[0]]},
            "executionMetadata": {"tags": [{"key": PARTITION_TAG, "value": partition}]},
        }
        launched = gql(client, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        ids = (clicked, launched["run"]["runId"])
        deadline = time.monotonic() + 600
        while True:
            status = {r["runId"]: r["status"] for r in _runs(client) if r["runId"] in ids}
            states = sorted(status.values())
            if all(s in FINISHED for s in states) and len(states) == 2:
                break
            assert time.monotonic() < deadline, status
            time.sleep(1)
        page.goto("/runs")
        _shot(page, "runs_both_done")
        runs = {r["runId"]: r for r in _runs(client) if r["runId"] in ids}
        assert [runs[i]["status"] for i in ids] == ["SUCCESS", "SUCCESS"], demo_ui.log.read_text()[-3000:]
        steps = [{s["stepKey"]: s for s in gql(client, STEPS, {"runId": i})["runOrError"]["stepStats"]} for i in ids]
        # One fetcher per Freshdesk account: the tickets run's fetch waited for the articles' to end.
        assert steps[1]["raw_tickets"]["startTime"] >= steps[0]["raw_articles"]["endTime"], steps
        assert not any(t["key"].startswith("fd_pipeline/") for r in runs.values() for t in r["tags"])
    finally:
        httpx.delete(f"{demo_ui.emulator}/_emulator/faults")


def _new_run(client: httpx.Client, before: set[str]) -> str:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        fresh = [r["runId"] for r in _runs(client) if r["runId"] not in before]
        if fresh:
            return fresh[0]
        time.sleep(1)
    raise AssertionError("the Materialize click launched no run")


def test_sigterm_stops_the_demo_ui_and_every_child(demo_ui):
    children = descendants(demo_ui.proc.pid)
    assert any("dagster_webserver" in " ".join(c.cmdline()) for c in children)
    demo_ui.proc.send_signal(signal.SIGTERM)
    assert demo_ui.proc.wait(120) == 0, demo_ui.log.read_text()[-3000:]
    psutil.wait_procs(children, timeout=60)  # orphans are reaped by init: time for it on a loaded machine
    left = still_running(children)
    assert not left, [" ".join(c.cmdline()) for c in left]

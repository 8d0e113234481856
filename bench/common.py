"""Helpers shared by the benchmark scripts: peak RSS, child processes, tables and result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "bench" / ".cache"
# bench/embedder.py builds the full-size random bge-m3 here; sharing it saves 2.3 GB and a minute.
FULL_MODEL_CACHE = Path("/tmp/fd_pipeline_bench/random-bge-m3")


def peak_rss_mb() -> float:
    """This process's peak resident set so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


@contextmanager
def timer(into: dict, key: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        into[key] = round(into.get(key, 0.0) + time.perf_counter() - started, 3)


def run_child(module_args: Sequence[str], result_file: Path, *, env: dict | None = None) -> dict:
    """Run `python bench/pipeline.py ARGS` in a fresh process (so its peak RSS is its own) and read
    the JSON it leaves in `result_file`."""
    result_file.parent.mkdir(parents=True, exist_ok=True)  # bench/results/ is git-ignored: absent in a fresh clone
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(ROOT / "bench" / "pipeline.py"), *module_args, "--result-file", str(result_file)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    if proc.returncode != 0 or not result_file.is_file():
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}")
    return json.loads(result_file.read_text())


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def table(rows: list[dict], columns: Sequence[str], title: str | None = None) -> str:
    """A GitHub-flavoured markdown table (readable in a terminal too)."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def write_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path

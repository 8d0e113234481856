"""The Dagster instance the `fd-pipeline` commands use: its folder, its dagster.yaml, and a one-time
initialisation before any Dagster process starts.

Dagster creates its SQLite storages lazily and without a lock: two processes opening a fresh
DAGSTER_HOME at the same moment can both stamp `alembic_version`, leaving two heads that make every
later open fail. So every command that starts Dagster processes opens (and migrates) the instance
once here, under a file lock, before it starts them.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterator

from fd_pipeline import settings

# The repository's dagster.yaml (pools, run queue, telemetry off): the one source of instance settings.
PROJECT_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
# Dagster's own switches that the commands' Dagster processes run with unless the environment
# sets them: a range run's per-hour asset events reach the instance's storage (dagster.yaml) in
# batches, which fd_pipeline.dagster_sqlite writes with one insert per file.
DAGSTER_DEFAULTS = {"DAGSTER_EVENT_BATCH_SIZE": "1000"}
LOCK_NAME = ".fd_pipeline_instance.lock"
STAMP_NAME = ".fd_pipeline_instance_version"  # the Dagster version the storages were last migrated to


def dagster_home() -> Path:
    """DAGSTER_HOME, else <data>/dagster_home, with a dagster.yaml in it.

    A home the user named keeps its own dagster.yaml (copied from the project's only when missing);
    the project's default home follows the repository's file, so a change there is never missed.
    """
    named = settings.value("DAGSTER_HOME")
    home = Path(named or settings.data_dir() / "dagster_home").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if named and target.is_file():
        return home
    if not PROJECT_INSTANCE_YAML.is_file():
        if target.is_file():
            return home
        raise FileNotFoundError(f"no dagster.yaml in {home} and none beside the package ({PROJECT_INSTANCE_YAML}); "
                                "set DAGSTER_HOME to a folder that has one")
    wanted = PROJECT_INSTANCE_YAML.read_text()
    if not target.is_file() or target.read_text() != wanted:
        with _locked(home):
            _write_atomically(target, wanted)
    return home


def prepare_instance(home: Path) -> Path:
    """Create the instance's storages once, and migrate them once per Dagster version, so the
    processes started next only open them; register the writer pools at their limit before any
    run is queued on them."""
    import dagster as dg

    from fd_pipeline.domains import COLLECTIONS
    from fd_pipeline.pools import ensure_pool_limits

    # Each storage's migration logs at INFO; the commands print their own progress.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    stamp = home / STAMP_NAME
    with _locked(home), _dagster_home(home):
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # Migrating walks every run's event database: worth it only when Dagster changed.
            if not stamp.is_file() or stamp.read_text().strip() != dg.__version__:
                with redirect_stdout(io.StringIO()):  # the SQLite event log prints its progress
                    instance.upgrade(print_fn=None)
                _write_atomically(stamp, dg.__version__)
            ensure_pool_limits(instance, COLLECTIONS)
    return home


@contextmanager
def _dagster_home(home: Path) -> Iterator[None]:
    """DAGSTER_HOME pointing at `home` while the instance is opened here (a home made by an earlier
    version of the project names its storage folder as `{env: DAGSTER_HOME}`); the processes
    started next get it too."""
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = before


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    # Another process may be reading it: it sees the old file or the new one, never half of one.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)

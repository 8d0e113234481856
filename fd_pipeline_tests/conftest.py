"""Shared pytest set-up: each area keeps its fixtures in `fixtures/<area>.py`."""

import os

# The definitions need a partitions start when they load (there is no default); the tests' clocks
# sit in 2025.
os.environ.setdefault("FD_PARTITIONS_START", "2025-01-01")

pytest_plugins = [
    "fd_pipeline_tests.fixtures.postgres",
    "fd_pipeline_tests.fixtures.emulator",
    "fd_pipeline_tests.fixtures.embedder",
    "fd_pipeline_tests.fixtures.qdrant",
    "fd_pipeline_tests.fixtures.pipeline",
    "fd_pipeline_tests.fixtures.instance",
]

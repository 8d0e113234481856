"""Shared pytest set-up: each area keeps its fixtures in `fixtures/<area>.py`."""

pytest_plugins = [
    "fd_pipeline_tests.fixtures.postgres",
    "fd_pipeline_tests.fixtures.emulator",
    "fd_pipeline_tests.fixtures.embedder",
    "fd_pipeline_tests.fixtures.qdrant",
    "fd_pipeline_tests.fixtures.pipeline",
]

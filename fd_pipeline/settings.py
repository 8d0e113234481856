"""Where the project keeps its embedded state, and small helpers to read the environment.

Nothing here runs at import time: callers ask when they need a value.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The project's data folder (`FD_DATA_DIR`, default `./data`), created on demand."""
    path = Path(os.environ.get("FD_DATA_DIR") or "data").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")

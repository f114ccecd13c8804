"""Typed settings read from the environment (validated where they are used)."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_FILE = "territorium.db"


def database_url() -> str:
    """``TERRITORIUM_DATABASE_URL`` or a SQLite file ``territorium.db`` in the working directory."""
    url = os.environ.get("TERRITORIUM_DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{Path.cwd() / DEFAULT_DB_FILE}"


def cache_dir() -> Path:
    """Where built unit sets are cached (``TERRITORIUM_CACHE_DIR``, default ``~/.cache/territorium``)."""
    p = os.environ.get("TERRITORIUM_CACHE_DIR")
    path = Path(p) if p else Path.home() / ".cache" / "territorium"
    path.mkdir(parents=True, exist_ok=True)
    return path

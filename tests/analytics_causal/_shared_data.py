"""Where the real panels with published results live: ``$TERRITORIUM_SHARED_DIR/data/causal``
when set, else the copies in ``tests/analytics_causal/data`` (MIT-licensed, see SOURCES.md
there), so a fresh clone tests them without anything beside it."""
from __future__ import annotations

import os
from pathlib import Path


def causal_dir() -> Path:
    env = os.environ.get("TERRITORIUM_SHARED_DIR", "").strip()
    if env and (Path(env) / "data" / "causal" / "mpdta.csv").exists():
        return Path(env) / "data" / "causal"
    return Path(__file__).resolve().parent / "data"

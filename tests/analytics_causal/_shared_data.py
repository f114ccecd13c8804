"""Where the real panels with published results live: ``shared/data/causal`` beside the
project root (as in CI), or under ``$TERRITORIUM_SHARED_DIR`` when the checkout sits elsewhere.
When neither holds them the tests fail on the missing file, naming it."""
from __future__ import annotations

import os
from pathlib import Path


def causal_dir() -> Path:
    env = os.environ.get("TERRITORIUM_SHARED_DIR", "").strip()
    candidates = [Path(env) / "data" / "causal"] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data" / "causal")
    for c in candidates:
        if (c / "mpdta.csv").exists():
            return c
    return candidates[-1]

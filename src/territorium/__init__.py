"""Territorium: sales territory management."""
from __future__ import annotations

__version__ = "0.1.0"

from territorium.model import Adjacency, Units  # noqa: E402

__all__ = ["Adjacency", "Units", "__version__"]

"""territorium.design: balanced, contiguous, compact territories with a proof of quality.

See ``docs/design.md`` for the model, the algorithm and the lower bound.
"""
from ._problem import DesignInputError
from .engine import DesignReport, DesignResult, design, design_books, polsby_popper, tradeoff

__all__ = [
    "DesignInputError",
    "DesignReport",
    "DesignResult",
    "design",
    "design_books",
    "polsby_popper",
    "tradeoff",
]

"""Staffing: reps or teams → territories (exact assignment, several reps per territory when its
head count says so), accounts → reps (generalized assignment), hand-over lists with a
protection rule for open deals, and sizing ("how many reps?").

Pure engine: arrays and DataFrames in, frozen dataclasses out; no files, no database, no
printing, no global random state. The service layer is :mod:`territorium.plan.assigning`.
"""
from ._common import AssignInputError, haversine_km, parse_skills
from .features import TerritoryFeatures, account_needs, territory_features
from .gap import GapResult, assign_accounts, capacity_check, gap_mip
from .handover import Handover, ProtectionRule, handover, open_deals
from .reps import RepAssignment, RepWeights, aggregate_teams, assign_reps, head_counts
from .sizing import SizingResult, size

__all__ = [
    "AssignInputError", "haversine_km", "parse_skills",
    "TerritoryFeatures", "account_needs", "territory_features",
    "GapResult", "assign_accounts", "capacity_check", "gap_mip",
    "Handover", "ProtectionRule", "handover", "open_deals",
    "RepAssignment", "RepWeights", "aggregate_teams", "assign_reps", "head_counts",
    "SizingResult", "size",
]

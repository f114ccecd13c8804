"""Routing rules: assign new or changed accounts by ordered rules (pure engine, no I/O).

::

    from territorium.routing import parse_yaml, validate, route, RoutingContext
    rs = parse_yaml(open("rules.yaml").read(), source="rules.yaml")
    report = validate(rs, fields={"state": "text", "employees": "number"}, territories=["T01"])
    result = route(rs, accounts, RoutingContext(territory_rep={"T01": "0058..."}))

See ``docs/routing.md``.
"""
from territorium.routing.engine import DryRun, RoutingContext, RoutingResult, compare, describe, route
from territorium.routing.masks import FIELD_KINDS, Evaluator, infer_field_kinds
from territorium.routing.rules import (
    All, AnyOf, Condition, Issue, Overlay, Rule, RuleSet, RuleSetError, Target, Team, parse_dict, parse_yaml,
)
from territorium.routing.validate import ValidationReport, validate

__all__ = [
    "All", "AnyOf", "Condition", "DryRun", "Evaluator", "FIELD_KINDS", "Issue", "Overlay", "Rule", "RuleSet",
    "RuleSetError", "RoutingContext", "RoutingResult", "Target", "Team", "ValidationReport", "compare",
    "describe", "infer_field_kinds", "parse_dict", "parse_yaml", "route", "validate",
]

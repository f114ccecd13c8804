"""Causal impact: did an intervention (a campaign, a new rep, a realignment) cause more sales?

Estimators take a long panel (one row per unit and period) and column names, and return
frozen :class:`ImpactResult` dataclasses with ``estimate``, ``se``, ``ci``, ``relative``,
``diagnostics``, ``table()``, ``summary()``, ``to_dict()`` and ``plot()``.
"""
from ._base import ImpactResult
from .geo import GeoDesign, GeoResult, analyse_geo_experiment, design_geo_experiment
from .dml import DmlResult, dml_uplift
from .did import DidResult, EventStudyResult, TwfeResult, did, event_study, twfe
from .staggered import CallawaySantAnnaResult, callaway_santanna
from .structural import StructuralResult, structural_counterfactual
from .synth import SyntheticControlResult, SyntheticDidResult, synthetic_control, synthetic_did

__all__ = [
    "ImpactResult", "did", "twfe", "event_study", "callaway_santanna", "synthetic_control", "synthetic_did",
    "structural_counterfactual", "dml_uplift", "design_geo_experiment", "analyse_geo_experiment",
    "DmlResult", "GeoDesign", "GeoResult", "SyntheticControlResult", "SyntheticDidResult", "StructuralResult",
    "DidResult", "TwfeResult", "EventStudyResult", "CallawaySantAnnaResult",
]

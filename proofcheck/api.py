"""The one public import of a lemma file: everything a lemma writes (docs/lemma-format.md).

    from proofcheck.api import Lemma, Provenance, GradientIdentity, G4_ASCENT, by_name

The language (:mod:`proofcheck.lang`: the lemma format, the symbol vocabulary,
SPEC's formulas, assumptions), the check kinds (:mod:`proofcheck.checks`), and
the parts of the setting a lemma names (:mod:`proofcheck.setting`: instance
presets, GD settings, training runs), and what a user-written check kind
returns (``Claim``, ``CheckContext``, ``CheckResult``, ``Verdict``).  Everything else is internal.
"""
from proofcheck.checks.contrast import Collapse, Contrast, DigitsDiversity
from proofcheck.checks.expectation import FPOnlyAblation, InitialDrift, LimitClaim, UnavoidableProbability
from proofcheck.checks.identity import GradientIdentity
from proofcheck.checks.inequality import ExpectedInequality, PointwiseInequality
from proofcheck.checks.probe import AssumptionProbe, TrainCase, TrajectoryProbe
from proofcheck.checks.structural import GradientEquivariance, RowDecoupling, SpanClosure, SymmetryPreserved
from proofcheck.checks.theorem import AreaWide, Diversity, Phases, ScalingStudy
from proofcheck.checks.theorem_regime import CorrelationDrift, StepAgreement, TargetLogGrowth
from proofcheck.checks.trajectory import (DecouplingAlongTraining, FullModelAgreement, SpanAlongTraining,
                                          SymmetryAlongTraining, TargetFPMonotone)
from proofcheck.context import FULL, QUICK, Budget, CheckContext
from proofcheck.lang.assumptions import LIBRARY, by_name
from proofcheck.lang.cases import Case, instances
from proofcheck.lang.formulas import G1_COEFFICIENT, G4_ASCENT, G5_ASCENT, G6_ASCENT, G6_OTHERS, G6_OWN, G7_ASCENT, G7_CORRECTED, G7_ERROR_BOUND, G7_MAIN, G8_ASCENT
from proofcheck.lang.lemma import Assumption, Claim, Lemma, Provenance
from proofcheck.lang.relations import Expect, relation
from proofcheck.lang.runs import ETA_AREA_WIDE, flow_run, half_shift, step_agreement_runs, theorem_runs, ETA_CL, ETA_MAE_SMALL, area_wide_runs, cl_runs, contrast_runs, digits_plans
from proofcheck.lang.symbols import VOCABULARY, A, A0, A_loc_max, N, R_p, a, ascent_phi, attn_q, b, delta, i, j, r2_p, u_q, z, z2_max
from proofcheck.setting.instance import Cluster, Instance, ZLaw, balanced, fixture_6, global_local, preset
from proofcheck.setting.contrastive import CLConfig, gap_instance, information_gap
from proofcheck.setting.digits import DigitsConfig
from proofcheck.setting.runs import Run
from proofcheck.setting.trainer import TrainConfig
from proofcheck.verdict import CheckResult, Verdict

__all__ = [
    "FPOnlyAblation", "InitialDrift", "LimitClaim", "UnavoidableProbability", "GradientIdentity",
    "ExpectedInequality", "PointwiseInequality", "AssumptionProbe", "TrainCase", "TrajectoryProbe",
    "GradientEquivariance", "RowDecoupling", "SpanClosure", "SymmetryPreserved", "AreaWide", "Diversity", "Phases",
    "ScalingStudy", "DecouplingAlongTraining", "SpanAlongTraining", "SymmetryAlongTraining", "TargetFPMonotone", "FullModelAgreement",
    "FULL", "QUICK", "Budget", "CheckContext", "LIBRARY", "by_name", "Case", "instances", "G1_COEFFICIENT",
    "G4_ASCENT", "G5_ASCENT", "G6_ASCENT", "G6_OTHERS", "G6_OWN", "G7_ASCENT", "G7_CORRECTED", "G7_ERROR_BOUND", "G7_MAIN",
    "G8_ASCENT", "Assumption", "Claim", "Lemma", "Provenance", "Expect", "relation", "ETA_AREA_WIDE",
    "area_wide_runs", "VOCABULARY", "A", "A0", "A_loc_max", "N", "R_p", "a", "ascent_phi", "attn_q", "b", "delta",
    "i", "j", "r2_p", "u_q", "z", "z2_max", "Cluster", "Instance", "ZLaw", "balanced", "fixture_6", "global_local",
    "preset", "Run", "TrainConfig", "CheckResult", "Verdict",
    "CorrelationDrift", "StepAgreement", "TargetLogGrowth", "flow_run", "half_shift", "step_agreement_runs",
    "theorem_runs",
    "Collapse", "Contrast", "ETA_CL", "ETA_MAE_SMALL", "cl_runs", "contrast_runs", "CLConfig", "gap_instance", "information_gap",
    "DigitsDiversity", "digits_plans", "DigitsConfig",
]

"""Assumption probing: z > 0 is needed for LEM-G5's sign; probes never change a verdict; counterexamples replay."""
import json

import pytest
import sympy as sp

from proofcheck.lang.assumptions import by_name
from proofcheck.errors import UsageError
from proofcheck.context import Budget, CheckContext
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.engine.session import run_lemma
from proofcheck.checks.probe import AssumptionProbe
from proofcheck.engine.counterexamples import replay
from lemmas.lem_g5_target_fp_monotone import SIGN as G5_SIGN
from proofcheck.checks.structural import SpanClosure
from proofcheck.verdict import Verdict

BUDGET = Budget("test", examples=8, trained_cases=1, shrink_trained=False, seeds=1)


def g5_lemma(*claims):
    return Lemma("LEM-T5", "G5 sign with probes", Provenance("SPEC §8 LEM-G5", "D"), sp.Integer(0), list(claims),
                 by_name("z_positive", "gamma_interior", "orthonormal"))


def test_g5_sign_needs_z_positive_and_the_counterexample_is_minimal_and_replays(tmp_path):
    probe = AssumptionProbe(G5_SIGN, ["z_positive"])
    (result,) = probe.check(g5_lemma(G5_SIGN, probe), CheckContext(budget=BUDGET, seed=0, cache_dir=tmp_path))
    assert result.kind == "probe" and result.verdict is Verdict.REFUTED and not result.affects_verdict
    assert "the assumption is needed" in result.summary
    case = result.counterexample["case"]["instance"]
    assert case["P"] <= 3 and len(case["clusters"]) == 1           # shrunk to a small instance
    worst = result.counterexample["worst"]
    a = worst["target_area"] - 1
    # independently: the violated event has z_a < 0 and A_a > 0, so z_a A_a ||r||^2 < 0
    assert worst["z"][a] < 0 and worst["A"][a] > 0 and worst["lhs"] < 0
    saved = json.loads(open(result.counterexample["file"]).read())
    out = replay(saved, G5_SIGN)
    assert not out.holds and out.margin == pytest.approx(result.margin)


def test_g5_sign_holds_outside_gamma_interior():
    probe = AssumptionProbe(G5_SIGN, ["gamma_interior"])
    (result,) = probe.check(g5_lemma(G5_SIGN, probe), CheckContext(budget=BUDGET, seed=0))
    assert result.verdict is Verdict.VERIFIED and "held on all" in result.summary


def test_coordinate_claims_cannot_probe_the_embeddings():
    probe = AssumptionProbe(G5_SIGN, ["orthonormal"])
    (result,) = probe.check(g5_lemma(G5_SIGN, probe), CheckContext(budget=BUDGET, seed=0))
    assert result.verdict is Verdict.INCONCLUSIVE and "cannot see orthonormal" in result.summary


def test_full_model_claim_needs_orthonormal_embeddings():
    span = SpanClosure()
    probe = AssumptionProbe(span, ["orthonormal"])
    lemma = Lemma("LEM-T2", "span", Provenance("SPEC §8 LEM-G2", "D"), sp.Integer(0), [span, probe],
                  by_name("orthonormal", "span_point"))
    (result,) = probe.check(lemma, CheckContext(budget=Budget("t", examples=4, trained_cases=1, shrink_trained=False, seeds=1), seed=0))
    assert result.verdict is Verdict.REFUTED
    assert result.counterexample["case"]["instance"]["skew"] > 0


def test_probes_never_change_the_lemma_verdict():
    lemma = g5_lemma(G5_SIGN, AssumptionProbe(G5_SIGN, ["z_positive"]))
    result = run_lemma(lemma, CheckContext(budget=BUDGET, seed=0))
    assert Verdict.REFUTED in [c.verdict for c in result.checks]
    assert result.verdict is Verdict.PROVED


def test_probing_an_unknown_assumption_is_an_error():
    probe = AssumptionProbe(G5_SIGN, ["balanced"])
    with pytest.raises(UsageError, match="cannot probe"):
        probe.check(g5_lemma(G5_SIGN, probe), CheckContext(budget=BUDGET))

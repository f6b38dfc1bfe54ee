"""Inequality claims: true SPEC statements hold (PROVED/VERIFIED), planted wrong ones are REFUTED.

Expected values are computed here from SPEC DEF-CORR's formulas, not from the evaluator."""
import json

import pytest
import sympy as sp
import torch

from proofcheck.lang.assumptions import by_name
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import events
from proofcheck.engine.evaluate import EventView, evaluate
from proofcheck.checks.inequality import ExpectedInequality, PointwiseInequality, prove_nonnegative
from proofcheck.lang.relations import Expect, relation, reverse_relation
from proofcheck.setting.instance import fixture_6
from proofcheck.context import Budget, CheckContext
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.engine.discovery import load_lemma_file
from proofcheck.engine.session import run_lemma
from proofcheck.engine.counterexamples import replay
from proofcheck.setting.sampling import exact_batch
from proofcheck.lang.formulas import G5_ASCENT, G6_ASCENT, G6_OTHERS, G6_OWN, G7_ERROR_BOUND, G7_ASCENT, G7_MAIN
from lemmas.lem_g5_target_fp_monotone import SIGN as G5_SIGN
from lemmas.lem_g6_nontarget_fp import SUFFICIENT_DECREASE as G6_SUFFICIENT_DECREASE
from lemmas.lem_g7_decoupling_rate import BOUND as G7_BOUND, RATE as G7_RATE
from proofcheck.lang.symbols import A, R_p, a, j, r2_p, z
from proofcheck.verdict import Verdict

CTX = CheckContext(budget=Budget("test", examples=8, trained_cases=1, shrink_trained=False, seeds=1), seed=3)
ASSUME = by_name("z_positive", "gamma_interior")


def lemma_with(*claims):
    return Lemma("LEM-T1", "test lemma", Provenance("SPEC §8 test", "D"), sp.Integer(0), list(claims), ASSUME)


def verdicts(claim, ctx=CTX):
    return [r.verdict for r in claim.check(lemma_with(claim), ctx)]


def fixture_view(seed=0):
    inst = fixture_6()
    g = torch.Generator().manual_seed(seed)
    Phi = torch.randn(6, 5, generator=g, dtype=torch.float64)
    Ups = torch.randn(6, 6, generator=g, dtype=torch.float64)
    batch = exact_batch(inst)
    return inst, EventView.from_events(events(Phi, Ups, inst, batch), inst, batch)


def test_evaluator_matches_spec_formulas_row_by_row():
    inst, view = fixture_view()
    r2, _ = evaluate(r2_p, view)
    R, _ = evaluate(R_p, view)
    g6, dom = evaluate(G6_ASCENT, view, J=view.N_max)
    for e in range(0, len(view), 97):
        zz, AA, n, aa = view.z[e].tolist(), view.A[e].tolist(), int(view.n[e]), int(view.a[e])
        want_r2 = zz[aa] ** 2 * (1 - AA[aa]) ** 2 + sum(zz[k] ** 2 * AA[k] ** 2 for k in range(n) if k != aa)
        want_R = sum(zz[k] ** 2 * AA[k] ** 2 for k in range(n)) - zz[aa] ** 2 * AA[aa]
        assert r2[e, 0, 0].item() == pytest.approx(want_r2, rel=1e-13, abs=1e-15)
        assert R[e, 0, 0].item() == pytest.approx(want_R, rel=1e-13, abs=1e-15)
        for jj in range(n):
            others = sum(zz[k] ** 2 * AA[k] ** 2 for k in range(n) if k not in (aa, jj))
            want = zz[jj] * AA[jj] * (others - zz[aa] ** 2 * AA[aa] * (1 - AA[aa]) - zz[jj] ** 2 * AA[jj] * (1 - AA[jj]))
            assert g6[e, jj, 0].item() == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert dom[e, 0, 0]


def test_explicit_index_outside_the_cluster_is_out_of_domain():
    inst, view = fixture_view()
    _, dom = evaluate(z[3] * A[3], view)
    # cluster 1 has 2 areas (no area 3), cluster 2 has 3
    assert torch.equal(dom[:, 0, 0], view.n >= 3)


def test_symbolic_prover_is_sound_on_easy_cases():
    assert prove_nonnegative(z[a] * A[a] * (1 - A[a]))
    assert prove_nonnegative(G5_ASCENT)
    assert not prove_nonnegative(z[a] - A[a])
    assert not prove_nonnegative(-G5_ASCENT)
    assert not prove_nonnegative(A[a] - 1)


def test_reverse_flips_the_relation_unlike_sympy_reversed():
    rel = relation(z[a], ">=", 0)
    rev = reverse_relation(rel)
    assert isinstance(rev, sp.LessThan) and rev.lhs == z[a] and rev.rhs == 0
    assert G5_SIGN.mutated(reverse_relation(G5_SIGN.expression)).op == "<="
    assert G5_SIGN.expression != sp.true   # kept unevaluated


def test_g5_sign_is_proved_and_verified():
    results = G5_SIGN.check(lemma_with(G5_SIGN), CTX)
    assert [r.verdict for r in results] == [Verdict.PROVED, Verdict.VERIFIED]
    numeric = results[1]
    assert numeric.evidence["points"] > 0 and numeric.margin >= -numeric.evidence["worst"]["tolerance"]
    assert numeric.tolerance["justification"]


@pytest.mark.parametrize("wrong", [
    reverse_relation(G5_SIGN.expression),                                   # inequality reversed
    relation(-G5_ASCENT, ">=", 0),                                      # sign flipped
    relation(G5_ASCENT - z[a] ** 3 * A[a], ">=", 0),                    # a term added
])
def test_g5_sign_wrong_versions_are_refuted(wrong):
    claim = G5_SIGN.mutated(wrong)
    assert claim.prove() is None
    assert verdicts(claim) == [Verdict.REFUTED]


def test_g6_sufficient_condition_proved_and_verified():
    assert verdicts(G6_SUFFICIENT_DECREASE) == [Verdict.PROVED, Verdict.VERIFIED]


@pytest.mark.parametrize("integrand", [
    z[j] * A[j] * (G6_OTHERS - z[a] ** 2 * A[a] * (1 - A[a])),            # a term dropped
    -G6_ASCENT,                                                          # sign flipped
    z[j] * A[j] * (G6_OTHERS - G6_OWN.subs(z[a], z[a] ** 2)),              # z_a -> z_a^2 inside the bracket
])
def test_g6_wrong_integrands_are_refuted(integrand):
    claim = G6_SUFFICIENT_DECREASE.mutated(relation(integrand, "<=", 0))
    assert verdicts(claim) == [Verdict.REFUTED]


def test_g7_bound_verified():
    assert verdicts(G7_BOUND) == [Verdict.VERIFIED]


G7_WRONG = {
    "wrong constant": relation(sp.Abs(G7_ASCENT - G7_MAIN), "<=", G7_ERROR_BOUND / 2),
    "z -> z^2": relation(sp.Abs(G7_ASCENT - G7_MAIN.subs(z[1], z[1] ** 2)), "<=", G7_ERROR_BOUND),
    "sign flip": relation(sp.Abs(G7_ASCENT + G7_MAIN), "<=", G7_ERROR_BOUND),
    "reversed": reverse_relation(G7_BOUND.expression),
}


@pytest.mark.parametrize("name", ["wrong constant", pytest.param("z -> z^2", marks=pytest.mark.slow),
                                  pytest.param("sign flip", marks=pytest.mark.slow), "reversed"])
def test_g7_bound_wrong_versions_refuted(name):
    assert verdicts(G7_BOUND.mutated(G7_WRONG[name])) == [Verdict.REFUTED]


def test_g7_bound_is_tight_up_to_a_factor_two_by_hand():
    # N = 2, local query (a = 2), so sum_{i != a,1} is empty: |I - main| = z_1 A_1 z_2^2 A_2 (1 - A_2)
    # and the bound is z_1 A_1 max(z_1^2, z_2^2) A_2: ratio (1 - A_2) when z_2 >= z_1
    z1, z2, A1, A2 = 0.5, 1.5, 0.6, 0.1
    inst, view = fixture_view()
    view.z[0, :2] = torch.tensor([z1, z2], dtype=torch.float64)
    view.A[0, :2] = torch.tensor([A1, A2], dtype=torch.float64)
    view.a[0], view.n[0] = 1, 2
    lhs, _ = evaluate(sp.Abs(G7_ASCENT - G7_MAIN), view)
    rhs, _ = evaluate(G7_ERROR_BOUND, view)
    assert lhs[0, 0, 0].item() == pytest.approx(z1 * A1 * z2**2 * A2 * (1 - A2), rel=1e-14)
    assert rhs[0, 0, 0].item() == pytest.approx(z1 * A1 * z2**2 * A2, rel=1e-14)


def test_g7_rate_in_expectation_against_autograd():
    assert verdicts(G7_RATE) == [Verdict.VERIFIED]
    wrong = relation(sp.Abs(G7_RATE.lhs.args[0].subs(Expect(G7_MAIN), Expect(-G7_MAIN))), "<=", G7_RATE.rhs)
    assert verdicts(G7_RATE.mutated(wrong)) == [Verdict.REFUTED]


@pytest.mark.slow
def test_g7_rate_wrong_constant_refuted():
    quarter = relation(G7_RATE.lhs, "<=", Expect(G7_ERROR_BOUND / 4))
    assert verdicts(G7_RATE.mutated(quarter)) == [Verdict.REFUTED]


def test_expected_inequality_values_match_a_direct_sum():
    # E[1_k 1_M z_1^2] over the fixture's exact batch, by hand: pi_k gamma E[z^2] = pi_k * 0.4 * 1.25, pi = (0.3, 0.7)
    claim = ExpectedInequality("E[z_1^2] <= pi_k gamma E[z^2]", Expect(z[1] ** 2), "<=", 0)
    inst = fixture_6()
    out = claim.evaluate_case(Case(inst, torch.zeros(6, 5, dtype=torch.float64), torch.zeros(6, 6, dtype=torch.float64)))
    assert not out.holds
    assert out.margin == pytest.approx(-0.7 * 0.4 * 1.25, rel=1e-12)   # the larger cluster weight is the worst entry


def test_same_seed_same_result_and_counterexample_replays(tmp_path):
    wrong = G5_SIGN.mutated(reverse_relation(G5_SIGN.expression))
    ctx = CheckContext(budget=CTX.budget, seed=5, cache_dir=tmp_path)
    r1 = wrong.check(lemma_with(wrong), ctx)[0].to_dict()
    r2 = wrong.check(lemma_with(wrong), ctx)[0].to_dict()
    r1.pop("timing_s"), r2.pop("timing_s")
    assert r1 == r2
    cx = r1["counterexample"]
    saved = json.loads(open(cx["file"]).read())
    assert saved["case"] == cx["case"]
    out = replay(cx["file"], wrong)
    assert not out.holds and out.margin == pytest.approx(r1["margin"])
    # the counterexample event, independently: z_a A_a r2 > 0, so "<= 0" fails
    w = cx["worst"]
    assert w["z"][w["target_area"] - 1] > 0 and w["A"][w["target_area"] - 1] > 0


def test_replay_from_a_lemma_file(tmp_path):
    path = tmp_path / "lem_wrong.py"
    path.write_text(
        "import sympy as sp\n"
        "from proofcheck.lang.assumptions import by_name\n"
        "from proofcheck.checks.inequality import PointwiseInequality\n"
        "from proofcheck.lang.lemma import Lemma, Provenance\n"
        "from proofcheck.lang.symbols import A, a, z\n"
        "LEMMA = Lemma('LEM-W1', 'wrong', Provenance('test', 'D'), sp.Integer(0),\n"
        "              [PointwiseInequality('[D] wrong: z_a A_a <= 0', z[a] * A[a], '<=', 0)],\n"
        "              by_name('z_positive'))\n")
    lemma = load_lemma_file(path)
    result = run_lemma(lemma, CheckContext(budget=CTX.budget, seed=1, cache_dir=tmp_path))
    assert result.verdict is Verdict.REFUTED
    cx = result.checks[0].counterexample
    assert cx["claim_path"] == [0] and "replay" in cx["replay"]
    assert not replay(cx["file"]).holds


def test_unknown_vocabulary_is_a_usage_error():
    claim = PointwiseInequality("[D] bad", sp.Symbol("w"), ">=", 0)
    inst, view = fixture_view()
    with pytest.raises(Exception, match="unknown symbol"):
        claim.evaluate_view(view, inst.P)

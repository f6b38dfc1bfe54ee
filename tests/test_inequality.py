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
from proofcheck.checks.inequality import ExpectedInequality, PointwiseInequality, prove_nonnegative, z_positive
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
from proofcheck.lang.symbols import A, R_p, a, delta, j, r2_p, z
from proofcheck.verdict import Verdict

CTX = CheckContext(budget=Budget("test", examples=8, trained_cases=1, shrink_trained=False, seeds=1), seed=3)
ASSUME = by_name("z_positive", "gamma_interior")


def lemma_with(*claims):
    return Lemma("LEM-T1", "test lemma", Provenance("SPEC §8 test", "D"), sp.Integer(0), list(claims), ASSUME)


def verdicts(claim, ctx=CTX):
    return [r.verdict for r in claim.check(lemma_with(claim), ctx)]


def leg_name(result) -> str:
    """symbolic | decision | direct sampling | model (the search over model instances)."""
    for name in ("symbolic", "decision", "direct sampling"):
        if result.name.endswith(f"[{name}]"):
            return name
    return "model"


def legs(results) -> dict:
    return {leg_name(r): r.verdict for r in results}


def leg(results, name):
    return next(r for r in results if leg_name(r) == name)


def refuted_by_every_leg(claim) -> bool:
    got = legs(claim.check(lemma_with(claim), CTX))
    return set(got) == {"decision", "direct sampling", "model"} and set(got.values()) == {Verdict.REFUTED}


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
    assert prove_nonnegative(z[a] * A[a] * (1 - A[a]), z_positive=True)
    assert prove_nonnegative(G5_ASCENT, z_positive=True)
    assert prove_nonnegative(z[a] ** 2 * A[a])                         # true for every real z
    assert not prove_nonnegative(z[a] - A[a], z_positive=True)
    assert not prove_nonnegative(-G5_ASCENT, z_positive=True)
    assert not prove_nonnegative(A[a] - 1)


def test_z_positive_is_used_only_where_the_lemma_assumes_it():
    # the vocabulary's z is real (issue 10 item 9): z_a A_a >= 0 needs z > 0, and is false without it
    assert z[a].is_real and z[a].is_positive is None
    assert not prove_nonnegative(z[a] * A[a] * (1 - A[a]))
    assert not prove_nonnegative(G5_ASCENT)
    claim = PointwiseInequality("[D] G5 sign without z > 0", G5_ASCENT, ">=", 0)
    free = Lemma("LEM-T2", "no z > 0", Provenance("SPEC §8 test", "D"), sp.Integer(0), [claim],
                 by_name("gamma_interior"))
    assert not z_positive(claim, free) and claim.prove(False) is None
    assert z_positive(G5_SIGN, lemma_with(G5_SIGN)) and G5_SIGN.prove(True) is not None


def test_reverse_flips_the_relation_unlike_sympy_reversed():
    rel = relation(z[a], ">=", 0)
    rev = reverse_relation(rel)
    assert isinstance(rev, sp.LessThan) and rev.lhs == z[a] and rev.rhs == 0
    assert G5_SIGN.mutated(reverse_relation(G5_SIGN.expression)).op == "<="
    assert G5_SIGN.expression != sp.true   # kept unevaluated


def test_g5_sign_is_proved_and_verified():
    results = G5_SIGN.check(lemma_with(G5_SIGN), CTX)
    assert legs(results) == {"symbolic": Verdict.PROVED, "decision": Verdict.PROVED,
                             "direct sampling": Verdict.VERIFIED, "model": Verdict.VERIFIED}
    scope = leg(results, "decision").evidence["scope"]
    assert scope["areas"] >= 3 and scope["key_sets"] == ["A", "B"] and scope["z"] == "positive"
    assert scope["masks"] == scope["area_sizes"] == "all"
    numeric = leg(results, "model")
    assert numeric.evidence["points"] > 0 and numeric.margin >= -numeric.evidence["worst"]["tolerance"]
    assert numeric.tolerance["justification"]


@pytest.mark.parametrize("wrong", [
    reverse_relation(G5_SIGN.expression),                                   # inequality reversed
    relation(-G5_ASCENT, ">=", 0),                                      # sign flipped
    relation(G5_ASCENT - z[a] ** 3 * A[a], ">=", 0),                    # a term added
])
def test_g5_sign_wrong_versions_are_refuted(wrong):
    claim = G5_SIGN.mutated(wrong)
    assert claim.prove(True) is None
    assert refuted_by_every_leg(claim)


def test_g6_sufficient_condition_proved_and_verified():
    got = legs(G6_SUFFICIENT_DECREASE.check(lemma_with(G6_SUFFICIENT_DECREASE), CTX))
    assert got["decision"] is Verdict.PROVED and got["direct sampling"] is Verdict.VERIFIED
    assert got["model"] is Verdict.VERIFIED


@pytest.mark.parametrize("integrand", [
    z[j] * A[j] * (G6_OTHERS - z[a] ** 2 * A[a] * (1 - A[a])),            # a term dropped
    -G6_ASCENT,                                                          # sign flipped
    z[j] * A[j] * (G6_OTHERS - G6_OWN.subs(z[a], z[a] ** 2)),              # z_a -> z_a^2 inside the bracket
])
def test_g6_wrong_integrands_are_refuted(integrand):
    claim = G6_SUFFICIENT_DECREASE.mutated(relation(integrand, "<=", 0))
    got = legs(claim.check(lemma_with(claim), CTX))
    assert got["decision"] is Verdict.REFUTED and Verdict.PROVED not in got.values()


def test_g7_bound_verified():
    got = legs(G7_BOUND.check(lemma_with(G7_BOUND), CTX))
    assert got == {"decision": Verdict.PROVED, "direct sampling": Verdict.VERIFIED, "model": Verdict.VERIFIED}


G7_WRONG = {
    "wrong constant": relation(sp.Abs(G7_ASCENT - G7_MAIN), "<=", G7_ERROR_BOUND / 2),
    "z -> z^2": relation(sp.Abs(G7_ASCENT - G7_MAIN.subs(z[1], z[1] ** 2)), "<=", G7_ERROR_BOUND),
    "sign flip": relation(sp.Abs(G7_ASCENT + G7_MAIN), "<=", G7_ERROR_BOUND),
    "reversed": reverse_relation(G7_BOUND.expression),
}


@pytest.mark.parametrize("name", ["wrong constant", pytest.param("z -> z^2", marks=pytest.mark.slow),
                                  pytest.param("sign flip", marks=pytest.mark.slow), "reversed"])
def test_g7_bound_wrong_versions_refuted(name):
    claim = G7_BOUND.mutated(G7_WRONG[name])
    assert legs(claim.check(lemma_with(claim), CTX))["decision"] is Verdict.REFUTED


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


def test_expected_inequality_is_proved_only_where_each_expectation_has_its_integrands_sign():
    # 0 <= E[bound] is true under z > 0 (the bound's integrand is z_1 A_1 max z^2 sum A_i): a certificate
    nonneg = G7_RATE.mutated(relation(sp.Integer(0), "<=", G7_RATE.rhs))
    results = nonneg.check(lemma_with(nonneg), CTX)
    assert [(leg_name(r), r.verdict) for r in results] == [("symbolic", Verdict.PROVED), ("model", Verdict.VERIFIED)]
    assert results[0].evidence["scope"]["z"] == "positive"
    # without z > 0 the integrand has no sign, so nothing is proved
    real_z = Lemma("LEM-T2", "test lemma", Provenance("SPEC §8 test", "D"), sp.Integer(0), [nonneg],
                   by_name("gamma_interior"))
    assert all(leg_name(r) != "symbolic" for r in nonneg.check(real_z, CTX))
    # a false direction is neither proved nor missed; nor is a statement through the autograd gradient proved
    assert verdicts(G7_RATE.mutated(relation(G7_RATE.rhs, "<=", sp.Integer(0)))) == [Verdict.REFUTED]
    assert [leg_name(r) for r in G7_RATE.check(lemma_with(G7_RATE), CTX)] == ["model"]


def test_every_search_starts_near_a_vertex_of_the_simplex_too():
    # E[A_1] <= 4/5 E[1] holds at random Q of the explicit instances (mean mass <= 0.55) and at Q = 0, and
    # fails where attention is concentrated on area 1 (fixture-6: 0.88): one explicit case must find it
    # with a single Hypothesis draw, whatever the seed
    one = Budget("test", examples=1, trained_cases=1, shrink_trained=False, seeds=1)
    claim = ExpectedInequality("E[A_1] <= 4/5", Expect(A[1]), "<=", Expect(sp.Rational(4, 5)))
    for seed in range(3):
        result = claim.check(lemma_with(claim), CheckContext(budget=one, seed=seed))[0]
        assert result.verdict is Verdict.REFUTED, (seed, result.summary)


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
    r1 = leg(wrong.check(lemma_with(wrong), ctx), "model").to_dict()
    r2 = leg(wrong.check(lemma_with(wrong), ctx), "model").to_dict()
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


# -- the decision leg and the direct-sampling leg (issue 10 items 4-6, 8) ------------------------------------------

from fractions import Fraction  # noqa: E402

from proofcheck.engine import decide_leg  # noqa: E402
from proofcheck.engine.decide_sample import DomainPoint, domain_points, stack  # noqa: E402
from proofcheck.lang.symbols import A0, A_loc_max, N, i, z2_max  # noqa: E402
from proofcheck.setting.coords import q_from_coords  # noqa: E402
from proofcheck.setting.model import attention  # noqa: E402
from lemmas.lem_g7_decoupling_rate import DECREASE as G7_DECREASE, LEMMA as G7_LEMMA  # noqa: E402

def free_z(claim):
    """A lemma that does not assume z > 0."""
    return Lemma("LEM-T3", "z free", Provenance("SPEC §8 test", "D"), sp.Integer(0), [claim], by_name("gamma_interior"))


def test_false_inequality_is_refuted_exactly_and_realized_in_the_model():
    # LEM-G5's sign without z > 0 is false: z_a < 0 makes z_a A_a ||r_p||^2 negative
    claim = PointwiseInequality("[D] G5 sign, z free", G5_ASCENT, ">=", 0)
    result = decide_leg.decision_check(claim, free_z(claim), CTX, z_positive=False)
    assert result.verdict is Verdict.REFUTED
    ce = result.evidence["counterexample"]
    zs, As, A0_ = [Fraction(x) for x in ce["z"]], [Fraction(x) for x in ce["A"]], Fraction(ce["A0"])
    t = ce["indices"]["a"] - 1
    # SPEC DEF-CORR by hand, exactly: z_a A_a (z_a^2 (1 - A_a)^2 + sum_{i != a} z_i^2 A_i^2) < 0
    r2 = zs[t] ** 2 * (1 - As[t]) ** 2 + sum(zs[k] ** 2 * As[k] ** 2 for k in range(len(zs)) if k != t)
    assert zs[t] * As[t] * r2 < 0 and sum(As) + A0_ == 1 and min(As) >= 0
    # the realized instance, mask and Q: the torch model's attention gives these masses at that query
    cx = result.counterexample
    case = Case.from_dict(cx["case"])
    realized = result.evidence["realized"]
    batch = exact_batch(case.instance)
    row = int((batch.mask == torch.tensor(realized["mask"], dtype=torch.bool)).all(1).nonzero()[0, 0])
    attn = attention(q_from_coords(case.Phi, case.Ups, case.instance), case.instance, batch)[row, realized["query"]]
    area_of = case.instance.area_of[0]
    unmasked = ~batch.mask[row]
    for k, want in enumerate(As):
        got = float(attn[(area_of == k) & unmasked].sum())
        assert got == pytest.approx(float(want), abs=1e-12)   # float64 softmax of log-masses: ~1e-16 relative
    assert realized["torch_confirms"] and not replay(cx, claim).holds


def test_decision_timeout_and_spent_budget_are_inconclusive_never_proved(monkeypatch):
    monkeypatch.setitem(decide_leg.PLANS, "spent", decide_leg.DecisionPlan(3, 2_000, 0.0))
    monkeypatch.setitem(decide_leg.PLANS, "tiny", decide_leg.DecisionPlan(5, 1, 60.0))
    spent = CheckContext(budget=Budget("spent", examples=2, trained_cases=1, shrink_trained=False, seeds=1))
    r = decide_leg.decision_check(G5_SIGN, lemma_with(G5_SIGN), spent, z_positive=True)
    assert r.verdict is Verdict.INCONCLUSIVE and r.affects_verdict and "spent" in r.summary
    tiny = CheckContext(budget=Budget("tiny", examples=2, trained_cases=1, shrink_trained=False, seeds=1))
    r = decide_leg.decision_check(G7_BOUND, lemma_with(G7_BOUND), tiny, z_positive=True)
    statuses = [d["status"] for ds in r.evidence["decisions"].values() for d in ds]
    assert "INCONCLUSIVE" in statuses and "REFUTED" not in statuses      # a 1 ms timeout decides nothing hard
    if r.verdict is Verdict.PROVED:   # only the N before the first timeout count
        assert r.evidence["scope"]["areas"] < 5
    else:
        assert r.verdict is Verdict.INCONCLUSIVE


def test_decisions_are_cached_on_disk(tmp_path):
    ctx = CheckContext(budget=CTX.budget, seed=0, cache_dir=tmp_path)
    first = decide_leg.decision_check(G5_SIGN, lemma_with(G5_SIGN), ctx, z_positive=True)
    stored = list((tmp_path / "decisions").glob("*.json"))
    assert stored and first.verdict is Verdict.PROVED
    again = decide_leg.decision_check(G5_SIGN, lemma_with(G5_SIGN), ctx, z_positive=True)
    assert again.to_dict() == first.to_dict()


#: LEM-G7 decrease variants that hold near A_1 = 1 but fail at A = (0.55, 0, 0.45), a = 2, z = 1
#: (the old small_local_masses assumption kept the search near A_1 = 1, so they survived)
S7 = sp.Sum((1 - delta(i, a)) * (1 - delta(i, 1)) * z[i] ** 2 * A[i] ** 2, (i, 1, N))
X7 = z[a] ** 2 * A[a] * (1 - A[a])
G7_DECREASE_WRONG = {
    "own term dropped": z[1] * A[1] * (S7 - X7),
    "own term squared": z[1] * A[1] * (S7 - X7 - z[1] ** 2 * A[1] * (1 - A[1]) ** 2),
    "others doubled": z[1] * A[1] * (2 * S7 - X7 - z[1] ** 2 * A[1] * (1 - A[1])),
}


@pytest.mark.parametrize("name", sorted(G7_DECREASE_WRONG))
def test_g7_decrease_variants_failing_away_from_a1_near_1_are_refuted(name):
    wrong = G7_DECREASE_WRONG[name]
    # by hand at A = (0.55, 0, 0.45), a = 2, z = (1, 1, 1): S = 0.45^2, X_a = 0, the condition holds
    A1, A3 = 0.55, 0.45
    S, own = A3 ** 2, A1 * (1 - A1)
    by_hand = {"own term dropped": A1 * S, "own term squared": A1 * (S - A1 * (1 - A1) ** 2),
               "others doubled": A1 * (2 * S - own)}[name]
    assert by_hand > 0 and A3 <= A1                       # fails "<= 0" there, under the condition
    claim = G7_DECREASE.mutated(relation(wrong, "<=", 0))
    assert "small_local_masses" not in [x.name for x in claim.assumptions_for(G7_LEMMA)]
    results = claim.check(G7_LEMMA, CTX)
    assert legs(results)["decision"] is Verdict.REFUTED
    assert leg(results, "decision").evidence["realized"]["torch_confirms"]


def test_g7_decrease_is_not_narrowed_by_an_assumption():
    names = [x.name for x in G7_DECREASE.assumptions_for(G7_LEMMA)]
    assert "small_local_masses" not in names and "z_positive" in names


def test_lem_g7_spec_is_a_known_finding_and_the_corrected_form_holds(tmp_path):
    spec = load_lemma_file("lemmas/lem_g7_spec_rate.py")
    corrected = load_lemma_file("lemmas/lem_g7_corrected_rate.py")
    ctx = CheckContext(budget=CTX.budget, seed=0, cache_dir=tmp_path)
    r = run_lemma(spec, ctx)
    assert r.verdict is Verdict.REFUTED and spec.expect == "REFUTED" and spec.provenance.tag == "R"
    dec = [c for c in r.checks if c.name.endswith("[decision]") and c.verdict is Verdict.REFUTED]
    assert dec
    # SPEC's ">=" fails already at N = 2 in key set A, where the ratio is 1 + z_a^2 / z_1^2 exactly
    ce = next(c for c in dec if ">=" in c.name or "G6 integrand(j=1) >=" in c.summary).evidence["counterexample"]
    zs, As = [Fraction(x) for x in ce["z"]], [Fraction(x) for x in ce["A"]]
    if ce["n"] == 2 and ce["key_set"] == "A":
        integrand = -zs[0] * As[0] ** 2 * As[1] * (zs[0] ** 2 + zs[1] ** 2)
        spec_form = -zs[0] ** 3 * As[0] ** 2 * (1 - As[0])
        assert integrand / spec_form == 1 + zs[1] ** 2 / zs[0] ** 2
    rc = run_lemma(corrected, ctx)
    assert rc.verdict in (Verdict.PROVED, Verdict.VERIFIED)
    assert all(c.verdict is Verdict.PROVED for c in rc.checks if c.name.endswith("[decision]"))


def test_direct_sampling_refutes_a_claim_false_only_at_a_vertex():
    # A_0 <= 0.999 fails only near the vertex A_0 = 1 of key set B: all mass on masked keys
    claim = PointwiseInequality("[D] test: A_0 <= 0.999", A0, "<=", sp.Rational(999, 1000))
    r = decide_leg.sampling_check(claim, free_z(claim), CTX, z_positive=False)
    assert r.verdict is Verdict.REFUTED
    point = r.evidence["point"]
    assert point["key_set"] == "B" and point["A0"] > 0.999
    assert not replay(r.counterexample, claim).holds


def test_direct_sampling_covers_vertices_faces_and_the_simplex():
    from hypothesis import given, settings
    seen = set()

    @settings(max_examples=300, database=None, deadline=None)
    @given(domain_points(z_positive=True, conditional=True))
    def run(p: DomainPoint):
        seen.add(p.kind)
        assert abs(p.A0 + sum(p.A) - 1) < 1e-12 and min(p.A) >= 0 and p.A0 >= 0
        assert p.key_set == "B" or p.A0 == 0
        assert all(z_ > 0 for z_ in p.z) and 1 <= p.a <= p.n <= 8

    run()
    assert seen == {"vertex", "face", "interior", "mixture", "boundary"}


def test_entries_where_both_sides_are_zero_give_no_target_signal():
    # at a vertex A_a = 1 the G5 integrand and its right side are both exactly 0
    p = DomainPoint(2, "A", 1, [1.0, 2.0], [1.0, 0.0], 0.0, "vertex")
    out = G5_SIGN.evaluate_view(stack([p]), 3)
    assert out.holds and out.relative == float("inf")
    q = DomainPoint(2, "A", 1, [1.0, 2.0], [0.5, 0.5], 0.0, "interior")
    assert 0 < G5_SIGN.evaluate_view(stack([q]), 3).relative < float("inf")


def test_decision_covers_the_bound_symbols():
    # z2_max and A_loc_max are decided with their meanings: max z_i^2 >= z_1^2 and A_loc_max >= A_2
    claim = PointwiseInequality("[D] test: z2_max >= z_1^2", z2_max - z[1] ** 2 + A_loc_max - A[2], ">=", 0)
    assert decide_leg.decision_check(claim, free_z(claim), CTX, z_positive=False).verdict is Verdict.PROVED

"""Structural claims (LEM-G2, G3, G9, G10, G11, G12): true statements VERIFIED, planted wrong ones REFUTED.

Reference values are computed here from SPEC's formulas (binomial sums, hand-computed limits)."""
import itertools
import math

import pytest
import sympy as sp
import torch

from proofcheck.lang.assumptions import by_name
from proofcheck.lang.cases import Case
from proofcheck.setting.coords import grad_coords
from proofcheck.setting.instance import Cluster, Instance, ZLaw, balanced
from proofcheck.context import Budget, CheckContext
from proofcheck.lang.lemma import Lemma, Provenance
from proofcheck.setting.sampling import exact_batch
from proofcheck.lang.formulas import G4_ASCENT, G5_ASCENT, G6_ASCENT
from proofcheck.checks.structural import GradientEquivariance, RowDecoupling, SpanClosure, SymmetryPreserved
from proofcheck.checks.expectation import FPOnlyAblation, InitialDrift, LimitClaim, UnavoidableProbability
from proofcheck.lang.symbols import j, z
from proofcheck.verdict import Verdict

CTX = CheckContext(budget=Budget("test", examples=4, trained_cases=1, shrink_trained=False, seeds=1), seed=1)
F64 = torch.float64


def verdict(claim, *names):
    lemma = Lemma("LEM-T9", "structural test", Provenance("SPEC §8 test", "D"), sp.Integer(0), [claim],
                  by_name(*names))
    (result,) = claim.check(lemma, CTX)
    return result


def zero_case(inst):
    return Case(inst, torch.zeros(inst.P, inst.F, dtype=F64), torch.zeros(inst.P, inst.P, dtype=F64))


def g4_drift_at_zero(inst, k, p, j_):
    """SPEC LEM-G10: -dL/dPhi_{p->v_{k,j}} at Q = 0 = pi_k gamma E[z_j A_j (z_j^2 (delta_ja - A_j) + R_p)],
    A_i = u_i / D, u_a ~ Bin(C_a - 1, 1 - gamma), u_i ~ Bin(C_i, 1 - gamma), D = P (variant B) or |U| (A)."""
    c, g = inst.clusters[k], inst.gamma
    a_ = next(n for n, area in enumerate(c.areas) if p in area)
    sizes = [len(area) - (n == a_) for n, area in enumerate(c.areas)]
    total = 0.0
    for zs in itertools.product(*[list(zip(l.values, l.probs)) for l in c.z]):
        zv = [v for v, _ in zs]
        pz = math.prod(q for _, q in zs)
        for u in itertools.product(*[range(s + 1) for s in sizes]):
            pu = math.prod(math.comb(s, x) * (1 - g) ** x * g ** (s - x) for s, x in zip(sizes, u))
            D = inst.P if inst.key_set == "B" else sum(u)
            if D == 0:
                continue
            A_ = [x / D for x in u]
            R = sum(zv[i] ** 2 * A_[i] ** 2 for i in range(len(u))) - zv[a_] ** 2 * A_[a_]
            total += pz * pu * zv[j_] * A_[j_] * (zv[j_] ** 2 * ((j_ == a_) - A_[j_]) + R)
    return c.weight * g * total


@pytest.mark.parametrize("key_set", ["B", "A"])
def test_g10_binomial_formula_matches_autograd_computed_here(key_set):
    inst = Instance(P=4, clusters=(Cluster(0.4, ((0, 1, 2), (3,)), (ZLaw(values=(0.5, 1.5)), ZLaw(values=(1.0,)))),
                                   Cluster(0.6, ((0, 2), (1, 3)), (ZLaw(values=(1.0, 2.0)),) * 2)),
                    gamma=0.3, key_set=key_set)
    _, gPhi, _ = grad_coords(torch.zeros(4, 4, dtype=F64), torch.zeros(4, 4, dtype=F64), inst, exact_batch(inst))
    for k in range(2):
        for p in range(4):
            for j_ in range(inst.N[k]):
                want = g4_drift_at_zero(inst, k, p, j_)
                assert -gPhi[p, inst.feature_index(k, j_)].item() == pytest.approx(want, rel=1e-11, abs=1e-14)
    assert InitialDrift(G4_ASCENT).evaluate_case(zero_case(inst)).holds


def test_g10_claim_verified_and_planted_errors_refuted():
    assert verdict(InitialDrift(G4_ASCENT), "gamma_interior").verdict is Verdict.VERIFIED
    assert verdict(InitialDrift(G4_ASCENT, exclude_query=False), "gamma_interior").verdict is Verdict.REFUTED
    z_squared = InitialDrift(G4_ASCENT).mutated(G4_ASCENT.subs(z[j], z[j] ** 2))
    assert verdict(z_squared, "gamma_interior").verdict is Verdict.REFUTED
    flipped = InitialDrift(G4_ASCENT).mutated(-G4_ASCENT)
    assert verdict(flipped, "gamma_interior").verdict is Verdict.REFUTED


def test_g12_recursion_first_step_is_the_g10_drift_and_matches_gd():
    inst = balanced(P=4, K=2, N=2, gamma=0.4, z=ZLaw(values=(0.5, 1.5)))
    claim = FPOnlyAblation(G6_ASCENT, G5_ASCENT, steps=3, eta=2.0)
    for k in range(2):
        phi, psi, _ = claim.recursion(inst, k)
        a_ = int(inst.area_of[k, 0])
        assert phi[1] == pytest.approx(2.0 * g4_drift_at_zero(inst, k, 0, a_), rel=1e-12)
        assert psi[1] == pytest.approx(2.0 * g4_drift_at_zero(inst, k, 0, 1 - a_), rel=1e-12)
    assert claim.evaluate_case(zero_case(inst)).holds
    assert not claim.mutated(-G6_ASCENT).evaluate_case(zero_case(inst)).holds


def test_g12_claim_verified_and_wrong_driver_refuted():
    assert verdict(FPOnlyAblation(G6_ASCENT, G5_ASCENT, steps=4), "balanced", "zero_init").verdict is Verdict.VERIFIED
    wrong = FPOnlyAblation(G6_ASCENT, G5_ASCENT, steps=4).mutated(G6_ASCENT.subs(z[j], z[j] ** 2))
    assert verdict(wrong, "balanced", "zero_init").verdict is Verdict.REFUTED


def two_position_instance(key_set="B"):
    return Instance(P=2, clusters=(Cluster(1.0, ((0, 1),), (ZLaw(values=(1.0,)),)),), gamma=0.5, key_set=key_set)


def test_g11_limit_and_probability_by_hand():
    # P = 2, one area, z = 1, gamma = 1/2: both masked (prob 1/4) is the only unavoidable event; then
    # every key is masked, F_p = 0 and each of the two queries loses 1/2 z^2: L_inf = 1/4 * 2 * 1/2
    out = LimitClaim().evaluate_case(zero_case(two_position_instance()))
    assert out.holds and out.worst["L_inf"] == pytest.approx(0.25, rel=1e-14)
    assert out.worst["L(s_max)"] == pytest.approx(0.25, abs=1e-12) and out.worst["L(0)"] > 0.25
    prob = UnavoidableProbability().evaluate_case(zero_case(two_position_instance()))
    assert prob.holds and prob.worst["probability"] == pytest.approx(0.5 ** (2 - 1), rel=1e-14)
    assert not UnavoidableProbability(exponent_offset=0).evaluate_case(zero_case(two_position_instance())).holds


def test_g11_claims_verified_and_planted_errors_refuted():
    names = ("z_positive", "gamma_interior")
    assert verdict(LimitClaim(), *names).verdict is Verdict.VERIFIED
    assert verdict(LimitClaim(limit="zero"), *names).verdict is Verdict.REFUTED
    assert verdict(LimitClaim(direction=-1), *names).verdict is Verdict.REFUTED
    assert verdict(UnavoidableProbability(), *names).verdict is Verdict.VERIFIED
    assert verdict(UnavoidableProbability(exponent_offset=0), *names).verdict is Verdict.REFUTED


def test_g2_span_closure_and_fp_block_only_is_refuted():
    assert verdict(SpanClosure(), "orthonormal", "span_point").verdict is Verdict.VERIFIED
    wrong = verdict(SpanClosure(blocks=("fp",)), "orthonormal", "span_point")
    assert wrong.verdict is Verdict.REFUTED and wrong.counterexample["worst"]["off_span_fraction"] > 1e-3


def test_g3_rows_decouple_but_columns_do_not():
    assert verdict(RowDecoupling(), "orthonormal", "span_point").verdict is Verdict.VERIFIED
    assert verdict(RowDecoupling(axis="column"), "orthonormal", "span_point").verdict is Verdict.REFUTED


def test_g9_equivariance_and_symmetry_along_gd():
    assert verdict(GradientEquivariance(), "symmetric_instance").verdict is Verdict.VERIFIED
    assert verdict(GradientEquivariance(act_on_keys=False), "symmetric_instance").verdict is Verdict.REFUTED
    assert verdict(SymmetryPreserved(), "symmetric_instance").verdict is Verdict.VERIFIED


def test_g9_spec_literal_wording_fails_on_unequal_areas():
    # K = 1, areas {0}, {1}, {2, 3}: keys 1 and 2 are both outside p = 0's area, yet after one GD step
    # from Q = 0 Ups_{0->1} != Ups_{0->2} because their areas differ in size (SPEC LEM-G9 bullet 1)
    law = ZLaw(values=(1.0,))
    inst = Instance(P=4, clusters=(Cluster(1.0, ((0,), (1,), (2, 3)), (law,) * 3),), gamma=0.5)
    _, _, gUps = grad_coords(torch.zeros(4, 3, dtype=F64), torch.zeros(4, 4, dtype=F64), inst, exact_batch(inst))
    assert abs(gUps[0, 1] - gUps[0, 2]) > 1e-3
    assert abs(gUps[0, 2] - gUps[0, 3]) < 1e-15          # same area: equal, as the automorphism argument says
    assert not SymmetryPreserved(pairs="area_relation").evaluate_case(zero_case(inst)).holds
    assert verdict(SymmetryPreserved(pairs="area_relation"), "symmetric_instance").verdict is Verdict.REFUTED
